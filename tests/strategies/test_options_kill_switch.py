"""Cancel orders now and orders at stake on Binance Options, against the simulator: a policy covers an
underlying, whose open orders go with one DELETE allOpenOrdersByUnderlying and are read with GET openOrders
of the underlying (weighed as the venue says); options have no conditional orders to read or cancel."""

import secrets

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.killswitch import stake
from heartbeats.domain import budget, ratelimits
from heartbeats.models import Environment, ExchangeAccount, KeyType, OrdersAtStake
from tests.engine.conftest import HMAC_SECRET
from tests.strategies.test_orders_at_stake import armed

pytestmark = pytest.mark.django_db(transaction=True)

BTC_CALL, BTC_PUT = "BTC-261225-100000-C", "BTC-261225-90000-P"
ETH_CALL = "ETH-261225-3000-C"


@pytest.fixture
def options_account(simulator):
    """An Options account on the simulator, its key holding the options permission."""
    api_key = secrets.token_hex(32)
    simulator.exchange.add_account(api_key, "hmac", HMAC_SECRET, options=True)
    return ExchangeAccount.objects.create(
        label="opts",
        venue="options",
        environment=Environment.CUSTOM,
        custom_base_url=simulator.url,
        key_type=KeyType.HMAC,
        api_key=api_key,
        secret=HMAC_SECRET,
    )


@pytest.fixture
def underlyings(options_account, make_policy, simulator):
    """Armed policies on BTCUSDT and ETHUSDT, with two BTC options orders and one ETH one resting (placed
    through the simulator's control API)."""
    btc = make_policy(options_account, "BTCUSDT", countdown_ms=30_000)
    eth = make_policy(options_account, "ETHUSDT", countdown_ms=30_000)
    armed(btc)
    armed(eth)
    for symbol, side, price in (
        (BTC_CALL, "BUY", "100"),
        (BTC_PUT, "SELL", "250.5"),
        (ETH_CALL, "BUY", "20"),
    ):
        _control(simulator, "POST", symbol=symbol, side=side, price=price, quantity="2")
    return btc, eth


def _control(simulator, method, **args) -> list | dict:
    """The simulator's /_sim/orders: places an order (POST) or lists the account's open ones (GET)."""
    account = ExchangeAccount.objects.get(label="opts")
    url = f"{simulator.url}/_sim/orders"
    if method == "POST":
        answer = requests.post(url, json={"api_key": account.api_key, **args}, timeout=5)
    else:
        answer = requests.get(url, params={"api_key": account.api_key, **args}, timeout=5)
    assert answer.ok, answer.text
    return answer.json()


def _resting(simulator) -> list[str]:
    return sorted(o["symbol"] for o in _control(simulator, "GET"))


def _eapi(simulator, path: str, since: int = 0) -> list[dict]:
    return simulator.exchange.requests_log(f"/eapi/v1/{path}", since)


def test_the_venue_says_what_a_press_and_a_reading_send(options_account):
    assert killswitch.kinds_for(options_account) == ["orders"]  # no algo kind: Options has no Algo Service
    assert killswitch.request_weight(options_account, "orders") == 5
    assert stake.weight_per_reading(options_account) == 40  # openOrders without a symbol
    assert stake.weight_of_whole_account(options_account) == 40
    assert stake.weight_of_reading(options_account, 2) == 40  # two underlyings: the whole account at once


def test_orders_at_stake_counts_option_orders_per_underlying(simulator, underlyings):
    btc, eth = underlyings

    assert stake.refresh_round(only=[btc.pk]) == 1

    reads = _eapi(simulator, "openOrders")
    assert [(r["symbol"], r["weight"]) for r in reads] == [("BTCUSDT", 40)]  # ?underlying=BTCUSDT
    row = OrdersAtStake.objects.get(pk=btc.pk)
    assert (row.error, row.orders, row.algo_orders) == ("", 2, None)
    assert (row.buy_notional, row.sell_notional) == (200.0, 501.0)  # options say quantity, not origQty
    assert not simulator.exchange.requests_log("/eapi/v1/openAlgoOrders")

    # Both due: one account-wide reading (40) rather than two of 40, sorted by underlying here.
    assert stake.refresh_round(only=[btc.pk, eth.pk]) == 2

    whole = _eapi(simulator, "openOrders", reads[-1]["id"])
    assert [(r["symbol"], r["weight"]) for r in whole] == [(None, 40)]
    counts = {r.policy.symbol: r.orders for r in OrdersAtStake.objects.select_related("policy")}
    assert counts == {"BTCUSDT": 2, "ETHUSDT": 1}
    btc.refresh_from_db()
    eth.refresh_from_db()
    assert stake.weight_per_minute([btc, eth]) == 40  # the budget page's line


