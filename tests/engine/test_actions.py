"""arm / disarm / disarm_all: desired state committed first and audited, then sent by the live engine, or by
this process itself -- concurrently, under the same rules -- when no engine is alive."""

import time

import pytest

from heartbeats.desk import actions
from heartbeats.engine import Engine, engine_alive
from heartbeats.models import Action, Beat, CountdownPolicy, Operation, Status
from tests.engine.conftest import armed_symbols, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT", "BNBUSDT"]


def arm_on_exchange(simulator, policies, countdown_ms=30_000):
    """Armed as if an engine had done it: desired armed, the exchange's countdown running."""
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
        api_key = p.account.api_key
        account = simulator.exchange.account(api_key)
        simulator.exchange.set_countdown(account, "usdm", p.symbol, countdown_ms)


def test_it_requires_a_reason_to_disarm_all(make_account, make_policy):
    policy = make_policy(make_account())
    actions.arm(policy.pk, user=None, ip=None)
    with pytest.raises(ValueError, match="reason"):
        actions.disarm_all(user=None, ip=None, reason="   ")
    policy.refresh_from_db()
    assert policy.armed
    assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()


def test_it_refuses_to_arm_a_policy_of_a_disabled_account(make_account, make_policy):
    policy = make_policy(make_account(enabled=False))
    with pytest.raises(ValueError, match="disabled"):
        actions.arm(policy.pk, user=None, ip=None)
    policy.refresh_from_db()
    assert (policy.armed, policy.generation) == (False, 0)


def test_it_bumps_the_generation_and_audits_each_action(make_account, make_policy):
    policy = make_policy(make_account(), "ETHUSDT")
    armed = actions.arm(policy.pk, user=None, ip="10.0.0.7")
    disarmed = actions.disarm(policy.pk, user=None, ip="10.0.0.7")
    policy.refresh_from_db()
    assert (policy.armed, policy.generation) == (False, 2)
    assert policy.desired_changed_at is not None
    assert [armed.action, disarmed.action] == [Action.ARM, Action.DISARM]
    listed = armed.targets.values_list("policy", "account_label", "symbol", "generation", "changed", "effect")
    assert list(listed) == [(policy.pk, "acct-1", "ETHUSDT", 1, True, "armed")]
    assert (disarmed.targets.get().generation, disarmed.targets.get().effect) == (2, "disarmed")
    assert disarmed.ip == "10.0.0.7"


def test_it_sends_disarms_itself_concurrently_when_no_engine_is_alive(
    simulator, make_account, make_policy, settings, run_duties
):
    settings.ENGINE_RECV_WINDOW_MS = 1000
    settings.ENGINE_CLOCK_ERROR_MS = 300
    accounts = [make_account(), make_account()]
    policies = [make_policy(accounts[i % 2], s) for i, s in enumerate(SYMBOLS)]
    arm_on_exchange(simulator, policies)
    simulator.exchange.set_latency(200)
    started = time.monotonic()
    operation = actions.disarm_all(user=None, ip="127.0.0.1", reason="engine down, incident")
    took = time.monotonic() - started
    # The web's owed-zeros duty sends the second zeros. Started only now: sweeping during the action, it
    # would take some first zeros from it.
    run_duties("web", "owed-zeros")
    assert armed_symbols(simulator) == set()
    # Eight disarms, one round trip each, all at once: far less than 8 × 200 ms (plus one clock sync each).
    assert took < 1.0
    results = actions.policy_results(operation)
    assert {r["result"] for r in results} == {actions.DISARMED}
    assert {b.sender for b in Beat.objects.all()} == {"web"}
    # The second `0`, once recvWindow + clock error has passed.
    wait_for(
        lambda: all(p.final_disarm_generation == p.generation for p in CountdownPolicy.objects.all()),
        timeout=4,
        message="second zeros",
    )
    assert all(p.status().state == Status.DISARMED for p in CountdownPolicy.objects.all())


def test_it_leaves_the_disarms_to_a_live_engine(simulator, make_account, make_policy, engine_thread):
    policies = [make_policy(make_account(), s) for s in SYMBOLS[:3]]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    engine = Engine(engine_id="live-engine", config=fast_config())
    with engine_thread(engine):
        wait_for(lambda: armed_symbols(simulator) == set(SYMBOLS[:3]))
        wait_for(engine_alive, message="liveness")
        operation = actions.disarm_all(user=None, ip=None, reason="end of day")
        results = actions.wait_for_results(operation, timeout=2)
    assert {r["result"] for r in results} == {actions.DISARMED}
    senders = set(Beat.objects.filter(kind="disarm").values_list("sender", flat=True))
    assert senders == {"live-engine"}


def test_it_reports_a_refused_disarm_as_failed(simulator, make_account, make_policy, settings):
    policies = [make_policy(make_account(), s) for s in SYMBOLS[:2]]
    arm_on_exchange(simulator, policies)
    simulator.exchange.inject("/fapi/v1/countdownCancelAll", symbol="ETHUSDT", code=-2015, count=None)
    operation = actions.disarm_all(user=None, ip=None, reason="drill")
    rows = {r["symbol"]: r for r in actions.policy_results(operation)}
    assert rows["BTCUSDT"]["result"] == actions.DISARMED
    assert rows["ETHUSDT"]["result"] == actions.FAILED
    assert "-2015" in rows["ETHUSDT"]["error"]
    assert rows["ETHUSDT"]["status"] == Status.FAILING
