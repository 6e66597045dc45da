"""Disarm must win: a beat in flight when Disarm is pressed cannot leave the exchange's countdown armed.
The simulator holds a chosen beat back until after the disarm; its ground truth says what is armed."""

import time

import pytest

from heartbeats.desk import actions
from heartbeats.engine import Engine
from heartbeats.models import Beat, BeatKind, CountdownPolicy, Operation, Outcome, Status
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, wait_for

COUNTDOWN = 6000
pytestmark = pytest.mark.django_db(transaction=True)


def hold_next_beat(sim, symbol, name, countdown_ms=COUNTDOWN):
    sim.exchange.inject("/fapi/v1/countdownCancelAll", symbol=symbol, countdown_ms=countdown_ms, hold=name)
    assert sim.exchange.wait_held(name, 1, timeout=3) == 1, "the engine did not send the beat to hold"


def zero_sent(sim, symbol, since_id=0) -> bool:
    return any(r["countdown_ms"] == 0 for r in countdown_requests(sim, symbol, since_id=since_id))


def test_it_disarms_after_a_beat_held_past_the_disarm(simulator, make_account, make_policy, engine_thread):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", countdown_ms=COUNTDOWN)
    witness = make_policy(account, "ETHUSDT", countdown_ms=COUNTDOWN)
    for p in (policy, witness):
        actions.arm(p.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT"}, message="armed")
        hold_next_beat(simulator, "BTCUSDT", "late-beat")
        held_id = countdown_requests(simulator, "BTCUSDT")[-1]["id"]
        actions.disarm(policy.pk, user=None, ip=None)
        # A witness disarmed after it: once its zero is out, the engine has seen both disarms and sent what
        # it would send.
        actions.disarm(witness.pk, user=None, ip=None)
        wait_for(
            lambda: zero_sent(simulator, "ETHUSDT", since_id=held_id), timeout=2, message="the witness's 0"
        )
        # One request per symbol at a time: the disarm waits for the held beat's answer.
        assert countdown_requests(simulator, "BTCUSDT", since_id=held_id) == []

        simulator.exchange.release("late-beat")
        # The held beat was applied when released (re-arming it); the disarm that follows wins.
        wait_for(lambda: "BTCUSDT" not in armed_symbols(simulator), timeout=1, message="disarmed")
        after = countdown_requests(simulator, "BTCUSDT", since_id=held_id)
        assert [r["countdown_ms"] for r in after] == [0]
        policy.refresh_from_db()
        wait_for(lambda: _refresh(policy).final_disarm_generation == policy.generation, 4, message="second 0")
        assert "BTCUSDT" not in armed_symbols(simulator)
    policy.refresh_from_db()
    assert policy.status().state == Status.DISARMED
    kinds = list(
        Beat.objects.filter(policy=policy).order_by("sent_at").values_list("kind", "generation", "outcome")
    )
    assert kinds[-3:] == [
        (BeatKind.ARM, policy.generation - 1, Outcome.CONFIRMED),
        (BeatKind.DISARM, policy.generation, Outcome.CONFIRMED),
        (BeatKind.DISARM, policy.generation, Outcome.CONFIRMED),
    ]
    assert simulator.exchange.cancellations() == []


def test_it_sends_a_second_zero_that_undoes_a_beat_applied_after_the_disarm(
    simulator, make_account, make_policy, engine_thread
):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", countdown_ms=COUNTDOWN)
    actions.arm(policy.pk, user=None, ip=None)
    # The client gives up on the held beat after 1 s (outcome unknown), so the engine disarms while that beat
    # still waits inside the exchange; the exchange accepts it for recvWindow (2 s) after it was signed.
    config = fast_config(read_timeout=1.0, recv_window_ms=2000, clock_error_ms=500)
    with engine_thread(Engine(config=config)):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"}, message="armed")
        hold_next_beat(simulator, "BTCUSDT", "stuck-beat")
        actions.disarm(policy.pk, user=None, ip=None)
        committed = time.time()
        policy.refresh_from_db()
        wait_for(lambda: _refresh(policy).disarm_acked_generation == policy.generation, 3, message="first 0")
        assert "BTCUSDT" not in armed_symbols(simulator)

        simulator.exchange.release("stuck-beat")
        assert "BTCUSDT" in armed_symbols(simulator), "the stale beat should have re-armed the countdown"
        wait_for(lambda: _refresh(policy).final_disarm_generation == policy.generation, 4, message="second 0")
        second_zero_at = time.time()
        assert "BTCUSDT" not in armed_symbols(simulator)
        assert second_zero_at - committed >= config.final_disarm_delay - 0.1
    uncertain = Beat.objects.get(policy=policy, generation=policy.generation - 1, outcome=Outcome.UNCERTAIN)
    assert uncertain.kind == BeatKind.ARM
    assert policy.status().state == Status.DISARMED


def test_it_disarms_all_while_one_beat_is_held(simulator, make_account, make_policy, engine_thread):
    account = make_account()
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    policies = [make_policy(account, s, countdown_ms=COUNTDOWN) for s in symbols]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == set(symbols), message="all armed")
        hold_next_beat(simulator, "ETHUSDT", "held")
        started = time.time()
        operation = actions.disarm_all(user=None, ip="127.0.0.1", reason="incident drill")
        wait_for(lambda: armed_symbols(simulator) <= {"ETHUSDT"}, timeout=1, message="others disarmed")
        others_done = time.time() - started
        rows = wait_for(
            lambda: (
                (r := {r["symbol"]: r for r in actions.policy_results(operation)})
                and {r[s]["result"] for s in symbols if s != "ETHUSDT"} == {actions.DISARMED}
                and r
            ),
            timeout=1,
            message="results recorded",
        )
        assert rows["ETHUSDT"]["result"] == actions.RETRYING

        simulator.exchange.release("held")
        wait_for(lambda: armed_symbols(simulator) == set(), timeout=1, message="held one disarmed")
        results = actions.wait_for_results(operation, timeout=2)
    assert others_done < 0.5
    assert {r["result"] for r in results} == {actions.DISARMED}
    stored = Operation.objects.get(pk=operation.pk)
    assert stored.reason == "incident drill"
    assert {t.symbol for t in stored.targets.all()} == set(symbols)
    assert all(not p.armed for p in CountdownPolicy.objects.all())


