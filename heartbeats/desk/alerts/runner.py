"""The alerting duty: one process at a time (a web process or the worker, whichever holds the duty row)
evaluates conditions every EVALUATE_EVERY (10) seconds and sends what is due.

Every web process and the worker start this thread; the duty is taken with a conditional UPDATE when free or
expired (DUTY_TTL), so when the worker's host dies a web process carries on, and the web raises the
engine-down alert itself. Sends run on a small pool so that a slow channel never holds up the evaluation or
the duty's renewal.
"""

import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models import Q
from django.utils import timezone

from heartbeats.background import ProcessThread
from heartbeats.desk.alerts import delivery, ledger
from heartbeats.models.alerts import Duty

log = logging.getLogger(__name__)

TICK = 1.0
# Every evaluation reads the whole board (presenters.snapshot): 8 ms of CPU at a small desk, so seconds apart
# (it runs in the worker beside the engine, too); a problem is told within this of its hold, and lapses
# shorter than this are found in the beats.
EVALUATE_EVERY = 10.0
# Renewed this often, not every tick: on SQLite each renewal is a commit, and every commit wakes the engines.
RENEW_EVERY = 5.0
# A holder that stopped renewing loses the duty after this; below every engine-down delay people choose.
DUTY_TTL = timedelta(seconds=15)
SENDERS = 4

_next_due_s: float | None = None  # from the last evaluation (ledger.Evaluation.next_due_s)
_token = uuid.uuid4().hex[:6]


_role = "web"  # "worker" in the worker's processes (ensure_started)


def identity() -> str:
    return f"{_role}:{socket.gethostname()}:{os.getpid()}:{_token}"


def ensure_started(*, worker: bool = False) -> None:
    """Start this process's alerting thread once (again in a forked child). The worker's waits DUTY_TTL
    longer before taking the duty: alerting belongs with the web processes, which read the board anyway, and
    the worker's CPU with the heartbeats; it takes over when no web process is alive."""
    global _role
    if worker:
        _role = "worker"
    _thread.ensure(DUTY_TTL if worker else timedelta(0))


def take_duty(
    name: str = ledger.DUTY,
    holder: str | None = None,
    ttl: timedelta = DUTY_TTL,
    patience: timedelta = timedelta(0),
    over_worker: bool = False,
) -> bool:
    """Take or renew duty `name`; True while this process holds it. A process with `patience` takes it only
    once it has been free that much longer; one `over_worker` takes it from the worker too (alerting belongs
    with the web processes while any is alive)."""
    holder = holder or identity()
    now = timezone.now()
    free = Q(holder=holder) | Q(expires_at__isnull=True) | Q(expires_at__lt=now - patience)
    if over_worker:
        free |= Q(holder__startswith="worker:")
    taken = Duty.objects.filter(Q(name=name) & free).update(holder=holder, expires_at=now + ttl)
    if not taken and not Duty.objects.filter(name=name).exists():
        Duty.objects.get_or_create(name=name)  # the first time anywhere: the row, then the duty
        taken = Duty.objects.filter(Q(name=name) & free).update(holder=holder, expires_at=now + ttl)
    return bool(taken)


def run_once(
    pool: ThreadPoolExecutor | None = None,
    *,
    evaluate: bool = True,
    renew: bool = True,
    patience: timedelta = timedelta(0),
) -> bool:
    """One step of the duty: renew it (unless held and `renew` is false), evaluate, hand due notifications
    to `pool` (or send them here)."""
    if renew and not take_duty(patience=patience, over_worker=_role == "web"):
        return False
    if evaluate:
        global _next_due_s
        _next_due_s = ledger.evaluate().next_due_s
    for pk in delivery.due_ids():
        if pool is None:
            delivery.deliver(pk)
        else:
            pool.submit(_deliver_logged, pk)
    return True


def _deliver_logged(pk: int) -> None:
    try:
        delivery.deliver(pk)
    except Exception as exc:  # its claim runs out and it is tried again
        log.warning("delivering notification %s failed (%s); it will be tried again", pk, exc)
        connections.close_all()
    else:
        close_old_connections()  # this pool thread's own connection, healed before its next send


def _run_forever(patience: timedelta) -> None:
    pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="alert-send")
    next_evaluation = next_renewal = 0.0
    failing = False
    held = False
    while True:
        time.sleep(TICK)
        if not settings.ALERTS_RUN:
            continue
        now = time.monotonic()
        try:
            # Held or not, the duty is looked at every RENEW_EVERY: a process waiting for it need not ask
            # every second (it is taken over DUTY_TTL after its holder stopped anyway).
            renew = now >= next_renewal
            if not renew and not held:
                continue
            if renew and not held:
                next_evaluation = (
                    0.0  # a process that just took the duty looks at once: it may be a take-over
                )
            holding = run_once(pool, evaluate=now >= next_evaluation, renew=renew, patience=patience)
            if renew:
                next_renewal = now + RENEW_EVERY
            if holding and now >= next_evaluation:
                # Sooner when a problem's hold ends before then (at least a second apart).
                wait = EVALUATE_EVERY if _next_due_s is None else min(EVALUATE_EVERY, max(1.0, _next_due_s))
                next_evaluation = now + wait
            if holding != held:
                log.info("alerting duty %s by %s", "taken" if holding else "left", identity())
                held = holding
            if failing:
                log.warning("alerting works again")
            failing = False
        except Exception as exc:
            if not failing:
                log.warning("alerting failed (%s); trying again every second", exc)
            failing = True
            held = False
            connections.close_all()
            continue
        close_old_connections()


_thread = ProcessThread("alerts", _run_forever)
