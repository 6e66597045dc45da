"""One supervisor per process: only a duty's holder works it, a failing duty never stops another, and a
holder that stops (or dies) hands its duties over within the lease."""

import threading
import time

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from heartbeats.domain.leases import Lease
from heartbeats.duties.supervisor import DutySpec, Supervisor
from heartbeats.models import Duty
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class Counting:
    """A step that counts its runs per process, and fails while `failing` is set."""

    def __init__(self):
        self.runs: dict[str, int] = {}
        self.failing = threading.Event()
        self.lock = threading.Lock()

    def step_for(self, who: str):
        def step():
            with self.lock:
                self.runs[who] = self.runs.get(who, 0) + 1
            if self.failing.is_set():
                raise ValueError("bad row in the windows table")

        return step


def spec(name: str, step, *, kinds=("web", "worker"), prefer=None, period=0.05) -> DutySpec:
    return DutySpec(name=name, what=name, kinds=frozenset(kinds), period=period, step=step, prefer=prefer)


@pytest.fixture
def supervisors():
    made = []

    def make(kind, specs):
        s = Supervisor(kind, specs)
        s.start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop(timeout=5)


def test_only_the_holder_of_a_duty_runs_it(quick_leases, supervisors):
    counting = Counting()
    first = supervisors("web", [spec("maintenance", counting.step_for("first"))])
    second = supervisors("web", [spec("maintenance", counting.step_for("second"))])
    wait_for(lambda: sum(counting.runs.values()) >= 20, timeout=5, message="the duty running")
    assert len(counting.runs) == 1, f"two processes ran one duty: {counting.runs}"
    holder = Duty.objects.get(name="maintenance").holder
    assert holder in (first.holder, second.holder)
    assert wait_for(lambda: Duty.objects.get(name="maintenance").last_run_at is not None, timeout=3)


def test_a_holder_that_stops_hands_its_duty_over_at_once(quick_leases, supervisors):
    counting = Counting()
    first = supervisors("web", [spec("maintenance", counting.step_for("first"))])
    wait_for(lambda: counting.runs.get("first", 0) > 0, timeout=5, message="the first holder running")
    second = supervisors("web", [spec("maintenance", counting.step_for("second"))])
    first.stop(timeout=5)
    assert Duty.objects.get(name="maintenance").holder in ("", second.holder)
    wait_for(lambda: counting.runs.get("second", 0) > 0, timeout=2, message="the other process taking over")


def test_a_holder_that_dies_loses_its_duty_when_its_lease_runs_out(quick_leases, supervisors):
    # A process killed mid-run: its row says it holds the duty, and it renews nothing any more.
    Duty.objects.create(name="maintenance", holder="web:dead:1:abcdef", expires_at=None)
    Lease("maintenance", "web:dead:1:abcdef", 0.6).acquire()
    counting = Counting()
    started = time.monotonic()
    supervisors("web", [spec("maintenance", counting.step_for("alive"))])
    wait_for(lambda: counting.runs.get("alive", 0) > 0, timeout=5, message="the take-over")
    # Not before the dead holder's lease ran out (0.6 s, on the database's clock).
    assert time.monotonic() - started >= 0.4


def test_a_failing_duty_is_recorded_retried_with_backoff_and_never_stops_another(quick_leases, supervisors):
    broken, healthy = Counting(), Counting()
    broken.failing.set()
    supervisors(
        "worker",
        [spec("strategy-silence", broken.step_for("w")), spec("maintenance", healthy.step_for("w"))],
    )
    wait_for(lambda: Duty.objects.filter(name="strategy-silence", failures__gte=3).exists(), timeout=5)
    row = Duty.objects.get(name="strategy-silence")
    assert row.last_error == "ValueError: bad row in the windows table"
    assert row.last_error_at is not None
    # Backoff: period × 2^(n-1) -- 0.05, 0.1, 0.2, 0.4 s... -- not a retry every period.
    time.sleep(0.5)  # a real interval: the number of attempts in it is what is measured
    attempts = broken.runs["w"]
    assert attempts <= 7, f"{attempts} attempts in about a second: no backoff"
    # The other duty of the same process ran all along.
    assert healthy.runs["w"] >= 10
    broken.failing.clear()
    wait_for(lambda: Duty.objects.get(name="strategy-silence").failures == 0, timeout=10, message="recovery")


