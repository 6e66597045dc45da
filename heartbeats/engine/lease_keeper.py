"""A shift's upkeep, on its own thread so neither it nor the engine's loop waits for the other: the lease
(taken and renewed on the database's clock), the liveness record, the successor shift, the address limits
shared with every other process, and the audit rows for an engine coming up or going away.

Every step heals its database connection after an error, so a restarted or failed-over database costs one
step, not the rest of the shift.
"""

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.db import Error as DatabaseError
from django.db import close_old_connections, connection, connections, transaction
from django.utils import timezone

from heartbeats.desk import maintenance
from heartbeats.domain import audit, holds, ratelimits
from heartbeats.domain.leases import Lease
from heartbeats.engine import liveness, wakeup
from heartbeats.engine.events import AddressRead, Wake
from heartbeats.models import Action, EngineLiveness

log = logging.getLogger("heartbeats.engine")

# A lease released by a record that said "stopping" this recently was handed over, not abandoned.
_HANDOVER_WINDOW = timedelta(seconds=10)


class ShiftKeeper(threading.Thread):
    def __init__(self, engine):
        super().__init__(name=f"engine-keeper-{engine.egress}", daemon=True)
        self.engine = engine
        self.config = engine.config
        self.lease = Lease(engine.egress, engine.engine_id, self.config.lease_ttl)
        self.activated = threading.Event()
        self.lost = threading.Event()
        self.yield_ = threading.Event()
        self.valid_until = 0.0  # monotonic: sends stop here unless the lease is renewed
        self.standby_seen = False
        self._stop = threading.Event()
        self._last_enqueue = -1e9
        self._limits_written: dict[str, dict] = {}
        self._changes: wakeup.ChangeFeed | None = None

    @property
    def is_active(self) -> bool:
        """Holding a lease that cannot have expired: the only state in which the engine sends."""
        return self.activated.is_set() and not self.lost.is_set() and time.monotonic() < self.valid_until

    def stop(self) -> None:
        self._stop.set()
        if self._changes is not None:
            self._changes.interrupt()

    # ---- the loop ---------------------------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.config
        # On standby, the lease is looked at when it changes hands (wakeup.py), when the holder's lease could
        # have run out, and at the latest every `standby_poll_every`; never many times a second.
        changes = self._changes = wakeup.feed(wakeup.LEASE)
        next_live = next_renew = next_peers = next_limits = next_lease = next_windows = 0.0
        failing = False
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                try:
                    if not self.activated.is_set():
                        if now >= next_lease:
                            wait = self.lease.wait_time()
                            if wait <= 0 and self._try_to_take_over():
                                now = time.monotonic()
                                next_renew = now + cfg.lease_renew_every
                                next_live = now + cfg.liveness_every
                                next_peers = now + cfg.successor_every
                                next_limits = now + cfg.limits_every
                                changes.close()
                                continue
                            next_lease = now + min(max(wait, 0.0) + 0.01, cfg.standby_poll_every)
                        if self.engine.single_standby and now >= next_peers:
                            next_peers = now + cfg.successor_every
                            self._yield_if_newer_standby()
                    elif not self.lost.is_set():
                        if now >= next_renew:
                            # With the liveness record when both are due: one commit wakes every other
                            # engine's watcher once, not twice (wakeup.py).
                            with transaction.atomic():
                                self._renew(now)
                                if now >= next_live - 0.1:
                                    self.publish()
                                    next_live = now + cfg.liveness_every
                            next_renew = now + cfg.lease_renew_every
                        if now >= next_peers:
                            next_peers = now + cfg.successor_every
                            self._watch_successor(now)
                        if now >= next_limits:
                            self.share_limits()
                            next_limits = now + cfg.limits_every
                        if now >= next_windows:
                            # Maintenance windows start and end here (heartbeats.desk.maintenance).
                            maintenance.apply_due()
                            holds.latch_silences()  # strategies gone silent (strategies.holds)
                            next_windows = now + 1.0
                    if now >= next_live:
                        self.publish()
                        next_live = now + cfg.liveness_every
                    if failing:
                        log.warning("engine %s: database reachable again", self.engine.engine_id)
                    failing = False
                except DatabaseError as exc:
                    if not failing:
                        log.warning(
                            "engine %s: lease/liveness write failed (%s); retrying",
                            self.engine.engine_id,
                            exc,
                        )
                    failing = True
                    connection.close()  # a dropped connection is replaced at the next step
                    next_lease = 0.0
                    self._stop.wait(0.1)
                    continue
                if self.activated.is_set():
                    due = min(next_renew, next_live, next_peers, next_limits, next_windows)
                    self._stop.wait(max(0.0, due - time.monotonic()))
                else:
                    due = min(next_lease, next_live, next_peers if self.engine.single_standby else next_live)
                    if changes.wait(max(0.0, due - time.monotonic()), self._stop):
                        next_lease = 0.0
        finally:
            changes.close()
            connections.close_all()

    def _try_to_take_over(self) -> bool:
        before = self.lease.current()
        if not self.lease.acquire():
            return False
        cfg = self.config
        self.valid_until = time.monotonic() + cfg.lease_ttl - cfg.lease_margin
        self.activated.set()
        # What other processes spent, paused or got banned for on this address, before the first send.
        self.share_limits()
        self.engine.inbox.put(Wake())
        self.publish()
        self._audit_take_over(before)
        self._watch_successor(time.monotonic())
        return True

    def _renew(self, now: float) -> None:
        if self.lease.renew():
            self.valid_until = now + self.config.lease_ttl - self.config.lease_margin
            return
        self.lost.set()
        self.engine.inbox.put(Wake())
        log.error("engine %s lost the lease of egress %r", self.engine.engine_id, self.engine.egress)

    # ---- liveness and shared limits ---------------------------------------------------------------------

    def publish(self, *, stopping: bool = False) -> None:
        engine = self.engine
        liveness.write(
            engine.engine_id,
            egress=engine.egress,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=engine.started_at or timezone.now(),
            holds_lease=self.is_active and not stopping,
            stopping=stopping,
            desired_read_at=engine.desired_read_at(),
            last_error=engine.trouble(),
            **engine.status,
        )

    def share_limits(self) -> None:
        """Write what this engine's meters learned (only what changed), read what every process stored."""
        engine = self.engine
        for base_url, stored in engine.limits_to_share().items():
            if self._limits_written.get(base_url) != stored:
                ratelimits.record(engine.egress, base_url, **stored)
                self._limits_written[base_url] = stored
        for base_url in engine.addresses():
            snapshot = ratelimits.read(engine.egress, base_url)
            if snapshot is not None:
                engine.inbox.put(AddressRead(base_url, snapshot))

    # ---- successors and standbys ------------------------------------------------------------------------

    def _watch_successor(self, now: float) -> None:
        successor = self.engine.successor
        if successor is None:
            return
        waiting = liveness.standbys(self.engine.egress, exclude=self.engine.engine_id)
        self.standby_seen = bool(waiting)
        if waiting or now - self._last_enqueue < self.config.successor_cooldown:
            return
        self._last_enqueue = now
        try:
            successor(self.engine.egress)
        except Exception:
            log.exception("could not enqueue the next shift of egress %r", self.engine.egress)

    def _yield_if_newer_standby(self) -> None:
        mine = (self.engine.started_at, self.engine.engine_id)
        for other in liveness.standbys(self.engine.egress, exclude=self.engine.engine_id):
            if (other.started_at, other.engine_id) > mine:
                self.yield_.set()
                self.engine.inbox.put(Wake())
                return

    # ---- the end ----------------------------------------------------------------------------------------

    def release(self, reason: str) -> None:
        """Hand the lease over (or give it up) and say so; called once the shift has nothing in flight."""
        engine = self.engine
        try:
            close_old_connections()
            held = self.activated.is_set()
            # "Stopping" first: a standby that finds the lease free then knows it was handed over.
            self.publish(stopping=True)
            self.activated.clear()
            if held:
                self.lease.release()
                if reason != "shift over" or not self.standby_seen:
                    self._audit(Action.ENGINE_STOP, f"Engine {engine.engine_id} stopped: {reason}.")
        except DatabaseError as exc:
            log.warning(
                "engine %s: could not release the lease (%s); it expires by itself", engine.engine_id, exc
            )

    # ---- audit ------------------------------------------------------------------------------------------

    def _audit_take_over(self, before) -> None:
        """An engine coming up for an egress that had none, or taking over from one that died, is an event
        for the audit trail; a shift handing over to the next is not."""
        engine = self.engine
        now = timezone.now()
        if before is not None and before.holder and before.holder != engine.engine_id:
            self._audit(
                Action.ENGINE_STOP,
                f"Engine {before.holder} stopped without handing over: its lease expired "
                f"at {before.expires_at:%H:%M:%S} UTC.",
            )
        elif self._handed_over(now):
            return
        self._audit(Action.ENGINE_START, f"Engine {engine.engine_id} took over egress {engine.egress!r}.")

    def _handed_over(self, now) -> bool:
        return (
            EngineLiveness.objects.filter(
                egress=self.engine.egress, stopping=True, seen_at__gte=now - _HANDOVER_WINDOW
            )
            .exclude(engine_id=self.engine.engine_id)
            .exists()
        )

    def _audit(self, action: str, reason: str) -> None:
        try:
            audit.record(
                action,
                user=None,
                ip=None,
                username="engine",
                reason=reason,
                changes={"egress": self.engine.egress, "host": socket.gethostname()[:255]},
            )
        except DatabaseError as exc:
            log.warning("could not audit %s: %s", action, exc)
