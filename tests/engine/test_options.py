"""Binance Options' switches kept by the engine: each underlying configured once, then every armed underlying
of an account renewed by one heartbeat call per interval; a disarm turns one off and leaves the others in
the heartbeat; an underlying the heartbeat did not renew is shown as a failure and configured again."""

import secrets

import pytest

from heartbeats.desk import actions
from heartbeats.engine import Engine
from heartbeats.models import Beat, CountdownPolicy, Environment, ExchangeAccount, KeyType, Outcome
from tests.engine.conftest import HMAC_SECRET, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = "/eapi/v1/countdownCancelAll"
HEARTBEAT = "/eapi/v1/countdownCancelAllHeartBeat"


@pytest.fixture
def options_account(simulator):
    api_key = secrets.token_hex(32)
    simulator.exchange.add_account(api_key, "hmac", HMAC_SECRET, options=True)
    return ExchangeAccount.objects.create(
        label="options desk",
        venue="options",
        environment=Environment.CUSTOM,
        custom_base_url=simulator.url,
        key_type=KeyType.HMAC,
        api_key=api_key,
        secret=HMAC_SECRET,
    )


def _switch(account, underlying, interval_s=1, countdown_ms=6000):
    return CountdownPolicy.objects.create(
        account=account, symbol=underlying, interval_s=interval_s, countdown_ms=countdown_ms
    )


def _configured(simulator) -> dict[str, int]:
    return {c["underlying"]: c["countdown_ms"] for c in simulator.exchange.option_countdowns()}


def _calls(simulator, path, since_id=0):
    return [e for e in simulator.exchange.requests_log(path, since_id) if e.get("status") == 200]


def test_two_underlyings_are_configured_once_then_renewed_by_one_heartbeat_per_interval(
    simulator, options_account, engine_thread
):
    btc, eth = _switch(options_account, "BTCUSDT"), _switch(options_account, "ETHUSDT")
    with engine_thread(Engine(config=fast_config())):
        actions.arm(btc.pk, user=None, ip=None)
        actions.arm(eth.pk, user=None, ip=None)
        wait_for(lambda: _configured(simulator) == {"BTCUSDT": 6000, "ETHUSDT": 6000}, timeout=10)
        wait_for(lambda: any(e["underlyings"] == "BTCUSDT,ETHUSDT" for e in _calls(simulator, HEARTBEAT)))
        start = max(e["id"] for e in simulator.exchange.requests_log())
        wait_for(lambda: len(_calls(simulator, HEARTBEAT, start)) >= 4, timeout=10)
        beats = _calls(simulator, HEARTBEAT, start)

    # One call per interval renews both: never one per underlying, and no configuration again.
    assert {e["underlyings"] for e in beats} == {"BTCUSDT,ETHUSDT"}
    gaps = [b["received_at"] - a["received_at"] for a, b in zip(beats, beats[1:], strict=False)]
    assert all(0.7 < gap < 1.5 for gap in gaps), gaps
    assert [e for e in _calls(simulator, CONFIG) if e["countdown_ms"]] == _calls(simulator, CONFIG)[:2]
    assert {e["weight"] for e in beats} == {10}
    for policy in (btc, eth):
        policy.refresh_from_db()
        assert policy.last_arm_generation == policy.generation and policy.last_outcome == Outcome.CONFIRMED
    assert Beat.objects.filter(message="Renewed in one heartbeat with BTCUSDT, ETHUSDT.").count() >= 8


def test_a_disarm_turns_one_underlying_off_and_the_heartbeat_goes_on_for_the_other(
    simulator, options_account, engine_thread
):
    btc, eth = _switch(options_account, "BTCUSDT"), _switch(options_account, "ETHUSDT")
    with engine_thread(Engine(config=fast_config())):
        actions.arm(btc.pk, user=None, ip=None)
        actions.arm(eth.pk, user=None, ip=None)
        wait_for(lambda: any(e["underlyings"] == "BTCUSDT,ETHUSDT" for e in _calls(simulator, HEARTBEAT)))
        actions.disarm(eth.pk, user=None, ip=None)
        wait_for(lambda: _configured(simulator) == {"BTCUSDT": 6000})
        start = max(e["id"] for e in simulator.exchange.requests_log())
        wait_for(lambda: len(_calls(simulator, HEARTBEAT, start)) >= 2, timeout=10)
        # Both zeros of the disarm (the second once no arm signed before it can still arrive).
        wait_for(lambda: [e["countdown_ms"] for e in _calls(simulator, CONFIG)].count(0) == 2, timeout=10)
        assert {e["underlyings"] for e in _calls(simulator, HEARTBEAT, start)} == {"BTCUSDT"}
        assert _configured(simulator) == {"BTCUSDT": 6000}


