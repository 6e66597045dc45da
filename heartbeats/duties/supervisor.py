"""One supervisor per process: it runs the duties that kind of process may hold, each on a thread of its own.

A duty (heartbeats.duties.catalogue names them all) is either
- periodic: a `step()` run by whichever process holds its lease (heartbeats.domain.leases, on the
  database's clock) when it asks to be (the seconds it returns; `period` when it returns None), and at once
  when the database says that something it waits on changed (`wakes_on`: heartbeats.engine.wakeup's
  channels, heard by one listening thread per process). A duty with nothing to do costs nothing. The
  supervisor's coordinator thread takes free leases and renews the ones it holds in one UPDATE every
  RENEW_EVERY seconds, writing each duty's last run with it; a duty's thread works only while its lease
  cannot have expired, so two processes never do one duty at once;
- resident: a `run(stop)` that keeps its own lease and runs until stopped (the engine of an egress identity,
  heartbeats.engine), started again with backoff when it returns or fails.

A failure in a duty is logged (once per change of error), counted (metrics), stored on its row for the
duties page and the alerts, and retried with backoff; it never stops another duty. Every thread owns its
database connection and replaces it after an error.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.db import connections
from django.db.models import DurationField, ExpressionWrapper, F
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from heartbeats.domain import metrics
from heartbeats.domain.leases import Lease, renew_many
from heartbeats.engine import wakeup
from heartbeats.models import Duty

log = logging.getLogger("heartbeats.duties")

# Periodic duties' leases: renewed this often, taken over this long after their holder stopped renewing. A
# frozen or killed holder delays its duties by at most LEASE_TTL; a renewal may be late by up to
# LEASE_TTL - LEASE_MARGIN - RENEW_EVERY (2 s) before the duty stops. Each renewal is a commit that every
# listener in the desk hears, so no more often than this.
RENEW_EVERY = 3.0
LEASE_TTL = 6.0
# A duty whose lease renewal could not be confirmed stops this long before the lease could run out.
LEASE_MARGIN = 1.0
# A duty woken by a change runs at most this often (a burst of commits is one piece of news).
RING_GAP = 0.1
# Backoff after failures: period × 2^(failures-1), at most this.
MAX_BACKOFF = 60.0
ERROR_LENGTH = 300
# The listening thread hears news within this (SQLite: it reads data_version this often; PostgreSQL: it
# looks at its stop event this often, and hears a notification at once).
SLOW_TICK = 1.0
NEWS_BACKSTOP = 60.0


@dataclass(frozen=True)
class DutySpec:
    name: str
    what: str  # what it does, for the duties page
    kinds: frozenset[str]  # the kinds of process that may hold it ("web", "worker")
    period: float = 1.0
    # Periodic: one run; returns the seconds until it wants to run again (None: `period`).
    # Channels (heartbeats.engine.wakeup) whose news runs it at once.
    wakes_on: tuple[str, ...] = ()
    step: Callable[[], float | None] | None = None
    # Resident: runs until the event is set, keeping its own lease (the engine).
    run: Callable[[threading.Event], object] | None = None
    # The kind that takes the duty from the others; they take it only once it has been free LEASE_TTL longer.
    prefer: str | None = None
    # Read when the supervisor starts: a duty switched off by settings is not run here.
    enabled: Callable[[], bool] = field(default=lambda: True)


def keep_connections_healthy() -> None:
    """Between two runs a duty's thread keeps its database connection: opening one costs more than most
    steps (on SQLite, where CONN_MAX_AGE is 0, Django's close_old_connections() would open one per run).
    It is closed only when it broke, or once it reached a CONN_MAX_AGE set above 0; the next query opens a
    new one."""
    for conn in connections.all(initialized_only=True):
        if conn.settings_dict["CONN_MAX_AGE"] == 0:
            if conn.connection is not None and conn.errors_occurred and not conn.is_usable():
                conn.close()
        else:
            conn.close_if_unusable_or_obsolete()


def holder_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]


class _Held:
    """What this process knows of one periodic duty's lease: held until `valid_until` (monotonic)."""

    def __init__(self):
        self.valid_until = 0.0
        self.wake = threading.Event()
        self.rung = False  # the database said something this duty waits on changed
        self.last_run_at = None  # the wall time of the last successful run, written with the next renewal

    @property
    def held(self) -> bool:
        return time.monotonic() < self.valid_until


class Supervisor:
    def __init__(self, kind: str, specs: list[DutySpec]):
        self.kind = kind
        self.holder = holder_name(kind)
        self.specs = [s for s in specs if kind in s.kinds and s.enabled()]
        self._periodic = {s.name: _Held() for s in self.specs if s.step is not None}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._feed: wakeup.ChangeFeed | None = None
        self._next_seek = 0.0  # monotonic: when a lease this process wants could next be free
        self._holding = threading.Event()  # set when this process takes a duty (the listener starts then)

    # ---- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn(self._coordinate, f"duties-{self.kind}")
        if any(s.wakes_on for s in self.specs if s.step is not None):
            self._spawn(self._listen, f"duties-news-{self.kind}")
        for spec in self.specs:
            target = self._periodic_loop if spec.step is not None else self._resident_loop
            self._spawn(target, f"duty-{spec.name}", spec)
        log.info("%s runs duties %s", self.holder, ", ".join(s.name for s in self.specs) or "(none)")

    def _spawn(self, target, name: str, *args) -> None:
        def run():
            try:
                target(*args)
            finally:
                connections.close_all()  # the thread's connections end with it, not when it is collected

        thread = threading.Thread(target=run, name=name[:60], daemon=True)
        self._threads.append(thread)
        thread.start()

    def request_stop(self) -> None:
        """Ask every duty to stop (safe in a signal handler: it waits for nothing)."""
        self._stop.set()
        for held in self._periodic.values():
            held.wake.set()
        self._holding.set()
        feed = self._feed
        if feed is not None:
            feed.interrupt()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every duty, let resident ones hand over, and release this process's leases."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        try:
            Duty.objects.filter(name__in=list(self._periodic), holder=self.holder).update(
                holder="", expires_at=None
            )
        except Exception as exc:  # the leases run out by themselves
            log.warning("%s could not release its duties (%s)", self.holder, exc)
        finally:
            connections.close_all()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def holds(self, name: str) -> bool:
        held = self._periodic.get(name)
        return held is not None and held.held

    # ---- the coordinator: leases of the periodic duties ----------------------------------------------------

    def _coordinate(self) -> None:
        # Started from an AppConfig.ready() (the development server): no query before the apps are ready.
        while not apps.ready and not self._stop.wait(0.05):
            pass
        failing = False
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._renew(started)
                if started >= self._next_seek:
                    self._seek(started)
                if failing:
                    log.warning("%s: duty leases work again", self.holder)
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("%s: duty leases failed (%s); retrying", self.holder, exc)
                failing = True
                connections.close_all()
            else:
                keep_connections_healthy()
            self._stop.wait(max(0.1, RENEW_EVERY - (time.monotonic() - started)))

    def _renew(self, now: float) -> None:
        mine = [name for name, held in self._periodic.items() if held.valid_until > 0]
        if not mine:
            return
        runs = {n: h.last_run_at for n, h in self._periodic.items() if n in mine and h.last_run_at}
        if renew_many(mine, self.holder, LEASE_TTL, ran_at=runs) == len(mine):
            lost = []
        else:
            still = set(Duty.objects.filter(name__in=mine, holder=self.holder).values_list("name", flat=True))
            lost = [n for n in mine if n not in still]
        for name in mine:
            held = self._periodic[name]
            if name in lost:
                held.valid_until = 0.0
                log.warning("%s lost duty %s to another process", self.holder, name)
            else:
                held.valid_until = now + LEASE_TTL - LEASE_MARGIN
                if name in runs:
                    held.last_run_at = None

    def _seek(self, now: float) -> None:
        """Take the periodic duties this process may hold that are free: one read, then one UPDATE per duty
        that looks free (the UPDATE decides: another process may be faster)."""
        wanted = [s for s in self.specs if s.step is not None and not self._periodic[s.name].valid_until]
        if not wanted:
            self._next_seek = now + RENEW_EVERY
            return
        left = ExpressionWrapper(F("expires_at") - Now(), output_field=DurationField())
        rows = {
            name: (holder, seconds)
            for name, holder, seconds in Duty.objects.filter(name__in=[s.name for s in wanted])
            .annotate(left=left)
            .values_list("name", "holder", "left")
        }
        # Looked at again when the first of them could have run out (a holder renews every RENEW_EVERY, so a
        # held lease has most of LEASE_TTL left), and at least every LEASE_TTL: a lease released by a holder
        # that stopped is taken within that, like one whose holder died.
        soonest = LEASE_TTL
        for spec in wanted:
            patience = LEASE_TTL if spec.prefer and spec.prefer != self.kind else 0.0
            takes_from = (
                tuple(f"{k}:" for k in spec.kinds if k != spec.prefer) if spec.prefer == self.kind else ()
            )
            holder, left_s = rows.get(spec.name, ("", None))
            remaining = left_s.total_seconds() if isinstance(left_s, timedelta) else None
            looks_free = (
                not holder
                or remaining is None
                or remaining < -patience
                or any(holder.startswith(p) for p in takes_from)
            )
            if not looks_free:
                if remaining is not None:
                    soonest = min(soonest, remaining + patience)
                continue
            lease = Lease(spec.name, self.holder, LEASE_TTL, patience=patience, takes_from=takes_from)
            soonest = RENEW_EVERY  # taken by another process just now, or by this one: look again soon
            if lease.acquire():
                held = self._periodic[spec.name]
                held.valid_until = now + LEASE_TTL - LEASE_MARGIN
                held.wake.set()
                self._holding.set()
                log.info("%s took duty %s", self.holder, spec.name)
        self._next_seek = now + max(RENEW_EVERY, min(soonest, LEASE_TTL))

    # ---- periodic duties -----------------------------------------------------------------------------------

    def _periodic_loop(self, spec: DutySpec) -> None:
        held = self._periodic[spec.name]
        failures = 0
        next_run = 0.0
        last_run = -RING_GAP
        while not self._stop.is_set():
            if not held.held:
                held.wake.clear()
                # Set when the coordinator takes the lease (and at a stop); the timeout is only a backstop.
                held.wake.wait(LEASE_TTL)
                next_run = 0.0  # a duty just taken runs at once: it may be a take-over
                continue
            if held.rung:
                held.rung = False
                next_run = min(next_run, last_run + RING_GAP)
            wait = next_run - time.monotonic()
            if wait > 0:
                held.wake.clear()
                if held.rung:  # rung between the look above and the clear
                    continue
                # No shorter: the lease is looked at again before the run, and a stop or a ring wakes it.
                held.wake.wait(wait)
                continue
            if spec.prefer not in (None, self.kind) and not self._still_mine(spec.name):
                held.valid_until = 0.0  # taken by a process of the preferred kind: it works it from now
                continue
            last_run = time.monotonic()
            try:
                delay = spec.step()
            except Exception as exc:
                failures += 1
                delay = min(spec.period * 2 ** (failures - 1), MAX_BACKOFF)
                self._failed(spec, exc, failures, delay)
                connections.close_all()
            else:
                if failures:
                    self._recovered(spec, failures)
                failures = 0
                held.last_run_at = timezone.now()
                keep_connections_healthy()
            next_run = time.monotonic() + (spec.period if delay is None else max(0.0, delay))

    # ---- news from the database ----------------------------------------------------------------------------

    def _listen(self) -> None:
        """One thread per process hears the database's news (heartbeats.engine.wakeup) and runs at once each
        held duty that waits on it. When it cannot hear, every such duty runs (it may have missed news)."""
        while not apps.ready and not self._stop.wait(0.05):
            pass
        listeners = [s for s in self.specs if s.step is not None and s.wakes_on]
        channels = {c for s in listeners for c in s.wakes_on}
        failing = False
        while not self._stop.is_set():
            if not any(self._periodic[s.name].held for s in listeners):
                # Nothing to wake here: listening would only cost (a look at the database every SLOW_TICK).
                self._close_feed()
                self._holding.clear()
                self._holding.wait(RENEW_EVERY)
                continue
            try:
                if self._feed is None:
                    self._feed = wakeup.feed(*channels, tick=SLOW_TICK, prompt=False)
                heard = self._feed.wait(NEWS_BACKSTOP, self._stop)
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("%s: database news unreadable (%s); retrying", self.holder, exc)
                failing = True
                self._close_feed()
                connections.close_all()
                heard = channels
                self._stop.wait(1.0)
            for spec in listeners:
                if heard.intersection(spec.wakes_on):
                    held = self._periodic[spec.name]
                    held.rung = True
                    held.wake.set()
            keep_connections_healthy()
        self._close_feed()

    def _close_feed(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.close()

    def _still_mine(self, name: str) -> bool:
        """Whether this process still holds `name` (a process of the preferred kind takes a duty without
        waiting for the lease to run out): one read before each run."""
        try:
            return Duty.objects.filter(name=name, holder=self.holder).exists()
        except Exception:
            connections.close_all()
            return False

    # ---- resident duties -----------------------------------------------------------------------------------

    def _resident_loop(self, spec: DutySpec) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                spec.run(self._stop)
                failures = 0
                delay = 1.0  # returned (its lease was lost, or it stopped): stand by again
            except Exception as exc:
                failures += 1
                delay = min(2 ** (failures - 1), MAX_BACKOFF)
                self._failed(spec, exc, failures, delay)
            finally:
                connections.close_all()
            self._stop.wait(delay)

    # ---- failures ------------------------------------------------------------------------------------------

    def _failed(self, spec: DutySpec, exc: Exception, failures: int, retry_in: float) -> None:
        error = f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]
        if failures == 1:
            log.exception("duty %s failed (%s); retrying in %.0f s", spec.name, error, retry_in)
        else:
            log.warning("duty %s failed again (%d in a row): %s", spec.name, failures, error)
        metrics.count_duty_failure(spec.name)
        try:
            connections.close_all()  # the error may have been the connection's
            Duty.objects.filter(name=spec.name).update(
                last_error=error,
                last_error_at=Now(),
                failures=failures,
                failing_since=Coalesce(F("failing_since"), Now()) if failures > 1 else Now(),
            )
        except Exception as store_exc:
            log.warning("duty %s: its failure could not be recorded (%s)", spec.name, store_exc)

    def _recovered(self, spec: DutySpec, failures: int) -> None:
        log.warning("duty %s works again after %d failures", spec.name, failures)
        try:
            Duty.objects.filter(name=spec.name).update(failures=0, failing_since=None)
        except Exception as exc:
            log.warning("duty %s: its recovery could not be recorded (%s)", spec.name, exc)
