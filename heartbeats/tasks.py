"""django-q2 tasks: the engine's shifts, the keeper that restarts a broken chain of shifts, and pruning."""

import logging
import signal
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)


def run_shift(egress: str | None = None) -> str:
    """One engine shift: standby until the lease is free, then `ENGINE_SHIFT_SECONDS` of active duty, ending
    well before the queue's `timeout` (which is shorter than `retry`, so no shift is ever delivered twice
    while it runs). A SIGTERM or SIGINT ends the shift cleanly, releasing the lease."""
    from heartbeats.desk.alerts import monitor_ping as healthcheck
    from heartbeats.desk.alerts import runner
    from heartbeats.desk.killswitch import stake
    from heartbeats.engine import Engine, EngineConfig
    from heartbeats.engine.chain import enqueue_shift

    # Threads of this task process, outliving the shift: the worker takes part in alerting and pings the
    # outside monitor (heartbeats.alerts). Neither is on the beat path.
    runner.ensure_started(worker=True)
    healthcheck.ensure_started()
    stake.ensure_started()  # orders at stake, read within the weight budget
    egress = egress or settings.ENGINE_EGRESS
    config = EngineConfig.from_settings()
    stop = threading.Event()
    deadline = time.time() + settings.Q_CLUSTER["timeout"] - 10
    previous = _on_signals(lambda *_: stop.set())
    if _terminating.is_set():
        stop.set()  # the worker was told to stop while it waited for this task
    try:
        engine = Engine(egress, config=config, successor=enqueue_shift, single_standby=True)
        return engine.run(stop, config.shift_seconds, standby_limit=config.standby_seconds, deadline=deadline)
    finally:
        _restore(previous)


def keeper() -> str:
    """Every minute: start a shift for any egress without a live engine; forget long-gone engines."""
    from heartbeats.engine.chain import ensure_chain, served_egresses
    from heartbeats.models import EngineLiveness

    started = [egress for egress in sorted(served_egresses()) if ensure_chain(egress)]
    EngineLiveness.objects.filter(seen_at__lt=timezone.now() - timedelta(hours=1)).delete()
    return f"started shifts for {', '.join(started)}" if started else "all engines alive"


def prune() -> str:
    """Delete beats and finished queue tasks older than BEAT_RETENTION_DAYS, in small batches."""
    from django_q.models import Task

    from heartbeats.models import Beat

    cutoff = timezone.now() - timedelta(days=settings.BEAT_RETENTION_DAYS)
    from heartbeats.desk.strategies import pings

    beats = _delete_in_batches(Beat.objects.filter(sent_at__lt=cutoff))
    tasks = _delete_in_batches(Task.objects.filter(stopped__lt=cutoff))
    pings.prune()  # also every minute by the sweeper; here in case no web process runs
    return f"pruned {beats} beats and {tasks} task results older than {cutoff:%Y-%m-%d %H:%M}"


def _delete_in_batches(queryset, size: int = 5000) -> int:
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:size])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids).delete()[0]


# Set when this task process got SIGTERM while it had no task (heartbeats.engine.signals).
_terminating = threading.Event()


def note_termination(signum, frame) -> None:
    _terminating.set()


def _on_signals(handler):
    if threading.current_thread() is not threading.main_thread():
        return None
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore(previous) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)
