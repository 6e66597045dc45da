"""Each outcome class leads to its behaviour: uncertain → retried at once, never confirmed; temporary → brief
back-off; rate limited → every send paused until Retry-After; banned → alarm and liveness; fatal → that
policy stops, the others keep their schedule."""

import logging
import time

import pytest

from heartbeats.desk import actions
from heartbeats.engine import Engine
from heartbeats.models import Beat, EngineLiveness, Outcome, Status
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, wait_for
from tests.waiting import scheduling_lag

PATH = "/fapi/v1/countdownCancelAll"
COUNTDOWN = 6000
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def armed(simulator, make_account, make_policy):
    """Two armed policies (1 s beats) on one account; returns them once the engine has armed both."""

    def arm(*symbols):
        account = make_account()
        policies = [make_policy(account, s, countdown_ms=COUNTDOWN) for s in symbols]
        for p in policies:
            actions.arm(p.pk, user=None, ip=None)
        return policies

    return arm


def beats(policy):
    return list(Beat.objects.filter(policy=policy).order_by("sent_at"))


def test_it_retries_an_uncertain_beat_at_once_and_never_counts_it(simulator, armed, engine_thread):
    (policy,) = armed("BTCUSDT")
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"})
        simulator.exchange.inject(PATH, symbol="BTCUSDT", countdown_ms=COUNTDOWN, kind="unknown")
        wait_for(lambda: any(b.outcome == Outcome.UNCERTAIN for b in beats(policy)), message="uncertain beat")
        wait_for(lambda: beats(policy)[-1].outcome == Outcome.CONFIRMED, timeout=2, message="retry")
    history = beats(policy)
    index = next(i for i, b in enumerate(history) if b.outcome == Outcome.UNCERTAIN)
    uncertain, retry = history[index], history[index + 1]
    assert retry.outcome == Outcome.CONFIRMED
    assert (retry.sent_at - uncertain.sent_at).total_seconds() < 0.2  # at once, not at the next interval
    policy.refresh_from_db()
    assert policy.last_arm_sent_at != uncertain.sent_at
    assert policy.last_arm_sent_at >= retry.sent_at


def test_it_backs_off_briefly_after_temporary_errors(simulator, armed, engine_thread):
    (policy,) = armed("BTCUSDT")
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"})
        simulator.exchange.inject(PATH, symbol="BTCUSDT", countdown_ms=COUNTDOWN, kind="unavailable", count=2)
        wait_for(
            lambda: (
                [b.outcome for b in beats(policy)][-3:]
                == [Outcome.TEMPORARY, Outcome.TEMPORARY, Outcome.CONFIRMED]
            ),
            timeout=4,
            message="two temporary errors then a confirmation",
        )
    first, second, third = beats(policy)[-3:]
    assert 0.4 <= (second.sent_at - first.sent_at).total_seconds() <= 1.0
    assert 0.4 <= (third.sent_at - second.sent_at).total_seconds() <= 1.0
    assert simulator.exchange.cancellations() == []


def test_it_pauses_every_send_until_retry_after_when_rate_limited(simulator, armed, engine_thread):
    armed("BTCUSDT", "ETHUSDT")
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT"})
        simulator.exchange.inject(PATH, symbol="BTCUSDT", countdown_ms=COUNTDOWN, status=429, retry_after=2)
        limited = wait_for(
            lambda: [r for r in countdown_requests(simulator, "BTCUSDT") if r["status"] == 429], message="429"
        )[0]
        wait_for(lambda: time.time() > limited["responded_at"] + 2.8, timeout=4)
    later = [r for r in countdown_requests(simulator) if r["id"] > limited["id"]]
    # A beat of the other symbol may already be on its way when the 429 comes back; nothing after that.
    known = limited["responded_at"] + 0.05
    paused = [r for r in later if known < r["received_at"] < limited["responded_at"] + 1.9]
    assert paused == [], "nothing may be sent to the exchange before Retry-After has passed"
    assert {r["symbol"] for r in later} == {"BTCUSDT", "ETHUSDT"}
    assert all(r["status"] == 200 for r in later)


def test_it_raises_the_alarm_when_banned(simulator, armed, engine_thread, caplog):
    armed("BTCUSDT")
    engine = Engine(engine_id="banned-engine", config=fast_config())
    with caplog.at_level(logging.CRITICAL, logger="heartbeats.engine"), engine_thread(engine):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"})
        simulator.exchange.inject(PATH, symbol="BTCUSDT", countdown_ms=COUNTDOWN, status=418, retry_after=30)
        record = wait_for(
            lambda: EngineLiveness.objects.filter(
                engine_id="banned-engine", banned_until__isnull=False
            ).first(),
            timeout=3,
            message="banned_until on the liveness record",
        )
    assert record.banned_until.timestamp() > time.time() + 20
    assert "418" in record.last_error
    assert any("BANNED" in r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL)


def test_it_stops_a_policy_after_a_fatal_error_without_delaying_the_others(simulator, armed, engine_thread):
    healthy, broken = armed("BTCUSDT", "ETHUSDT")
    with scheduling_lag() as lag, engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT"})
        simulator.exchange.inject(PATH, symbol="ETHUSDT", code=-1121, count=None)
        wait_for(lambda: _refresh(broken).fatal_generation == broken.generation, timeout=3, message="fatal")
        stopped_at = time.time()
        # Three regular beats of the healthy policy after the failure: time enough for any retry to show.
        wait_for(
            lambda: len([b for b in _regular(healthy) if b.sent_at.timestamp() > stopped_at]) >= 3,
            timeout=6,
            message="three beats of the healthy policy",
        )
    broken.refresh_from_db()
    assert broken.status().state == Status.FAILING
    assert "-1121" in broken.last_error
    refused = [r for r in countdown_requests(simulator, "ETHUSDT") if r["code"] == -1121]
    assert len(refused) == 1, "a fatal error must not be retried"
    # Regular beats (due an interval after the previous one, not the first arm) around and after the failure.
    on_time = [b for b in _regular(healthy) if b.sent_at.timestamp() > stopped_at - 1]
    assert len(on_time) >= 3
    # On time, but for what a machine busy with other tests adds to any thread's wake-up.
    assert max((b.sent_at - b.due_at).total_seconds() for b in on_time) < 0.05 + lag()
    assert _refresh(healthy).status().state == Status.ARMED


def _regular(policy) -> list[Beat]:
    """Confirmed beats due an interval after the previous one (not the first arm)."""
    policy.refresh_from_db()
    return [
        b for b in beats(policy) if b.due_at > policy.desired_changed_at and b.outcome == Outcome.CONFIRMED
    ]


def _refresh(policy):
    policy.refresh_from_db()
    return policy
