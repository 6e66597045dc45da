"""Scenario group 7: everyday incidents -- bursts of failures from the exchange, clock steps, the engine's
process killed or paused, the database locked or unreachable, the web recycled. In each, people keep
working: a policy or two is disarmed during the fault, the others must stay armed throughout.
"""

import os
import random
import signal
import time

from faults.scenarios import CD, FAST_HOLD, hold_next_beats, in_thread, watch_second_zero
from faults.world import Spec

# A scenario's own time bounds, stretched by `fault_suite.py --slack` on a machine busy with other work.
SLACK = float(os.environ.get("FAULT_SUITE_SLACK", "1"))
# From a killed engine's last lease renewal to another engine holding the lease: the lease (3 s), the
# standby's next look at it (at most a second) and its start-up.
TAKE_OVER_BOUND = 5.0 * SLACK
# A Disarm all must answer within this, whatever another process holds.
ANSWER_BOUND = 1.0 * SLACK
# No request of Cancel orders now may still be "sending" this long after its process was killed.
PENDING_BOUND = 30.0 * SLACK


def _burst(world, faults: list[dict], hits: int, timeout: float = 30) -> None:
    """Each fault on every path that arms or renews a switch (options: configuration and heartbeat alike),
    a disarm of two policies meanwhile; over once `hits` faulty answers were given."""
    for options in faults:
        for path in world.switch_paths:
            world.fault(path=path, **options)
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


def kill_worker(world) -> None:
    """`kill -9` of the whole worker whose engine holds the lease (every process of its cluster), at a random
    moment of its renewal cycle, with a second worker standing by (as on another host): the second one must
    hold the lease and beat within the lease's bound, and a disarm meanwhile must win."""
    world.start_standby_worker()
    victim = world.engine_pid(active=True)
    if victim is None or not world.worker.owns(victim):
        raise RuntimeError("the first worker does not hold the lease")
    time.sleep(random.uniform(0.0, 1.0))  # noqa: S311 - any moment of the renewal cycle
    killed_at = time.time()
    os.killpg(world.worker.pgid, signal.SIGKILL)
    world.note("the first worker killed (its whole process group)")
    time.sleep(0.5)
    world.disarm([world.policies[1]])
    took = None
    if world.wait_until(
        lambda: any(r["holds_lease"] and world.standby.owns(r["pid"]) for r in world.engine_rows()),
        TAKE_OVER_BOUND + 5,
        "the second worker's engine",
        every=0.05,
    ):
        took = time.time() - killed_at
        world.note(f"the second worker took over {took:.1f} s after the kill")
    world.fault_over()
    if took is None or took > TAKE_OVER_BOUND:
        raise RuntimeError(f"no take-over within {TAKE_OVER_BOUND} s of the kill")


def frozen_worker_disarm_all(world) -> None:
    """The whole worker stopped (SIGSTOP) while one of its processes is inside a write transaction, holding
    the locks a disarm needs for as long as it stays stopped; an operator presses Disarm all. The press must
    answer within a second and its zeros reach the exchange; once the worker runs again the disarm is
    recorded and nothing re-arms."""
    world.freeze_worker_in_transaction()
    start = time.time()
    reply = world.web_disarm_all("fault suite: worker frozen mid-write")
    answered = time.time() - start
    world.note(f"Disarm all answered {reply.status_code} in {answered:.2f} s")
    world.wait_zeros(world.policies, start, 10)
    time.sleep(2)
    world.worker.resume()
    world.wait_until(world.disarm_all_recorded, 20, "the Disarm all recorded")
    world.fault_over()
    if answered > ANSWER_BOUND:
        raise RuntimeError(f"Disarm all took {answered:.2f} s to answer")


def web_killed_mid_disarm_all(world) -> None:
    """No engine alive (the worker SIGSTOPped, outside a transaction), Disarm all through the web with its
    zeros slowed down, and the gunicorn worker sending them killed (SIGKILL) in the middle: every zero, the
    second ones included, must still arrive, from the process that takes its duties over."""
    world.pause_worker()
    world.wait_engine(False, 15, "the engine to look dead")
    world.fault(path=CD, countdown_ms=0, latency_ms=1500, count=len(world.policies))
    start = time.time()
    thread, box = in_thread(world.web_disarm_all)
    time.sleep(0.7)
    killed = world.web.signal_workers(signal.SIGKILL)
    world.note(f"gunicorn worker(s) {killed} killed while sending the zeros")
    thread.join(30)
    world.web.wait_new_worker(killed)
    world.wait_zeros(world.policies, start, 30)
    world.clear_faults()
    time.sleep(8)  # the second zeros, from the new worker's owed-zeros duty
    world.worker.resume()
    world.fault_over()


def web_killed_mid_cancel(world) -> None:
    """Cancel orders now for every policy through the web, its requests held at the exchange, and the gunicorn
    worker sending them killed (SIGKILL): within 30 s no request may be left "sending"; the ones the dead
    process never heard back about say so."""
    world.fault(path="/fapi/v1/allOpenOrders", hold="cancel", hold_timeout=60, count=None)
    pressed = time.time()
    operation = world.web_cancel_orders_all("fault suite: runaway strategy")
    world.wait_held("cancel", 1, 10)
    killed = world.web.signal_workers(signal.SIGKILL)
    world.note(f"gunicorn worker(s) {killed} killed in the middle of Cancel orders now (#{operation})")
    world.release("cancel")
    world.clear_faults()
    left = None
    if world.wait_until(
        lambda: world.cancels_pending(operation) == 0, PENDING_BOUND, "no request left pending", every=0.5
    ):
        left = time.time() - pressed
        world.note(f"no request pending {left:.1f} s after the press: {world.cancel_states(operation)}")
    world.fault_over()
    if left is None:
        raise RuntimeError(f"requests still pending after the kill: {world.cancel_states(operation)}")


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
    Spec("kill-worker", "8. `kill -9` of the whole active worker, a second one standing by", kill_worker),
    Spec(
        "frozen-worker-disarm-all",
        "9. whole worker SIGSTOPped inside a write transaction, Disarm all",
        frozen_worker_disarm_all,
        web=True,
        countdown_ms=15000,
    ),
    Spec(
        "web-killed-mid-disarm-all",
        "10. web worker killed in the middle of a web-sent Disarm all, no engine",
        web_killed_mid_disarm_all,
        web=True,
        countdown_ms=15000,
        env=FAST_HOLD,
    ),
    Spec(
        "web-killed-mid-cancel",
        "11. web worker killed in the middle of Cancel orders now",
        web_killed_mid_cancel,
        web=True,
    ),
]