def test_an_underlying_the_heartbeat_did_not_renew_is_a_failure_and_is_configured_again(
    simulator, options_account, engine_thread
):
    btc, eth = _switch(options_account, "BTCUSDT"), _switch(options_account, "ETHUSDT")
    with engine_thread(Engine(config=fast_config())):
        actions.arm(btc.pk, user=None, ip=None)
        actions.arm(eth.pk, user=None, ip=None)
        wait_for(lambda: any(e["underlyings"] == "BTCUSDT,ETHUSDT" for e in _calls(simulator, HEARTBEAT)))
        # Turned off behind the guard's back (another program with the same key, say).
        account = simulator.exchange.account(options_account.api_key)
        simulator.exchange.options.configure(account, "ETHUSDT", 0)
        wait_for(lambda: Beat.objects.filter(policy=eth, outcome=Outcome.TEMPORARY).exists(), timeout=10)
        wait_for(lambda: _configured(simulator) == {"BTCUSDT": 6000, "ETHUSDT": 6000}, timeout=10)

    missed = Beat.objects.filter(policy=eth, outcome=Outcome.TEMPORARY).first()
    assert missed.message.startswith("Not renewed: the exchange holds no countdown for ETHUSDT")
    assert not Beat.objects.filter(policy=btc).exclude(outcome=Outcome.CONFIRMED).exists()
    assert [e["countdown_ms"] for e in _calls(simulator, CONFIG) if e["symbol"] == "ETHUSDT"] == [6000, 6000]


def test_with_no_engine_alive_disarm_all_turns_the_underlyings_off_from_the_web(
    simulator, options_account, settings, run_duties
):
    settings.ENGINE_RECV_WINDOW_MS = 1000
    settings.ENGINE_CLOCK_ERROR_MS = 300
    switches = [_switch(options_account, u) for u in ("BTCUSDT", "ETHUSDT")]
    account = simulator.exchange.account(options_account.api_key)
    for switch in switches:
        actions.arm(switch.pk, user=None, ip=None)
        simulator.exchange.options.configure(account, switch.symbol, 6000)
    operation = actions.disarm_all(user=None, ip="127.0.0.1", reason="engine down, incident")
    run_duties("web", "owed-zeros")

    assert _configured(simulator) == {}
    assert {r["result"] for r in actions.policy_results(operation)} == {actions.DISARMED}
    assert set(Beat.objects.values_list("sender", flat=True)) == {"web"}
    wait_for(
        lambda: [e["countdown_ms"] for e in _calls(simulator, CONFIG)] == [0, 0, 0, 0],
        timeout=5,
        message="both zeros of each underlying",
    )


def test_a_disarm_does_not_wait_for_a_heartbeat_the_exchange_is_slow_to_answer(
    simulator, options_account, engine_thread
):
    btc, eth = _switch(options_account, "BTCUSDT"), _switch(options_account, "ETHUSDT")
    with engine_thread(Engine(config=fast_config(read_timeout=4.0))):
        actions.arm(btc.pk, user=None, ip=None)
        actions.arm(eth.pk, user=None, ip=None)
        wait_for(lambda: any(e["underlyings"] == "BTCUSDT,ETHUSDT" for e in _calls(simulator, HEARTBEAT)))
        simulator.exchange.inject(HEARTBEAT, hold="slow", hold_timeout=10, count=1)
        assert simulator.exchange.wait_held("slow", 1, timeout=5) == 1
        actions.disarm(eth.pk, user=None, ip=None)
        # Its `0` goes while the heartbeat naming it is still held, not after the client's read timeout.
        wait_for(lambda: "ETHUSDT" not in _configured(simulator), timeout=1.5)
        assert simulator.exchange.held()
        simulator.exchange.release("slow")
        # The late heartbeat renews BTCUSDT only: ETHUSDT stays off, BTCUSDT's heartbeats go on.
        start = max(e["id"] for e in simulator.exchange.requests_log())
        wait_for(lambda: len(_calls(simulator, HEARTBEAT, start)) >= 2, timeout=10)
        assert _configured(simulator) == {"BTCUSDT": 6000}
        assert {e["underlyings"] for e in _calls(simulator, HEARTBEAT, start)} == {"BTCUSDT"}


def test_a_heartbeats_switches_are_read_in_one_query_as_each_would_be_alone(
    simulator, make_account, make_policy, django_assert_num_queries
):
    from heartbeats.engine.sender import read_desired, read_desired_many

    account = make_account()
    armed, disarmed, gone = (make_policy(account, s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    actions.arm(armed.pk, user=None, ip=None)
    actions.arm(disarmed.pk, user=None, ip=None)
    actions.disarm(disarmed.pk, user=None, ip=None)
    gone_pk = gone.pk
    gone.delete()
    ids = [armed.pk, disarmed.pk, gone_pk]
    with django_assert_num_queries(1):
        many = read_desired_many(ids)
    assert many == {pk: read_desired(pk) for pk in ids}
    assert (
        many[armed.pk][:2] == (True, 1)
        and many[disarmed.pk][:2] == (False, 2)
        and many[gone_pk] == (False, -1)
    )
