"""The weight, the 429 pause and the 418 ban belong to the sending address, not to a shift: they survive
hand-overs and restarts, and every request of every process on that address obeys them."""

import time

import pytest

from heartbeats.desk import actions
from heartbeats.domain import ratelimits
from heartbeats.engine import Engine
from heartbeats.exchange.client import FuturesClient
from heartbeats.models import AddressLimits, CountdownPolicy, EngineLiveness, Status
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, in_feed_wait, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT"]


def _our_requests(simulator, since_id=0):
    return [
        e for e in simulator.exchange.requests_log(since_id=since_id) if not e["path"].startswith("/_sim")
    ]


@pytest.fixture
def fresh_minute(time_machine):
    """The exchange counts weight per calendar minute: the test starts a second into one, so that its few
    seconds stay inside it. The simulator, the engine and the web read this one clock."""
    time_machine.move_to((time.time() // 60 + 1) * 60 + 1)
    return time_machine


def test_a_new_shift_sends_nothing_while_the_address_is_banned(
    simulator, make_account, make_policy, engine_thread, time_machine
):
    time_machine.move_to(time.time())  # moved past the ban below: the engine's clock and the simulator's
    account = make_account()
    policy = make_policy(account, "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    until = time.time() + 30.0
    # What the previous shift was told (HTTP 418) before it handed over.
    ratelimits.record("default", account.base_url, paused_until=until, banned_until=until)
    last = simulator.exchange.requests_log()[-1]["id"] if simulator.exchange.requests_log() else 0
    engine = Engine(config=fast_config())
    with engine_thread(engine):
        # The new shift holds the lease and has taken the ban in: from here it would send if it were going to.
        record = wait_for(
            lambda: EngineLiveness.objects.filter(
                engine_id=engine.engine_id, holds_lease=True, banned_until__isnull=False
            ).first(),
            message="the ban on the new shift's record",
        )
        wait_for(lambda: in_feed_wait(engine.watcher), message="the engine at rest")
        during = _our_requests(simulator, since_id=last)
        time_machine.shift(until - time.time() + 0.05)
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"}, timeout=4, message="armed after the ban")
    assert during == [], "not even a clock sync or exchangeInfo during the ban"
    assert abs(record.banned_until.timestamp() - until) < 0.05


def test_a_new_shift_does_not_overspend_the_minute_its_predecessor_spent(
    simulator, make_account, make_policy, engine_thread, fresh_minute
):
    account = make_account()
    for symbol in SYMBOLS[:3]:
        actions.arm(make_policy(account, symbol).pk, user=None, ip=None)
    # The predecessor spent 95 of the address's 100 this minute and stored what the exchange reported,
    # just before the hand-over.
    simulator.exchange.set_limits(weight_limit=100)
    spender = FuturesClient(simulator.url, api_key=account.api_key, signer=None, read_timeout=2)
    while (spender.used_weight or 0) < 95:
        spender.server_time()
    ratelimits.record(
        "default",
        account.base_url,
        minute=ratelimits.exchange_minute(time.time()),
        used_weight=spender.used_weight,
        weight_limit=100,
    )
    engine = Engine(config=fast_config())
    with engine_thread(engine):
        wait_for(
            lambda: EngineLiveness.objects.filter(
                engine_id=engine.engine_id, last_error__contains="Weight budget reached"
            ).exists(),
            message="the heartbeats held",
        )
    # The engine has stopped, and with it every request it had sent: none was a heartbeat.
    assert countdown_requests(simulator) == [], "held until the next minute, not sent into a 429"


def test_a_429_pauses_every_process_on_the_address(simulator, make_account, make_policy, engine_thread):
    account = make_account()
    policy = make_policy(account, "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config(limits_every=0.2))):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"}, message="armed")
        simulator.exchange.inject("/fapi/v1/countdownCancelAll", status=429, retry_after=3, count=1)
        wait_for(
            lambda: AddressLimits.objects.filter(paused_until__isnull=False).exists(),
            timeout=3,
            message="the pause stored for the address",
        )
    stored = AddressLimits.objects.get(base_url=account.base_url)
    assert 2.0 < stored.paused_until.timestamp() - time.time() <= 3.2
    refusal = ratelimits.refusal("default", account.base_url, 10, limit=2400)
    assert refusal.startswith("Rate limited (HTTP 429)")


def test_the_web_shapes_a_disarm_all_by_the_weight_the_exchange_reported(
    simulator, make_account, make_policy, settings, fresh_minute
):
    settings.ENGINE_RECV_WINDOW_MS = 30_000  # no second zeros during this test
    account = make_account()
    policies = [make_policy(account, s) for s in SYMBOLS]
    sim_account = simulator.exchange.account(account.api_key)
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
        simulator.exchange.set_countdown(sim_account, "usdm", p.symbol, 60_000)
    # Another process spent 75 of the address's 100 this minute and stored what the exchange reported.
    simulator.exchange.set_limits(weight_limit=100)
    spender = FuturesClient(simulator.url, api_key=account.api_key, signer=None, read_timeout=2)
    while (spender.used_weight or 0) < 75:
        spender.server_time()
    ratelimits.record(
        "default",
        account.base_url,
        minute=ratelimits.exchange_minute(time.time()),
        used_weight=spender.used_weight,
        weight_limit=100,
    )

    before = simulator.exchange.requests_log()[-1]["id"]
    actions.disarm_all(user=None, ip=None, reason="nearly spent minute")

    syncs = [r for r in simulator.exchange.requests_log(since_id=before) if r["path"] == "/fapi/v1/time"]
    assert len(syncs) == 1, "one clock measured for the account, not one per zero"
    answers = [r["status"] for r in countdown_requests(simulator)]
    assert answers == [200, 200], "two zeros fit in the minute; the rest wait for the next"
    assert len(armed_symbols(simulator)) == 4
    states = {p.status().state for p in CountdownPolicy.objects.all()}
    assert states == {Status.DISARMED, Status.DISARMING}


def test_every_address_of_an_egress_is_read_in_one_query(django_assert_num_queries):
    for url, used in (("https://a.example", 10), ("https://b.example#account-7", 20)):
        ratelimits.ensure_row("default", url)
        ratelimits.record(
            "default", url, minute=5, used_weight=used, weight_limit=2400, paused_until=time.time() + 60
        )
    ratelimits.ensure_row("other", "https://a.example")
    wanted = ["https://a.example", "https://b.example#account-7", "https://never.example"]
    with django_assert_num_queries(1):
        many = ratelimits.read_many("default", wanted)
    assert many == {url: ratelimits.read("default", url) for url in wanted[:2]}
    assert many["https://b.example#account-7"].used_weight == 20
    assert ratelimits.read_many("default", []) == {}


def test_a_count_whose_request_crossed_the_minutes_turn_is_not_stored():
    url = "https://a.example"
    ratelimits.ensure_row("default", url)
    ratelimits.learn("default", url, used_weight=2900, at=180.02, sent_at=179.97)
    assert ratelimits.read("default", url).used_weight == 0
    ratelimits.learn("default", url, used_weight=40, at=180.2, sent_at=180.1)
    assert (ratelimits.read("default", url).minute, ratelimits.read("default", url).used_weight) == (3, 40)
