"""Switches that cover a whole account (OKX, Kraken Futures) kept by the same engine as Binance's: armed and
renewed every interval with the venue's own call and signature, disarmed with its `0`, the second `0` after
the venue's own late-acceptance window."""

import base64
import dataclasses
import secrets
import time

import pytest

from heartbeats.desk import actions
from heartbeats.engine import Engine
from heartbeats.exchange import venues
from heartbeats.models import CountdownPolicy, Environment, ExchangeAccount, KeyType, Outcome
from tests.engine.conftest import fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

OKX_PATH = "/api/v5/trade/cancel-all-after"
KRAKEN_PATH = "/derivatives/api/v3/cancelallordersafter"


@pytest.fixture(autouse=True)
def short_late_windows(monkeypatch):
    """The venues' real windows (30 s, a minute) would make every disarm's second `0` wait that long here."""
    for key in ("okx", "kraken_futures"):
        monkeypatch.setitem(venues.VENUES, key, dataclasses.replace(venues.VENUES[key], accepts_late_ms=500))


def _account(label, venue, api_key, secret, passphrase="", url=""):
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
def okx_account(simulator):
    api_key, secret, passphrase = secrets.token_hex(16), secrets.token_hex(16), "Desk-pass-1"
    simulator.exchange.okx.add_account(api_key, secret, passphrase)
    return _account("okx desk", "okx", api_key, secret, passphrase, simulator.url)


@pytest.fixture
def kraken_account(simulator):
    api_key, secret = secrets.token_hex(16), base64.b64encode(secrets.token_bytes(64)).decode()
    simulator.exchange.add_kraken_account(api_key, secret)
    return _account("kraken desk", "kraken_futures", api_key, secret, url=simulator.url)


def _calls(simulator, path):
    return [e for e in simulator.exchange.requests_log(path) if e.get("status") == 200]


def test_an_okx_account_switch_is_armed_renewed_and_disarmed_by_the_engine(
    simulator, okx_account, engine_thread
):
    switch = CountdownPolicy.objects.create(account=okx_account, symbol="", interval_s=1, countdown_ms=10_000)
    with engine_thread(Engine(config=fast_config())):
        actions.arm(switch.pk, user=None, ip=None)
        wait_for(lambda: len(_calls(simulator, OKX_PATH)) >= 3, timeout=10)
        live = simulator.exchange.okx.switches(okx_account.api_key)
        assert [(s["tag"], s["countdown_ms"]) for s in live] == [("", 10_000)]
        actions.disarm(switch.pk, user=None, ip=None)
        wait_for(lambda: simulator.exchange.okx.switches(okx_account.api_key) == [])
        switch.refresh_from_db()
        wait_for(
            lambda: CountdownPolicy.objects.get(pk=switch.pk).final_disarm_generation == switch.generation,
            timeout=5,
            message="the second 0",
        )
    switch.refresh_from_db()
    assert switch.last_outcome == Outcome.CONFIRMED and switch.status().state == "disarmed"


def test_a_kraken_futures_account_switch_is_armed_renewed_and_disarmed_by_the_engine(
    simulator, kraken_account, engine_thread
):
    switch = CountdownPolicy.objects.create(
        account=kraken_account, symbol="", interval_s=1, countdown_ms=6000
    )
    with engine_thread(Engine(config=fast_config())):
        actions.arm(switch.pk, user=None, ip=None)
        wait_for(lambda: len(_calls(simulator, KRAKEN_PATH)) >= 3, timeout=10)
        assert [c["countdown_ms"] for c in simulator.exchange.countdowns()] == [6000]
        actions.disarm(switch.pk, user=None, ip=None)
        wait_for(lambda: simulator.exchange.countdowns() == [])
        wait_for(
            lambda: CountdownPolicy.objects.get(pk=switch.pk).final_disarm_generation is not None,
            timeout=5,
            message="the second 0",
        )
    assert CountdownPolicy.objects.get(pk=switch.pk).status().state == "disarmed"


