"""Cancel orders now and orders at stake for switches that cover a whole account, against the simulator: OKX
(plain and algo orders; a tag's switch, only the orders with its tag) and Kraken Futures. Each press pulls
that account's orders only, is recorded like Binance's, and a rate limit answered to it pauses that account
alone and is never retried."""

import base64
import secrets
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.killswitch import stake
from heartbeats.domain import budget, ratelimits
from heartbeats.models import CountdownPolicy, Environment, ExchangeAccount, KeyType, OrdersAtStake, Outcome

pytestmark = pytest.mark.django_db(transaction=True)

OKX_BATCH = "/api/v5/trade/cancel-batch-orders"
OKX_ALGO_CANCEL = "/api/v5/trade/cancel-algos"
KRAKEN_CANCEL = "/derivatives/api/v3/cancelallorders"


def _account(label, venue, api_key, secret, url, passphrase=""):
    return ExchangeAccount.objects.create(
        label=label,
        venue=venue,
        environment=Environment.CUSTOM,
        custom_base_url=url,
        key_type=KeyType.HMAC,
        api_key=api_key,
        secret=secret,
        key_passphrase=passphrase,
    )


@pytest.fixture
def okx(simulator):
    """okx(label) -> an OKX account on the simulator."""
    simulator.exchange.okx.rates.scale = 0.001  # listings in quick succession

    def make(label):
        api_key, secret, passphrase = secrets.token_hex(16), secrets.token_hex(16), "Desk-pass-1"
        simulator.exchange.okx.add_account(api_key, secret, passphrase)
        return _account(label, "okx", api_key, secret, simulator.url, passphrase)

    return make


@pytest.fixture
def kraken(simulator):
    """kraken(label) -> a Kraken Futures account on the simulator."""

    def make(label):
        api_key, secret = secrets.token_hex(16), base64.b64encode(secrets.token_bytes(64)).decode()
        simulator.exchange.add_kraken_account(api_key, secret)
        return _account(label, "kraken_futures", api_key, secret, simulator.url)

    return make


def _switch(account, scope="", countdown_ms=60_000):
    """An armed account-wide switch (its facts written directly, as the engine would leave them)."""
    policy = CountdownPolicy.objects.create(
        account=account, symbol=scope, interval_s=10, countdown_ms=countdown_ms
    )
    CountdownPolicy.objects.filter(pk=policy.pk).update(
        armed=True,
        generation=1,
        last_arm_generation=1,
        last_arm_sent_at=timezone.now(),
        last_arm_countdown_ms=countdown_ms,
        last_outcome=Outcome.CONFIRMED,
    )
    return CountdownPolicy.objects.get(pk=policy.pk)


def _okx_book(simulator, account, tag=""):
    """Two plain orders and one algo order on the account (carrying `tag`, if given)."""
    book = simulator.exchange.okx
    book.place_order(account.api_key, "BTC-USDT-SWAP", px="1000", sz="2", tag=tag)
    book.place_order(account.api_key, "ETH-USDT-SWAP", side="sell", px="9000", tag=tag)
    book.place_algo_order(account.api_key, "BTC-USDT-SWAP", tag=tag)


def _kraken_book(simulator, account, n=2):
    for k in range(n):
        simulator.exchange.place_order(account.api_key, "PF_XBTUSD", price=str(50_000 + k), quantity="0.01")


def _kraken_orders(simulator, account):
    return [o for o in simulator.exchange.open_orders(account.api_key) if o["symbol"].startswith("PF_")]


def _rows(operation):
    return sorted((r.account_label, r.symbol, r.kind, r.state, r.found) for r in killswitch.wait(operation))


def _stake(policy):
    stake.refresh_round(only=[policy.pk])
    return OrdersAtStake.objects.get(pk=policy.pk)


