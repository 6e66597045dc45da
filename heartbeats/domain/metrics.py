"""Every Prometheus metric Countdown Guard exposes at /metrics (heartbeats.views.metrics), by name.

Two kinds. Events -- beats stored, alert deliveries -- are counted by the process where they happen (the
engine in a worker, a web process's fallback sender) into files shared by every process on this host
(prometheus-client's multiprocess mode, directory settings.METRICS_DIR). Current state -- time left on each
armed countdown, engines, request weight, policies by status -- is read from the database at scrape time
through presenters.snapshot(), the board's own source, so every web process answers a scrape alike.
Labels never carry secrets: accounts by their label, egress identities and hosts by name.
"""

import collections
import logging
import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

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
# Cleared by the tests, which give each test a directory of its own.
EVENT_METRICS = (BEATS, BEAT_LATENESS, ALERT_DELIVERIES)

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


def _warn_once(exc: Exception) -> None:
    global _failed
    if not _failed:
        _failed = True
        log.warning("metrics cannot be counted in this process (%s); /metrics will miss its events", exc)


class StateCollector(Collector):
    """The current state, from one presenters.snapshot() per scrape (a few queries, as for the board)."""

    def collect(self):
        from heartbeats.desk import (
            presenters,  # the engine imports this module; only a scrape needs the pages'
        )

        snap = presenters.snapshot()
        expiry = GaugeMetricFamily(
            "countdown_guard_seconds_to_expiry",
            "Seconds until an armed policy's exchange countdown runs out unless a beat is acknowledged "
            "(0: it ran out).",
            labels=["account", "symbol"],
        )
        for row in snap.rows:
            if row.policy.armed and row.status.remaining_ms is not None:
                expiry.add_metric(
                    [row.policy.account.label, row.policy.symbol], row.status.remaining_ms / 1000
                )
        policies = GaugeMetricFamily("countdown_guard_policies", "Policies by status.", labels=["status"])
        for status, count in snap.counts.items():
            policies.add_metric([status], count)
        yield expiry
        yield policies
        yield from _egress_families(snap)


def _egress_families(snap):
    up = GaugeMetricFamily(
        "countdown_guard_engine_up",
        "1 when an engine holding the lease is sending for this egress identity.",
        labels=["egress"],
    )
    holder = GaugeMetricFamily(
        "countdown_guard_lease_holder",
        "1 for the host whose engine holds this egress identity's lease (absent when none does).",
        labels=["egress", "host"],
    )
    used = GaugeMetricFamily(
        "countdown_guard_weight_used", "Request weight used this minute, as last reported.", labels=["egress"]
    )
    limit = GaugeMetricFamily(
        "countdown_guard_weight_limit", "Request weight allowed per minute.", labels=["egress"]
    )
    for e in snap.egresses:
        up.add_metric([e.egress], 1 if e.alive else 0)
        if e.engine is not None and e.engine.holds_lease and not e.engine.is_stale(snap.now):
            holder.add_metric([e.egress, e.engine.host], 1)
        if e.measured is not None:
            used.add_metric([e.egress], e.measured)
        if e.limit is not None:
            limit.add_metric([e.egress], e.limit)
    return up, holder, used, limit


def directory() -> Path | None:
    """Where this host's processes keep their counters (settings.METRICS_DIR), None when unusable."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path and os.path.isdir(path) else None


def registry() -> CollectorRegistry:
    """A registry for one scrape: every process's counters plus the state read now."""
    scrape = CollectorRegistry()
    if (path := directory()) is not None:
        MultiProcessCollector(scrape, path=str(path))
    scrape.register(StateCollector())
    return scrape


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
