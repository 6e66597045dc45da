"""An engine that cannot read desired state cannot see a disarm: it says so at once, stops arming from memory
after a stated bound, and the web sends the disarms itself. Connections the database dropped are replaced
by every thread at its next step."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection

from heartbeats.desk import actions
from heartbeats.engine import Engine, engine_alive, sql, watcher
from heartbeats.models import Beat, BeatKind, CountdownPolicy, EngineLiveness
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

STALE_AFTER = 1.0  # the engine's bound for arming from memory
DEAF_AFTER = timedelta(seconds=1.5)  # from here on the web sends the disarms


@pytest.fixture
def unreadable(monkeypatch):
    """Makes the engine's reads of desired state fail (as with a dead database connection) while on."""
    state = {"on": False, "failed_at": []}

    def guard(real):
        def read(*args, **kwargs):
            if state["on"]:
                state["failed_at"].append(time.time())
                raise OperationalError("server closed the connection unexpectedly")
            return real(*args, **kwargs)

        return read

    monkeypatch.setattr(watcher, "changed_since", guard(watcher.changed_since))
    monkeypatch.setattr(sql, "desired", guard(sql.desired))
    return state


@pytest.fixture
def quick_bounds(monkeypatch, settings, run_duties):
    monkeypatch.setattr(EngineLiveness, "DEAF_AFTER", DEAF_AFTER)
    run_duties("web", "owed-zeros")  # the web's second zero
    settings.ENGINE_RECV_WINDOW_MS = 1000
    settings.ENGINE_CLOCK_ERROR_MS = 300


def _arms_after(simulator, symbol, when):
    return [
        r
        for r in countdown_requests(simulator, symbol)
        if r["countdown_ms"] > 0 and r["status"] == 200 and r["received_at"] > when
    ]


def test_a_deaf_engine_stops_arming_and_the_web_sends_the_disarm(
    simulator, make_account, make_policy, engine_thread, unreadable, quick_bounds
):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=1, countdown_ms=6000)
    # A witness, disarmed once the engine hears again (its countdown outlasts the deafness).
    witness = make_policy(account, "ETHUSDT", interval_s=1, countdown_ms=60_000)
    for p in (policy, witness):
        actions.arm(p.pk, user=None, ip=None)
    engine = Engine(config=fast_config(desired_stale_after=STALE_AFTER, liveness_every=0.2))
    with engine_thread(engine):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT"}, message="armed")
        wait_for(engine_alive, message="engine alive")

        unreadable["on"] = True
        deaf_at = time.time()
        wait_for(lambda: not engine_alive(), timeout=DEAF_AFTER.total_seconds() + 1.5, message="seen as deaf")
        assert time.time() - deaf_at < DEAF_AFTER.total_seconds() + 1.0
        record = EngineLiveness.objects.get(engine_id=engine.engine_id)
        assert record.holds_lease and record.is_deaf()
        assert record.desired_read_at.timestamp() <= deaf_at + 0.1
        assert "Database reads failing" in record.last_error

        # Arms from memory stopped within the bound (plus one round trip).
        late = _arms_after(simulator, "BTCUSDT", deaf_at + STALE_AFTER + 0.3)
        assert late == []

        operation = actions.disarm(policy.pk, user=None, ip=None)
        disarmed_at = time.time()
        # Sent by this action, or by the web's sweeper if it was already on its way.
        wait_for(lambda: "BTCUSDT" not in armed_symbols(simulator), timeout=2, message="the web's zero")
        assert [r["result"] for r in actions.wait_for_results(operation)] == [actions.DISARMED]
        wait_for(
            lambda: _refresh(policy).final_disarm_generation == _refresh(policy).generation,
            timeout=4,
            message="the web's second zero",
        )

        unreadable["on"] = False
        wait_for(engine_alive, timeout=3, message="engine hears again")
        # The engine reads the disarm it missed before any later change: once it has sent the zero of the
        # witness, disarmed now, it follows the disarm, and it never re-armed it meanwhile.
        actions.disarm(witness.pk, user=None, ip=None)
        wait_for(
            lambda: Beat.objects.filter(
                policy=witness, kind=BeatKind.DISARM, sender=engine.engine_id
            ).exists(),
            timeout=3,
            message="the engine's zero for the witness",
        )
    assert "BTCUSDT" not in armed_symbols(simulator)
    assert _arms_after(simulator, "BTCUSDT", disarmed_at) == []
    assert simulator.exchange.cancellations() == []


def test_an_engine_keeps_arming_through_a_blip_shorter_than_the_bound(
    simulator, make_account, make_policy, engine_thread, unreadable, quick_bounds
):
    policy = make_policy(make_account(), "BTCUSDT", interval_s=1, countdown_ms=6000)
    actions.arm(policy.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config(desired_stale_after=3.0))):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"}, message="armed")
        unreadable["on"] = True
        blip = time.time()
        # Through the blip (well within the 3 s bound), reads fail and arms still go out.
        wait_for(
            lambda: unreadable["failed_at"] and _arms_after(simulator, "BTCUSDT", unreadable["failed_at"][0]),
            timeout=2.0,
            message="an arm sent after a failed read",
        )
        unreadable["on"] = False
        assert time.time() - blip < 3.0
        wait_for(lambda: len(_arms_after(simulator, "BTCUSDT", blip)) >= 2, timeout=3, message="beats")
    # Nobody could have committed a disarm through the same dead database: arming on kept orders safe.
    assert simulator.exchange.cancellations() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends")
def test_it_hears_a_disarm_at_once_after_the_database_drops_every_connection(
    simulator, make_account, make_policy, engine_thread
):
    policies = [
        make_policy(make_account(), s, interval_s=1, countdown_ms=6000) for s in ("BTCUSDT", "ETHUSDT")
    ]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT"}, message="armed")
        # Every thread of the engine has used its connection: the senders open theirs as they start, the
        # writer has stored the beats, the keeper the liveness record.
        wait_for(
            lambda: engine_alive() and {b.policy_id for b in Beat.objects.all()} == {p.pk for p in policies},
            message="the beats stored",
        )
        with connection.cursor() as cursor:
            terminated = _backends() - {connection.connection.info.backend_pid}
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
                [list(terminated)],
            )
        wait_for(lambda: not terminated & _backends(), timeout=3, message="the terminated sessions gone")
        actions.disarm(policies[0].pk, user=None, ip=None)
        disarmed_at = time.time()
        wait_for(lambda: "BTCUSDT" not in armed_symbols(simulator), timeout=3, message="zero after the drop")
        took = time.time() - disarmed_at
        wait_for(lambda: len(_arms_after(simulator, "ETHUSDT", disarmed_at)) >= 2, timeout=3, message="beats")
        wait_for(
            lambda: _refresh(policies[0]).final_disarm_generation == _refresh(policies[0]).generation,
            timeout=8,
            message="second zero",
        )
    assert took < 2.0
    assert _arms_after(simulator, "BTCUSDT", disarmed_at) == []
    assert "ETHUSDT" in armed_symbols(simulator)


def _backends() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return {pid for (pid,) in cursor.fetchall()}


def _refresh(policy) -> CountdownPolicy:
    policy.refresh_from_db()
    return policy
