"""What is sent next, and when: the engine's pure decisions, one step at a time."""

from heartbeats.engine.plan import (
    ARM,
    DISARM,
    FINAL,
    PolicyState,
    next_send,
    temporary_delay,
    uncertain_delay,
)
from heartbeats.engine.timers import Spreader, TimerQueue

FINAL_DELAY = 6.0


def policy(**facts) -> PolicyState:
    values = dict(
        id=1, account_id=1, symbol="BTCUSDT", countdown_ms=120_000, interval_s=30, armed=True, generation=3
    )
    values.update(facts)
    return PolicyState(**values)


def test_it_arms_a_new_generation_at_once():
    send = next_send(
        policy(desired_changed_at=100.0, last_arm_generation=2, last_arm_sent_at=90.0), FINAL_DELAY
    )
    assert (send.kind, send.countdown_ms, send.due) == (ARM, 120_000, 100.0)


def test_it_beats_an_interval_after_the_last_acknowledged_arm():
    p = policy(last_arm_generation=3, last_arm_sent_at=100.0)
    assert next_send(p, FINAL_DELAY).due == 130.0
    p.next_due_at = 129.9  # spread slightly earlier
    assert next_send(p, FINAL_DELAY).due == 129.9


def test_it_sends_nothing_while_a_request_is_in_flight():
    assert next_send(policy(in_flight=True, armed=False, generation=4), FINAL_DELAY) is None


def test_it_disarms_until_acknowledged_then_sends_the_second_zero_after_the_delay():
    p = policy(armed=False, generation=4, desired_changed_at=200.0)
    assert next_send(p, FINAL_DELAY) == next_send(p, FINAL_DELAY)
    assert next_send(p, FINAL_DELAY).kind == DISARM
    p.disarm_acked_generation, p.disarm_acked_at = 4, 200.1
    final = next_send(p, FINAL_DELAY)
    assert (final.kind, final.countdown_ms, final.due) == (FINAL, 0, 206.0)
    p.observed_at = 201.0  # this engine learnt of it later than the web host's clock says
    assert next_send(p, FINAL_DELAY).due == 207.0
    p.final_disarm_generation = 4
    assert next_send(p, FINAL_DELAY) is None


def test_it_stops_a_generation_that_failed_fatally_until_people_act_again():
    p = policy(fatal_generation=3)
    assert next_send(p, FINAL_DELAY) is None
    p.generation, p.armed = 4, False
    assert next_send(p, FINAL_DELAY).kind == DISARM


def test_it_never_beats_for_a_disabled_account_but_still_disarms():
    assert next_send(policy(enabled=False), FINAL_DELAY) is None
    assert next_send(policy(enabled=False, armed=False, generation=4), FINAL_DELAY).kind == DISARM


def test_it_retries_uncertain_outcomes_at_once_and_backs_off_temporary_ones_within_the_interval():
    assert [uncertain_delay(n) for n in (1, 2, 3, 9)] == [0.0, 0.0, 0.2, 2.0]
    assert [temporary_delay(n, 30) for n in (1, 2, 3, 9)] == [0.5, 1.0, 2.0, 7.5]
    assert temporary_delay(5, 1) == 0.5


def test_it_keeps_one_pending_time_per_key():
    timers = TimerQueue()
    timers.set("a", 5.0)
    timers.set("b", 3.0)
    timers.set("a", 1.0)
    assert timers.next_time() == 1.0
    assert timers.pop_due(4.0) == ["a", "b"]
    timers.set("c", 9.0)
    timers.cancel("c")
    assert timers.next_time() is None and len(timers) == 0


def test_it_spreads_beats_due_together_by_pulling_them_earlier():
    spreader = Spreader(gap=0.01, max_pull=0.25)
    placed = [spreader.place(i, 100.0) for i in range(5)]
    assert placed == sorted(placed, reverse=True)
    assert max(placed) == 100.0 and min(placed) >= 100.0 - 0.25
    assert all(b - a >= 0.0099 for a, b in zip(sorted(placed), sorted(placed)[1:], strict=False))
    crowded = Spreader(gap=0.1, max_pull=0.15)
    assert [crowded.place(i, 50.0) for i in range(4)][-1] == 50.0  # no room left: keep the due time