def test_an_okx_account_switch_cancels_every_plain_and_algo_order_of_its_account_only(simulator, okx):
    mine, other = okx("okx desk"), okx("okx other")
    _okx_book(simulator, mine)
    _okx_book(simulator, mine, tag="mm1")  # the account's switch covers tagged orders too
    _okx_book(simulator, other)
    switch = _switch(mine)
    before = _stake(switch)
    assert (before.orders, before.algo_orders, before.error) == (4, 2, "")

    started = time.monotonic()
    operation = killswitch.cancel_orders([switch.pk], username="olga", reason="desk halted")
    rows = _rows(operation)
    took = time.monotonic() - started

    assert rows == [("okx desk", "", "algo", "done", 2), ("okx desk", "", "orders", "done", 4)]
    assert simulator.exchange.okx.open_orders(mine.api_key) == []
    assert simulator.exchange.okx.open_algo_orders(mine.api_key) == []
    assert len(simulator.exchange.okx.open_orders(other.api_key)) == 2
    assert len(simulator.exchange.okx.open_algo_orders(other.api_key)) == 1
    assert killswitch.summary(killswitch.results(operation)) == (
        "Found 4 open orders and 2 conditional orders on 1 account; cancelled all of them."
    )
    after = _stake(switch)
    assert (after.orders, after.algo_orders, after.error) == (0, 0, "")
    print(f"OKX account switch: 4 plain + 2 algo orders cancelled in {took * 1000:.0f} ms")


def test_an_okx_accounts_algo_orders_are_listed_every_few_minutes_and_at_once_after_a_change(
    simulator, okx, monkeypatch
):
    account = okx("okx desk")
    _okx_book(simulator, account)
    switch = _switch(account)
    algo_path = "/api/v5/trade/orders-algo-pending"

    def listings():
        return len(simulator.exchange.requests_log(algo_path)), len(
            simulator.exchange.requests_log("/api/v5/trade/orders-pending")
        )

    def routine_round():
        # A minute after the last reading, with nothing changed: a routine reading.
        OrdersAtStake.objects.filter(pk=switch.pk).update(checked_at=timezone.now() - timedelta(seconds=61))
        stake._quiet.forget()
        stake.refresh_round()
        return OrdersAtStake.objects.get(pk=switch.pk)

    first = _stake(switch)
    algo_reads, plain_reads = listings()
    assert (first.orders, first.algo_orders) == (2, 1) and algo_reads >= 2
    # A new algo order and a new plain order: the next routine reading lists the plain orders only.
    simulator.exchange.okx.place_algo_order(account.api_key, "BTC-USDT-SWAP")
    simulator.exchange.okx.place_order(account.api_key, "BTC-USDT-SWAP", px="1000", sz="1")
    again = routine_round()
    assert listings() == (algo_reads, plain_reads + 1)
    assert (again.orders, again.algo_orders) == (3, 1)
    # Past ALGO_EVERY, the algo orders are listed again.
    monkeypatch.setattr(stake, "ALGO_EVERY", 0.0)
    later = routine_round()
    assert listings()[0] > algo_reads and (later.orders, later.algo_orders) == (3, 2)
    # A change people made (here a Cancel orders now's reading) lists them at once.
    monkeypatch.setattr(stake, "ALGO_EVERY", 300.0)
    algo_reads = listings()[0]
    simulator.exchange.okx.place_algo_order(account.api_key, "BTC-USDT-SWAP")
    assert _stake(switch).algo_orders == 3 and listings()[0] > algo_reads


