"""Scenario group 7: everyday incidents -- bursts of failures from the exchange, clock steps, the engine's
process killed or paused, the database locked or unreachable, the web recycled. In each, people keep
working: a policy or two is disarmed during the fault, the others must stay armed throughout.
"""

import os
import signal
import time

from faults.scenarios import CD, FAST_HOLD, hold_next_beats, in_thread, watch_second_zero
from faults.world import Spec


def _burst(world, faults: list[dict], hits: int, timeout: float = 30) -> None:
    for options in faults:
        world.fault(path=CD, **options)
    time.sleep(1)
    targets = world.policies[:2]
    world.disarm(targets)
    world.wait_until(lambda: world.fault_hits() >= hits, timeout, f"{hits} faulty answers")
    world.clear_faults()


def burst_5xx(world) -> None:
    """20 countdown requests answered 500, then 502."""
    _burst(world, [{"status": 500, "count": 10}, {"status": 502, "count": 10}], 20)
    world.fault_over()


def unknown_outcome(world) -> None:
    """16 answers of 503 "Unknown error" (-1006): the first 8 applied by the exchange, the next 8 not."""
    _burst(world, [{"kind": "unknown", "apply": True, "count": 8}, {"kind": "unknown", "count": 8}], 16)
    world.fault_over()


def dropped_requests(world) -> None:
    """Connections closed without an answer (4 not applied, 4 applied), then 3 answers slower than the
    client's read timeout."""
    _burst(
        world,
        [
            {"drop": True, "count": 4},
            {"drop": True, "apply": True, "count": 4},
            {"latency_ms": 6000, "count": 3},
        ],
        11,
        40,
    )
    time.sleep(7)  # the slow ones reach the exchange (and are refused there, too old) before the verdict
    world.fault_over()


def rate_limited(world) -> None:
    """Three 429s (Retry-After 2 s), then two 418s (Retry-After 3 s)."""
    _burst(
        world,
        [
            {"status": 429, "code": -1003, "retry_after": 2, "count": 3},
            {"status": 418, "code": -1003, "retry_after": 3, "count": 2},
        ],
        5,
    )
    time.sleep(2)
    world.fault_over()


def clock_steps(world) -> None:
    """The exchange's clock 3 s ahead, then 3 s behind, then right again; a disarm in each."""
    for skew, policy in ((3000, world.policies[0]), (-3000, world.policies[1])):
        world.set_skew(skew)
        time.sleep(4)
        world.disarm([policy])
        time.sleep(4)
    world.set_skew(0)
    world.fault_over()


def kill_engine(world) -> None:
    """`kill -9` of the worker process running the active engine while one of its beats is in flight (held
    by the simulator, let through a moment later); a disarm right after."""
    pid = world.engine_pid(active=True)
    if pid is None:
        raise RuntimeError("no active engine found in the liveness table")
    hold_next_beats(world, [world.policies[0]], "mid")
    os.kill(pid, signal.SIGKILL)
    world.note(f"engine process {pid} killed")
    time.sleep(0.5)
    world.disarm([world.policies[1]])
    time.sleep(1)
    world.release("mid")
    world.wait_until(
        lambda: world.engine_pid(active=True, timeout=0.5) not in (None, pid), 20, "a new engine"
    )
    world.fault_over()


def pause_engine(world) -> None:
    """SIGSTOP of the active engine's process for longer than a countdown's slack (countdown − interval),
    a disarm meanwhile; the standby must take over, and the paused engine must not send once resumed."""
    if world.engine_pid(active=False, timeout=30) is None:
        world.note("no standby engine seen before the pause")
    pid = world.engine_pid(active=True)
    if pid is None:
        raise RuntimeError("no active engine found in the liveness table")
    pause = world.spec.countdown_ms / 1000 - world.spec.interval_s + 3
    os.kill(pid, signal.SIGSTOP)
    try:
        world.note(f"engine process {pid} stopped for {pause:g} s")
        time.sleep(4)
        world.disarm([world.policies[1]])
        time.sleep(pause - 4)
    finally:
        os.kill(pid, signal.SIGCONT)
    world.fault_over()


def db_locked(world) -> None:
    """The database locked for 5 s by another session (SQLite: BEGIN EXCLUSIVE; PostgreSQL: the engine's
    tables locked ACCESS EXCLUSIVE); an operator's disarm waits in it."""
    with world.db.locked(5):
        time.sleep(1)
        thread, box = in_thread(lambda: world.disarm([world.policies[0]]))
    thread.join(30)
    if "error" in box:
        world.note(f"the disarm failed: {box['error']}")
    world.fault_over()


def db_unreachable(world) -> None:
    """PostgreSQL refuses connections to the database (and ends its sessions) for 10 s; a disarm right after.
    The countdown (20 s) is longer than the outage plus the interval: nothing may run out."""
    world.db.unreachable(10)
    from django.db import connections

    connections.close_all()
    world.disarm([world.policies[0]])
    world.fault_over()


def web_recycled(world) -> None:
    """No engine alive (worker SIGSTOPped, two beats held in flight); Disarm all through the web, and the
    gunicorn worker serving it recycled (SIGTERM: a graceful restart, as at max_requests) while it sends. The
    held beats are let through after the first `0`s; the second `0`s must still come."""
    held = [world.policies[0], world.policies[-1]]
    hold_next_beats(world, held, "old")
    world.pause_worker()
    world.wait_engine(False, 15, "the engine to look dead")
    world.fault(path=CD, countdown_ms=0, latency_ms=1500, count=None)  # the zeros take a while
    start = time.time()
    thread, box = in_thread(world.web_disarm_all)
    time.sleep(0.5)
    recycled = world.web.signal_workers(signal.SIGTERM)
    world.note(f"gunicorn worker(s) {recycled} recycled during Disarm all")
    thread.join(30)
    committed = time.time()
    if "error" in box or box.get("value") is None or box["value"].status_code != 302:
        world.note(f"Disarm all: {box.get('error') or getattr(box.get('value'), 'status_code', None)}")
    world.wait_zeros(world.policies, start, 15)
    world.clear_faults()
    released_at = time.time()
    world.note(f"{world.release('old')} held beats let through after the first `0`s")
    world.web.wait_new_worker(recycled)
    watch_second_zero(world, committed, released_at)
    world.worker.resume()
    world.fault_over()


SPECS = [
    Spec("burst-5xx", "7. burst of 500/502", burst_5xx, short=True),
    Spec("unknown-outcome", "7. burst of 503 unknown outcome (-1006)", unknown_outcome, short=True),
    Spec("dropped-requests", "7. dropped connections and read timeouts", dropped_requests, short=True),
    Spec("rate-limited", "7. 429 then 418 with Retry-After", rate_limited, short=True),
    Spec("clock-steps", "7. server clock +3 s, then −3 s", clock_steps, short=True),
    Spec("kill-engine", "7. `kill -9` of the active engine mid-beat", kill_engine, short=True),
    Spec("pause-engine", "7. SIGSTOP of the active engine beyond the slack", pause_engine, short=True),
    Spec("db-locked", "7. database locked for 5 s", db_locked, short=True, countdown_ms=10000),
    Spec(
        "db-unreachable",
        "7. database unreachable for 10 s",
        db_unreachable,
        only="postgresql",
        countdown_ms=20000,
    ),
    Spec(
        "web-recycled",
        "7. web worker recycled during Disarm all, no engine",
        web_recycled,
        web=True,
        countdown_ms=12000,
        env=FAST_HOLD,
    ),
]
