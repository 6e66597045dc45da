"""The exchange's clock moving under us, and a database that is briefly unavailable, do not stop beats."""

import sqlite3
import time

import pytest
from django.db import OperationalError, connection

from heartbeats.desk import actions
from heartbeats.engine import Engine, records
from heartbeats.engine.records import Writer
from heartbeats.models import Beat, Outcome, Status
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("skew_ms", [3000, -3000])
def test_it_resyncs_and_rearms_through_the_planner_when_the_clock_moves(
    simulator, make_account, make_policy, engine_thread, skew_ms
):
    simulator.exchange.set_skew(skew_ms)
    policy = make_policy(make_account(), "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"})
        wait_for(lambda: _status(policy) == Status.ARMED, message="armed status")
        changed = countdown_requests(simulator)[-1]["id"]
        simulator.exchange.set_skew(-skew_ms)  # the exchange's clock jumps by 6 s
        states = []

        def recovered():
            """The status, looked at all along, until the refusal, the new clock sync, two beats after, and
            the refusal's error gone from the policy (its results are stored a moment after they come)."""
            states.append(_status(policy))
            after = [e["path"] for e in simulator.exchange.requests_log(since_id=changed)]
            refused = [r for r in countdown_requests(simulator, since_id=changed) if r["code"] == -1021]
            return (
                refused
                and "/fapi/v1/time" in after
                and Beat.objects.filter(policy=policy, sent_at__gt=policy.updated_at).count() >= 2
                and countdown_requests(simulator)[-1]["status"] == 200
                and "1021" not in policy.last_error
            )

        wait_for(recovered, timeout=5, every=0.05, message="the beats after the clock moved")
    refused = [r for r in countdown_requests(simulator, since_id=changed) if r["code"] == -1021]
    assert refused, "the skew change should have made the exchange refuse one request"
    assert set(states) == {Status.ARMED}
    assert "1021" not in policy.last_error
    # The refusal is on record; the client did not resend it: the clock was measured again, and only
    # then did the next beat leave, signed after its own generation check.
    assert Beat.objects.filter(policy=policy, error_code=-1021, outcome=Outcome.TEMPORARY).count() == 1
    after = [
        e["path"].rsplit("/", 1)[1]
        for e in simulator.exchange.requests_log()
        if e["id"] >= refused[0]["id"] and not e["path"].endswith("exchangeInfo")
    ]
    assert after[:3] == ["countdownCancelAll", "time", "countdownCancelAll"]
    assert Beat.objects.filter(policy=policy, sent_at__gt=policy.updated_at).count() >= 2


@pytest.mark.skipif(connection.vendor != "sqlite", reason="locks the SQLite test database file")
def test_it_keeps_beating_while_the_database_is_locked(simulator, make_account, make_policy, engine_thread):
    policy = make_policy(make_account(), "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config(lease_ttl=3.0, lease_margin=0.4))):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"})
        locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=5)
        locker.execute("BEGIN IMMEDIATE")  # every other writer now waits
        locked_at = time.time()

        # Locked for as long as the engine takes to send two beats (1 s apart), well past SQLite's own waits.
        def beats_while_locked():
            sent = [r for r in countdown_requests(simulator, "BTCUSDT") if r["received_at"] > locked_at]
            return sent if len(sent) >= 2 else None

        sent_while_locked = wait_for(beats_while_locked, timeout=4, message="two beats while locked")
        stored_while_locked = Beat.objects.filter(policy=policy).count()
        locker.execute("COMMIT")
        locker.close()
        wait_for(
            lambda: (
                Beat.objects.filter(policy=policy, sent_at__gte=_dt(locked_at)).count()
                >= len(sent_while_locked)
            ),
            timeout=2,
            message="delayed beats stored",
        )
    assert len(sent_while_locked) >= 2
    assert all(r["status"] == 200 for r in sent_while_locked)
    assert Beat.objects.filter(policy=policy).count() > stored_while_locked
    assert simulator.exchange.cancellations() == []


def test_it_keeps_results_in_memory_while_writes_fail(make_account, make_policy, monkeypatch):
    policy = make_policy(make_account(), "BTCUSDT")
    real = records.write_now
    failures = []

    def flaky(beats, updates):
        if len(failures) < 2:
            failures.append(len(beats))
            raise OperationalError("database is locked")
        real(beats, updates)

    monkeypatch.setattr(records, "write_now", flaky)
    writer = Writer(every=0.01)
    writer.start()
    for n in range(3):
        beat = Beat(policy=policy, generation=1, kind="arm", countdown_ms=6000, sent_at=_dt(time.time() + n))
        beat.outcome = Outcome.CONFIRMED
        writer.submit(beat, policy.pk, {"last_outcome": Outcome.CONFIRMED, "last_arm_generation": n})
        if n == 0:
            wait_for(lambda: failures, message="a failed write")  # the rest join results held in memory
    assert writer.stop(timeout=5)
    assert failures and writer.last_error == ""
    assert Beat.objects.filter(policy=policy).count() == 3
    policy.refresh_from_db()
    assert policy.last_arm_generation == 2


def _status(policy):
    policy.refresh_from_db()
    return policy.status().state


def _dt(epoch):
    from heartbeats.engine.plan import as_datetime

    return as_datetime(epoch)


def test_it_stores_the_other_results_when_a_policy_was_deleted_meanwhile(make_account, make_policy):
    kept, deleted = make_policy(make_account(), "BTCUSDT"), make_policy(make_account(), "ETHUSDT")
    deleted_id = deleted.pk
    deleted.delete()
    writer = Writer(every=0.01)
    writer.start()
    for policy_id in (deleted_id, kept.pk):
        beat = Beat(
            policy_id=policy_id, generation=1, kind="arm", countdown_ms=6000, sent_at=_dt(time.time())
        )
        beat.outcome = Outcome.CONFIRMED
        writer.submit(beat, policy_id, {"last_outcome": Outcome.CONFIRMED, "last_arm_generation": 1})
    assert writer.stop(timeout=5), "the writer must not get stuck on the deleted policy's beat"
    assert list(Beat.objects.values_list("policy_id", flat=True)) == [kept.pk]
    kept.refresh_from_db()
    assert kept.last_arm_generation == 1


def test_accounts_on_one_host_share_one_clock_measurement(
    simulator, make_account, make_policy, engine_thread
):
    """The host has one clock: five accounts on it are kept in time by one measurement a period, not five,
    and every one of them beats with it."""
    simulator.exchange.set_skew(1500)
    accounts = [make_account() for _ in range(5)]
    policies = [make_policy(a, "BTCUSDT") for a in accounts]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config(time_sync_every=1.0))):
        wait_for(lambda: len(simulator.exchange.countdowns()) == 5, message="five armed accounts")
        first = simulator.exchange.requests_log()[-1]["id"]
        time.sleep(3.5)
        synced = [e for e in simulator.exchange.requests_log(since_id=first) if e["path"] == "/fapi/v1/time"]
        beats = countdown_requests(simulator, since_id=first)
    # One a second for the host (3-4 in 3.5 s), where one per account would be 15-20.
    assert 2 <= len(synced) <= 5, len(synced)
    # Every account signs with the shared offset: the exchange, 1.5 s ahead, refuses none of them.
    assert {e["api_key_last4"] for e in beats} == {a.api_key[-4:] for a in accounts}
    assert all(e["status"] == 200 for e in beats), [e for e in beats if e["status"] != 200][:1]