def test_it_arms_only_after_a_held_disarm_completes(simulator, make_account, make_policy, engine_thread):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", countdown_ms=COUNTDOWN)
    # Witnesses, disarmed after each step: once a witness's zero is out, the engine has seen the step.
    first, second = (make_policy(account, s, countdown_ms=COUNTDOWN) for s in ("ETHUSDT", "SOLUSDT"))
    for p in (policy, first, second):
        actions.arm(p.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}, message="armed")
        simulator.exchange.inject(
            "/fapi/v1/countdownCancelAll", symbol="BTCUSDT", countdown_ms=0, hold="zero"
        )
        actions.disarm(policy.pk, user=None, ip=None)
        assert simulator.exchange.wait_held("zero", 1, timeout=2) == 1
        held_id = countdown_requests(simulator, "BTCUSDT")[-1]["id"]
        actions.arm(policy.pk, user=None, ip=None)
        actions.disarm(first.pk, user=None, ip=None)
        wait_for(lambda: zero_sent(simulator, "ETHUSDT", since_id=held_id), timeout=2, message="the first 0")
        assert countdown_requests(simulator, "BTCUSDT", since_id=held_id) == []

        simulator.exchange.release("zero")
        wait_for(lambda: "BTCUSDT" in armed_symbols(simulator), timeout=1, message="re-armed after the zero")
        policy.refresh_from_db()
        wait_for(lambda: _refresh(policy).status().state == Status.ARMED, timeout=2, message="armed status")
        # The armed policy's second `0` is never sent: it would disarm what people armed again. It would have
        # been due final_disarm_delay after the held zero's answer; a witness disarmed now gets its own second
        # `0` later than that.
        actions.disarm(second.pk, user=None, ip=None)
        wait_for(
            lambda: _refresh(second).final_disarm_generation == second.generation,
            timeout=fast_config().final_disarm_delay + 3,
            message="the second witness's second 0",
        )
        assert "BTCUSDT" in armed_symbols(simulator)
        assert not zero_sent(simulator, "BTCUSDT", since_id=held_id)


def _refresh(policy):
    policy.refresh_from_db()
    return policy


def test_an_arm_checked_before_a_disarm_is_signed_as_of_its_check(simulator, make_account, make_policy):
    """The engine's thread is paused (or its whole process stopped) between the last check and the signing,
    and a disarm is committed meanwhile: the arm then carries a timestamp from before the disarm, so the
    disarm's second zero is sure to undo it, or the exchange to refuse it once recvWindow has passed."""
    from heartbeats.domain.clients import client_for
    from heartbeats.engine import sender
    from heartbeats.engine.plan import ARM

    policy = make_policy(make_account(), "BTCUSDT", countdown_ms=60_000)
    actions.arm(policy.pk, user=None, ip=None)
    policy.refresh_from_db()
    client = client_for(policy.account)
    client.sync_time()

    disarms = []

    def check_then_stall(policy_id):
        desired = sender.read_desired(policy_id)
        if not disarms:  # the check before signing
            disarms.append(actions.disarm(policy_id, user=None, ip=None))  # committed meanwhile
            time.sleep(0.3)  # a real interval: the pause between the check and the signing
        return desired

    job = sender.Job(policy.pk, policy.account_id, "BTCUSDT", ARM, 60_000, policy.generation, time.time())
    result = sender.send(job, client, check=check_then_stall)
    assert result.outcome == Outcome.CONFIRMED  # the check passed: it was still wanted then
    disarmed_at = CountdownPolicy.objects.get(pk=policy.pk).desired_changed_at.timestamp() * 1000
    arm = next(r for r in countdown_requests(simulator, "BTCUSDT") if r["countdown_ms"] == 60_000)
    assert arm["timestamp"] - client.offset_ms < disarmed_at, "signed as of its check, before the disarm"
    # One read per beat: the check's own (the disarm reaches the engine through its watcher, woken by it).
    assert result.desired[:2] == (True, policy.generation)
    assert len(disarms) == 1