def test_cancel_orders_now_pulls_only_its_underlyings_orders(simulator, underlyings):
    btc, eth = underlyings
    stake.refresh_round(only=[btc.pk])  # what the press finds
    since = simulator.exchange.requests_log()[-1]["id"]

    rows = killswitch.wait(killswitch.cancel_orders([btc.pk], reason="desk halted"))

    assert [(r.symbol, r.kind, r.state, r.http_status, r.found) for r in rows] == [
        ("BTCUSDT", "orders", "done", 200, 2)
    ]
    assert _resting(simulator) == [ETH_CALL]  # the other underlying's order stays
    sent = [(e["method"], e["path"], e["symbol"], e["weight"]) for e in simulator.exchange.requests_log()]
    press = [e for e in sent[since:] if e[1] != "/eapi/v1/openOrders"]  # the reading that follows the press
    assert press == [
        ("GET", "/eapi/v1/time", None, 1),
        ("DELETE", "/eapi/v1/allOpenOrdersByUnderlying", "BTCUSDT", 5),
    ]
    assert killswitch.summary(rows) == "Found 2 open orders on 1 underlying; cancelled all of them."


def test_a_press_counts_the_underlyings_weight_against_the_address(simulator, underlyings):
    btc, _ = underlyings
    account = btc.account
    ratelimits.ensure_row(account.egress, account.base_url)
    spare = budget.spare_weight(account.egress, account.base_url, budget.Purpose.CANCEL)
    minute = ratelimits.exchange_minute(timezone.now().timestamp())
    # 5 left: a futures symbol (clock 1, cancel 1) would go; an underlying (clock 1, cancel 5) does not.
    used = spare.limit - spare.keep - 5
    ratelimits.record(
        account.egress, account.base_url, minute=minute, used_weight=used, weight_limit=spare.limit
    )

    rows = killswitch.wait(killswitch.cancel_orders([btc.pk], reason="desk halted"))

    [row] = rows
    assert row.state == "skipped" and row.error.startswith("Not sent: This address has used"), row.error
    assert not _eapi(simulator, "allOpenOrdersByUnderlying")
    assert _resting(simulator) == sorted([BTC_CALL, BTC_PUT, ETH_CALL])


def test_a_429_on_the_options_cancel_is_reported_never_retried(simulator, underlyings):
    btc, _ = underlyings
    simulator.exchange.inject(
        "/eapi/v1/allOpenOrdersByUnderlying", method="DELETE", kind="rate_limited", retry_after=30
    )

    rows = killswitch.wait(killswitch.cancel_orders([btc.pk], reason="desk halted"))

    [row] = rows
    assert (row.state, row.http_status) == ("failed", 429)
    assert "Too many requests" in row.error and "(HTTP 429, code -1003)" in row.error
    assert len(_eapi(simulator, "allOpenOrdersByUnderlying")) == 1  # sent once, never again
    assert _resting(simulator) == sorted([BTC_CALL, BTC_PUT, ETH_CALL])
    assert "1 request not done" in killswitch.summary(rows)

    # The address is paused as the exchange asked: pressing again at once sends nothing, and says why.
    again = killswitch.wait(killswitch.cancel_orders([btc.pk], reason="desk halted, again"))

    assert [r.state for r in again] == ["skipped"]
    assert len(_eapi(simulator, "allOpenOrdersByUnderlying")) == 1


def test_the_page_says_an_underlyings_every_order_goes(client, operator, underlyings, options_account):
    client.force_login(operator)
    page = client.get(reverse("cancel_orders"), {"account": options_account.pk})
    assert page.status_code == 200
    html = page.content.decode()

    assert "every underlying of opts" in html
    assert "2 underlyings" in html
    assert "allOpenOrdersByUnderlying" in html and "market-maker-protection orders included" in html
    assert "algoOpenOrders" not in html  # no futures symbol in scope: no conditional-orders sentence


def test_a_page_over_both_venues_says_both(client, operator, underlyings, make_account, make_policy):
    make_policy(make_account("futures"), "BTCUSDT")
    client.force_login(operator)
    html = client.get(reverse("cancel_orders"), {"all": "1"}).content.decode()

    assert "every symbol and underlying of every account" in html
    assert "Cancel the orders of 1 symbol and 2 underlyings now" in html
    assert "algoOpenOrders" in html and "allOpenOrdersByUnderlying" in html
    assert killswitch.covered(["usdm", "usdm", None]) == "3 symbols"  # a deleted policy's row: a symbol