def test_a_rate_limited_okx_account_pauses_itself_never_the_desk(
    simulator, okx_account, kraken_account, make_account, make_policy, engine_thread
):
    usdm = make_policy(make_account(), "BTCUSDT")
    okx_switch = CountdownPolicy.objects.create(
        account=okx_account, symbol="", interval_s=1, countdown_ms=10_000
    )
    kraken_switch = CountdownPolicy.objects.create(
        account=kraken_account, symbol="", interval_s=1, countdown_ms=6000
    )
    # OKX sends no Retry-After: the client waits out OKX's windows (RATE_LIMIT_RETRY_S, 2 s).
    with engine_thread(Engine(config=fast_config())):
        for switch in (usdm, okx_switch, kraken_switch):
            actions.arm(switch.pk, user=None, ip=None)
        wait_for(lambda: len(_calls(simulator, OKX_PATH)) >= 2, timeout=10)
        simulator.exchange.inject(OKX_PATH, api_key=okx_account.api_key, status=429, code=50011, count=1)
        wait_for(
            lambda: any(e.get("status") == 429 for e in simulator.exchange.requests_log(OKX_PATH)), timeout=5
        )
        limited_at = max(e["received_at"] for e in simulator.exchange.requests_log(OKX_PATH))
        wait_for(lambda: time.time() > limited_at + 1.9, timeout=5)

        # The other venues' switches kept beating through the OKX account's pause; OKX's waited it out.
        def during(path):
            return [e for e in _calls(simulator, path) if limited_at < e["received_at"] < limited_at + 1.9]

        assert len(during("/fapi/v1/countdownCancelAll")) >= 1
        assert len(during(KRAKEN_PATH)) >= 1
        assert during(OKX_PATH) == []
        wait_for(
            lambda: any(e["received_at"] > limited_at + 1.9 for e in _calls(simulator, OKX_PATH)), timeout=5
        )


def test_an_okx_clock_refusal_measures_the_clock_again_and_the_switch_goes_on(
    simulator, okx_account, engine_thread
):
    switch = CountdownPolicy.objects.create(account=okx_account, symbol="", interval_s=1, countdown_ms=10_000)
    with engine_thread(Engine(config=fast_config())):
        actions.arm(switch.pk, user=None, ip=None)
        wait_for(lambda: len(_calls(simulator, OKX_PATH)) >= 2, timeout=10)
        simulator.exchange.set_skew(-35_000)  # OKX refuses a timestamp over 30 s off its clock (50102)
        wait_for(
            lambda: any(str(e.get("code")) == "50102" for e in simulator.exchange.requests_log(OKX_PATH))
        )
        refused_at = max(e["received_at"] for e in simulator.exchange.requests_log(OKX_PATH))
        # Measured again at once (GET /api/v5/public/time), and renewals accepted again on the new offset.
        wait_for(lambda: any(e["received_at"] > refused_at for e in _calls(simulator, OKX_PATH)), timeout=5)
    assert [
        e for e in simulator.exchange.requests_log("/api/v5/public/time") if e["received_at"] > refused_at
    ]


def test_an_okx_disarm_right_after_a_renewal_waits_out_the_second_rather_than_be_refused(
    simulator, okx_account, engine_thread
):
    switch = CountdownPolicy.objects.create(account=okx_account, symbol="", interval_s=2, countdown_ms=10_000)
    with engine_thread(Engine(config=fast_config(rate_limit_pause=5.0))):
        actions.arm(switch.pk, user=None, ip=None)
        wait_for(lambda: len(_calls(simulator, OKX_PATH)) >= 2, timeout=10)
        renewed_at = max(e["received_at"] for e in _calls(simulator, OKX_PATH))
        wait_for(lambda: time.time() > renewed_at + 0.2, timeout=2)
        actions.disarm(switch.pk, user=None, ip=None)  # OKX takes one request a second per account and tag
        wait_for(lambda: simulator.exchange.okx.switches(okx_account.api_key) == [], timeout=3)
    sent = simulator.exchange.requests_log(OKX_PATH)
    assert [e for e in sent if e.get("status") != 200] == []
    zero = next(e for e in sent if e["received_at"] > renewed_at)
    assert 1.0 <= zero["received_at"] - renewed_at < 1.6
