"""The events Countdown Guard counts for /metrics (heartbeats.views.metrics, which adds the current state).

Events -- beats stored, alert deliveries, duty failures -- are counted by the process where they happen (the
engine in a worker, a web process's fallback sender, any process's duties) into files shared by every
process on this host (prometheus-client's multiprocess mode, directory settings.METRICS_DIR). Labels never
carry secrets: accounts by their label, egress identities and hosts by name.
"""

import collections
import logging
import os
from pathlib import Path

from prometheus_client import Counter, Histogram

from heartbeats.models import Outcome

log = logging.getLogger(__name__)

BEATS = Counter(
    "countdown_guard_beats", "Beats stored, by outcome and kind (arm or disarm).", ["outcome", "kind"]
)
BEAT_LATENESS = Histogram(
    "countdown_guard_beat_lateness_seconds",
    "Seconds a beat was sent after it was due (skipped beats are not sent, so not counted).",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ALERT_DELIVERIES = Counter("countdown_guard_alert_deliveries", "Alert deliveries, by result.", ["result"])
ALERT_RESULTS = ("sent", "retrying", "failed")
DUTY_FAILURES = Counter(
    "countdown_guard_duty_failures", "Failed runs of a duty (heartbeats.duties).", ["duty"]
)
# Cleared by the tests, which give each test a directory of its own.
EVENT_METRICS = (BEATS, BEAT_LATENESS, ALERT_DELIVERIES, DUTY_FAILURES)

_failed = False  # one warning per process when the shared files cannot be written


def count_beats(beats) -> None:
    """Counts stored Beat rows (heartbeats.engine.records, the one place beats are stored). A few microseconds
    a beat, and never raises: a metric must not cost a beat."""
    try:
        for (outcome, kind), n in collections.Counter((b.outcome, b.kind) for b in beats).items():
            BEATS.labels(outcome, kind).inc(n)
        for beat in beats:
            if beat.due_at is not None and beat.outcome != Outcome.SKIPPED:
                late = (beat.sent_at - beat.due_at).total_seconds()
                BEAT_LATENESS.labels(beat.kind).observe(max(0.0, late))
    except Exception as exc:  # a full disk, a directory removed under a running process
        _warn_once(exc)


def count_alert_delivery(result: str) -> None:
    """One alert delivery attempt's result: "sent", "retrying" (tried again later) or "failed" (given up)."""
    if result not in ALERT_RESULTS:
        raise ValueError(f"alert delivery result must be one of {ALERT_RESULTS}, not {result!r}")
    try:
        ALERT_DELIVERIES.labels(result).inc()
    except Exception as exc:
        _warn_once(exc)


def count_duty_failure(duty: str) -> None:
    """One failed run of a duty (an engine's failures are counted under its duty's name too)."""
    try:
        DUTY_FAILURES.labels(duty.split(":", 1)[0]).inc()
    except Exception as exc:
        _warn_once(exc)


def _warn_once(exc: Exception) -> None:
    global _failed
    if not _failed:
        _failed = True
        log.warning("metrics cannot be counted in this process (%s); /metrics will miss its events", exc)


def directory() -> Path | None:
    """Where this host's processes keep their counters (settings.METRICS_DIR), None when unusable."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path and os.path.isdir(path) else None


def forget_dead_processes(once_for: int) -> None:
    """Removes the counter files of processes that are gone: called by each worker of a starting cluster, it
    acts once per cluster (`once_for`: its pid), before the last run's files could mix with this run's. Files
    of live processes (the web's) stay; so do those of the cluster's own recycled workers, so a counter never
    drops while the cluster runs."""
    path = directory()
    if path is None:
        return
    marker = path / "cleaned-for-cluster"  # not *.db: MultiProcessCollector never reads it
    try:
        if marker.read_text() == str(once_for):
            return
    except OSError:
        pass
    for file in path.glob("*.db"):
        pid = file.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            file.unlink(missing_ok=True)
    marker.write_text(str(once_for))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