def test_a_preferred_kind_takes_a_duty_from_the_others_and_they_wait_longer(quick_leases, supervisors):
    counting = Counting()
    worker = supervisors("worker", [spec("alerts", counting.step_for("worker"), prefer="web")])
    wait_for(lambda: counting.runs.get("worker", 0) > 0, timeout=5, message="the worker alone holding it")
    web = supervisors("web", [spec("alerts", counting.step_for("web"), prefer="web")])
    wait_for(lambda: Duty.objects.get(name="alerts").holder == web.holder, timeout=5, message="web takes it")
    before = counting.runs["worker"]
    time.sleep(0.6)  # a real interval: a lease's length, after which the worker would run it if it could
    assert counting.runs["worker"] <= before + 1, "the worker kept running a duty the web holds"
    assert worker.holds("alerts") is False


def test_a_duty_a_process_may_not_hold_is_not_run_there(quick_leases, supervisors):
    counting = Counting()
    supervisors("web", [spec("orders-at-stake", counting.step_for("web"), kinds=("worker",))])
    time.sleep(0.5)  # a real interval: the web's supervisor would have taken the free duty by now
    assert counting.runs == {}
    assert not Duty.objects.filter(name="orders-at-stake").exists()


def test_a_resident_duty_that_fails_is_started_again(supervisors):
    started = []

    def run(stop):
        started.append(time.monotonic())
        if len(started) < 3:
            raise RuntimeError("engine blew up")
        stop.wait()

    Duty.objects.create(name="engine:default")
    supervisors(
        "worker", [DutySpec(name="engine:default", what="engine", kinds=frozenset({"worker"}), run=run)]
    )
    wait_for(lambda: len(started) >= 3, timeout=10, message="restarts")
    row = Duty.objects.get(name="engine:default")
    assert row.failures == 2 and "engine blew up" in row.last_error
    assert started[2] - started[1] >= started[1] - started[0], "restarts back off"


def test_a_dropped_connection_costs_one_run(quick_leases, supervisors):
    counting = Counting()
    dropped = []

    def step():
        counting.step_for("w")()
        if len(dropped) < 1:
            dropped.append(1)
            connection.connection.close()  # the database went away under this thread
            Duty.objects.count()  # the next query fails on the dead connection

    supervisors("worker", [spec("prune", step)])
    wait_for(lambda: counting.runs.get("w", 0) >= 5, timeout=5, message="running again on a new connection")


def test_a_duty_keeps_its_connection_between_runs(quick_leases, supervisors):
    """Opening a connection costs more than most steps (on SQLite Django would open one per run): a duty's
    thread opens one and keeps it while it works."""
    opened, runs = [], []

    def count_opened(sender, connection, **kwargs):
        opened.append(threading.current_thread().name)

    def step():
        Duty.objects.exists()
        runs.append(threading.current_thread().name)

    connection_created.connect(count_opened)
    try:
        supervisors("worker", [spec("prune", step)])
        wait_for(lambda: len(runs) >= 10, timeout=5, message="ten runs")
    finally:
        connection_created.disconnect(count_opened)
    assert opened.count(runs[0]) == 1, opened


def test_a_duty_sleeps_until_the_database_has_news_of_what_it_waits_on(quick_leases, supervisors):
    """A duty with nothing to do costs nothing: it asked to look again in a minute, and runs again only when
    a commit is about its subject (a strategy), not for a commit about something else (a beat stored)."""
    import secrets

    from django.utils import timezone

    from heartbeats.engine import wakeup
    from heartbeats.models import Strategy

    runs = []

    def step():
        runs.append(time.monotonic())
        return 60.0

    duty = DutySpec(
        name="strategy-silence",
        what="test",
        kinds=frozenset({"web"}),
        step=step,
        wakes_on=(wakeup.STRATEGIES,),
    )
    supervisors("web", [duty])
    wait_for(lambda: len(runs) >= 1, timeout=5, message="the first run")
    time.sleep(1.5)  # the listener's first look (it knows nothing yet) may bring one more run
    settled = len(runs)
    Duty.objects.filter(name="prune").update(last_run_at=timezone.now())  # a commit about something else
    time.sleep(2.5)
    assert len(runs) == settled, "woken by a commit that was not about strategies"
    Strategy.objects.create(name="mm", ping_key_hash=secrets.token_hex(32))
    changed = time.monotonic()
    wait_for(lambda: len(runs) > settled, timeout=5, message="the run the new strategy brings")
    assert runs[-1] - changed < 2.5  # within the listener's one-second look, not the duty's minute