def test_an_okx_tag_switch_cancels_and_counts_only_the_orders_with_its_tag(simulator, okx):
    account = okx("okx desk")
    _okx_book(simulator, account, tag="mm1")
    _okx_book(simulator, account, tag="mm2")
    _okx_book(simulator, account)
    tagged, whole = _switch(account, "mm1"), _switch(account)
    stake.refresh_round(only=[tagged.pk, whole.pk])
    counts = {r.policy_id: (r.orders, r.algo_orders) for r in OrdersAtStake.objects.all()}
    assert counts == {tagged.pk: (2, 1), whole.pk: (6, 3)}
    reads = simulator.exchange.requests_log("/api/v5/trade/orders-pending")
    assert len(reads) == 1  # the account read once for both switches

    rows = _rows(killswitch.cancel_orders([tagged.pk], reason="mm1 misbehaving"))

    assert rows == [("okx desk", "mm1", "algo", "done", 1), ("okx desk", "mm1", "orders", "done", 2)]
    left = simulator.exchange.okx.open_orders(account.api_key)
    left_algo = simulator.exchange.okx.open_algo_orders(account.api_key)
    assert sorted(o["tag"] for o in left) == ["", "", "mm2", "mm2"]
    assert sorted(o["tag"] for o in left_algo) == ["", "mm2"]
    assert (_stake(tagged).orders, _stake(whole).orders) == (0, 4)


def test_a_kraken_futures_switch_cancels_every_order_of_its_account_only(simulator, kraken):
    mine, other = kraken("kraken desk"), kraken("kraken other")
    _kraken_book(simulator, mine, 2)
    _kraken_book(simulator, other, 1)
    switch = _switch(mine)
    before = _stake(switch)
    assert (before.orders, before.algo_orders, before.error) == (2, None, "")
    assert before.buy_notional == pytest.approx(1000.01)  # 0.01 × 50,000 + 0.01 × 50,001

    rows = _rows(killswitch.cancel_orders([switch.pk], reason="desk halted"))

    assert rows == [("kraken desk", "", "orders", "done", 2)]
    assert _kraken_orders(simulator, mine) == []
    assert len(_kraken_orders(simulator, other)) == 1
    assert len(simulator.exchange.requests_log(KRAKEN_CANCEL)) == 1
    assert _stake(switch).orders == 0


def test_a_rate_limit_on_a_cancel_pauses_that_account_only_and_is_never_retried(simulator, okx, kraken):
    limited, spared, krak = okx("okx limited"), okx("okx spared"), kraken("kraken desk")
    for account in (limited, spared):
        _okx_book(simulator, account)
    _kraken_book(simulator, krak, 2)
    switches = [_switch(limited), _switch(spared), _switch(krak)]
    simulator.exchange.inject(OKX_BATCH, api_key=limited.api_key, kind="rate_limited", retry_after=30)

    operation = killswitch.cancel_orders([s.pk for s in switches], reason="halt")
    rows = {(r.account_label, r.kind): r for r in killswitch.wait(operation)}

    assert {k: r.state for k, r in rows.items()} == {
        ("okx limited", "orders"): "failed",
        ("okx limited", "algo"): "failed",
        ("okx spared", "orders"): "done",
        ("okx spared", "algo"): "done",
        ("kraken desk", "orders"): "done",
    }
    assert all(r.http_status == 429 for k, r in rows.items() if k[0] == "okx limited")
    assert "Too Many Requests" in rows[("okx limited", "orders")].error
    assert "not done" in killswitch.summary(killswitch.results(operation))

    def sent():
        cancels = simulator.exchange.requests_log(OKX_BATCH) + simulator.exchange.requests_log(
            OKX_ALGO_CANCEL
        )
        return [e for e in cancels if e.get("api_key_last4") == limited.api_key[-4:]]

    assert len(sent()) == 1  # the refused batch, sent once; nothing after it
    assert len(simulator.exchange.okx.open_orders(limited.api_key)) == 2
    assert simulator.exchange.okx.open_orders(spared.api_key) == []
    assert _kraken_orders(simulator, krak) == []
    # The pause is the account's own: the other accounts, and the address Binance counts, are not held.
    now = time.time()
    held = {a.label: ratelimits.read(a.egress, a.limit_address) for a in (limited, spared, krak)}
    assert held["okx limited"].paused_until > now + 20
    assert all(
        snap is None or snap.paused_until < now for label, snap in held.items() if label != "okx limited"
    )
    desk = ratelimits.read(limited.egress, simulator.url)
    assert desk is None or desk.paused_until < now

    # Pressed again at once: the paused account is told to wait, nothing is sent for it; the others go.
    def all_sent():
        return [
            e for e in simulator.exchange.requests_log() if e.get("api_key_last4") == limited.api_key[-4:]
        ]

    before = len(all_sent())
    _okx_book(simulator, spared)
    _kraken_book(simulator, krak, 1)
    again = {
        (r.account_label, r.kind): r
        for r in killswitch.wait(killswitch.cancel_orders([s.pk for s in switches], reason="halt again"))
    }
    assert again[("okx limited", "orders")].state == "skipped"
    assert "Rate limited" in again[("okx limited", "orders")].error
    assert again[("okx spared", "orders")].state == again[("kraken desk", "orders")].state == "done"
    assert len(sent()) == 1 and len(all_sent()) == before
    assert simulator.exchange.okx.open_orders(spared.api_key) == [] and _kraken_orders(simulator, krak) == []


