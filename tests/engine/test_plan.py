"""What is sent next, and when: the engine's pure decisions, one step at a time."""

from heartbeats.engine.plan import (
    ARM,
    DISARM,
    FINAL,
    PolicyState,
    merge_desired,
    merge_row,
    next_send,
    owes_disarm,
    temporary_delay,
    uncertain_delay,
    vet,
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
    # Counted from the first zero's acknowledgement: every stale arm was signed before that zero left.
    assert (final.kind, final.countdown_ms, final.due) == (FINAL, 0, 206.1)
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


def test_a_disarm_is_owed_until_both_zeros_are_acknowledged():
    p = policy(armed=False, generation=4)
    assert owes_disarm(p)
    p.disarm_acked_generation = 4
    assert owes_disarm(p), "the second zero is still owed"
    p.final_disarm_generation = 4
    assert not owes_disarm(p)
    assert not owes_disarm(policy(armed=True)), "an armed policy owes beats, not a disarm"
    assert not owes_disarm(policy(armed=False, generation=0)), "never armed"
    assert not owes_disarm(policy(armed=False, generation=5, fatal_generation=5)), "stopped by a fatal error"


def test_an_arm_is_signed_only_for_the_current_armed_generation():
    assert vet(ARM, 3, (True, 3), 0.0, 3.0) == ""
    assert vet(ARM, 3, (False, 4), 0.0, 3.0) == "Superseded before sending."
    assert vet(ARM, 3, (True, 5), 0.0, 3.0) == "Superseded before sending."
    assert vet(ARM, 3, (False, -1), 0.0, 3.0) == "The policy was deleted."


def test_an_arm_goes_from_memory_only_within_the_bound_when_the_database_cannot_be_read():
    assert vet(ARM, 3, None, 2.9, 3.0) == ""
    assert "not arming from memory" in vet(ARM, 3, None, 3.1, 3.0)


def test_a_zero_is_never_held_back():
    assert vet(DISARM, 3, None, 100.0, 3.0) == ""
    assert vet(FINAL, 3, (True, 4), 0.0, 3.0) == ""


def test_a_row_read_before_a_disarm_never_undoes_it():
    p = policy(armed=False, generation=5, desired_changed_at=300.0, disarm_acked_generation=5)
    stale = policy(armed=True, generation=4, desired_changed_at=200.0, interval_s=10)
    merge_row(p, stale, now=301.0)
    assert (p.armed, p.generation, p.desired_changed_at) == (False, 5, 300.0)
    assert p.interval_s == 10, "what people edit follows the row"
    assert p.disarm_acked_generation == 5, "facts only move forward"


def test_a_newer_generation_starts_retries_afresh_and_is_observed_now():
    p = policy(generation=3, attempts=4, retry_at=500.0)
    assert merge_desired(p, 4, False, 320.0, now=321.5)
    assert (p.armed, p.generation, p.attempts, p.retry_at, p.observed_at) == (False, 4, 0, None, 321.5)
    assert not merge_desired(p, 4, True, 330.0, now=331.0), "the same generation is not news"
    assert p.armed is False