def test_kraken_futures_rate_limit_is_reported_and_held_for_that_account(simulator, kraken):
    account = kraken("kraken desk")
    _kraken_book(simulator, account, 1)
    switch = _switch(account)
    simulator.exchange.inject(
        KRAKEN_CANCEL, status=200, body={"result": "error", "error": "apiLimitExceeded"}, count=1
    )

    [row] = killswitch.wait(killswitch.cancel_orders([switch.pk], reason="halt"))

    assert row.state == "failed" and "apiLimitExceeded" in row.error
    assert len(simulator.exchange.requests_log(KRAKEN_CANCEL)) == 1
    assert ratelimits.read(account.egress, account.limit_address).paused_until > time.time() - 1
    assert len(_kraken_orders(simulator, account)) == 1


def test_each_press_counts_against_the_accounts_own_limit(simulator, okx):
    account = okx("okx desk")
    switch = _switch(account)
    ratelimits.ensure_row(account.egress, account.limit_address)
    minute = ratelimits.exchange_minute(time.time())
    # OKX's 60 a minute, nearly spent: room for the clock but not for a press (9: listings and batches).
    ratelimits.record(account.egress, account.limit_address, minute=minute, used_weight=45, weight_limit=60)
    spare = budget.spare_weight(account.egress, account.limit_address, budget.Purpose.CANCEL)
    assert (spare.limit, spare.keep, spare.weight) == (60, 2, 13)
    assert killswitch.unit_weight(account, [None]) == 9
    ratelimits.record(account.egress, account.limit_address, minute=minute, used_weight=52)

    rows = killswitch.wait(killswitch.cancel_orders([switch.pk], reason="halt"))

    assert {r.state for r in rows} == {"skipped"}
    assert all("weight" in r.error and "Press again" in r.error for r in rows)
    assert not simulator.exchange.requests_log("/api/v5/trade/orders-pending")


def test_the_page_says_what_each_switch_pulls(simulator, okx, kraken, client, operator):
    okx_account, kraken_account = okx("okx desk"), kraken("kraken desk")
    whole, tagged = _switch(okx_account), _switch(okx_account, "mm1")
    _switch(kraken_account)
    client.force_login(operator)

    page = client.get(reverse("cancel_orders") + "?all=1").content.decode()
    assert "every open order of the account is cancelled" in page
    assert "every order tagged mm1" in page and "plain and algo orders" in page
    assert "cancelallorders" in page
    assert "2 accounts and 1 tag" in page

    one = client.get(reverse("cancel_orders") + f"?policy={whole.pk}").content.decode()
    assert "okx desk (every open order of the account, plain and algo orders)" in one
    assert "Cancel the orders of 1 account now" in one
    tag = client.get(reverse("cancel_orders") + f"?policy={tagged.pk}").content.decode()
    assert (
        "okx desk (every order tagged mm1)" in tag and "okx desk (every open order of the account" not in tag
    )
