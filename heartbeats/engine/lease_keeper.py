"""The engine's upkeep, on its own thread so neither it nor the engine's loop waits for the other: the lease
(`engine:<egress>`, heartbeats.domain.leases, on the database's clock), the liveness record, the address
limits shared with every other process, and the audit rows for an engine coming up or going away.

Nothing else runs here: a fault in a desk feature (maintenance windows, strategies, alerts) cannot stop the
lease, the liveness record or the heartbeats; those run as duties of their own (heartbeats.duties). Every
step heals its database connection after an error, and any error costs one step, never the thread.
"""

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.db import DatabaseError, close_old_connections, connection, connections, transaction
from django.utils import timezone

from heartbeats.domain import audit, ratelimits
from heartbeats.domain.leases import Lease
from heartbeats.engine import liveness, wakeup
from heartbeats.engine.events import AddressRead, Wake
from heartbeats.engine.sql import lease_wait
from heartbeats.models import Action, EngineLiveness

log = logging.getLogger("heartbeats.engine")

# A standby hears of a lease changing hands within this (on SQLite it reads data_version this often rather
# than being woken by every beat another engine records).
STANDBY_TICK = 0.5
# A lease released by a record that said "stopping" this recently was handed over, not abandoned.
_HANDOVER_WINDOW = timedelta(seconds=10)


def lease_name(egress: str) -> str:
    return f"engine:{egress}"


class LeaseKeeper(threading.Thread):
    def __init__(self, engine):
        super().__init__(name=f"engine-keeper-{engine.egress}", daemon=True)
        self.engine = engine
        self.config = engine.config
        self.lease = Lease(lease_name(engine.egress), engine.engine_id, self.config.lease_ttl)
        self.activated = threading.Event()
        self.lost = threading.Event()
        self.valid_until = 0.0  # monotonic: sends stop here unless the lease is renewed
        self._stop = threading.Event()
        self._limits_written: dict[str, dict] = {}
        self._limits_read: dict = {}  # base URL -> the last snapshot handed to the engine
        self._changes: wakeup.ChangeFeed | None = None

    @property
    def is_active(self) -> bool:
        """Holding a lease that cannot have expired: the only state in which the engine sends."""
        return self.activated.is_set() and not self.lost.is_set() and time.monotonic() < self.valid_until

    def stop(self) -> None:
        self._stop.set()
        if self._changes is not None:
            self._changes.interrupt()

    def wait_time(self) -> float:
        """Seconds until the lease may be taken (0: now), on the database's clock: a cheap read before trying
        the UPDATE, so a standby does not queue for the write lock, and knows how long to wait."""
        return lease_wait(self.lease.name, self.lease.holder)

    # ---- the loop ---------------------------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.config
        # On standby, the lease is looked at when it changes hands (wakeup.py), when the holder's lease could
        # have run out, and at the latest every `standby_poll_every`; never many times a second.
        changes = self._changes = wakeup.feed(wakeup.LEASE, tick=STANDBY_TICK, prompt=False)
        next_live = next_renew = next_limits = next_lease = 0.0
        failing = False
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                try:
                    if not self.activated.is_set():
                        if now >= next_lease:
                            wait = self.wait_time()
                            if wait <= 0 and self._try_to_take_over():
                                now = time.monotonic()
                                next_renew = now + cfg.lease_renew_every
                                next_live = now + cfg.liveness_every
                                next_limits = now + cfg.limits_every
                                changes.close()
                                continue
                            next_lease = now + min(max(wait, 0.0) + 0.01, cfg.standby_poll_every)
                        if now >= next_live:
                            self.publish()
                            next_live = now + cfg.standby_publish_every
                    elif not self.lost.is_set():
                        if now >= next_renew:
                            # With the liveness record and the limits learned: one commit wakes every
                            # process listening to the database once, not three times (wakeup.py).
                            shared = now >= next_limits - 0.1
                            with transaction.atomic():
                                self._renew(now)
                                if now >= next_live - 0.1:
                                    self.publish()
                                    next_live = now + cfg.liveness_every
                                if shared:
                                    self._write_limits_beside_the_lease()
                            if shared:
                                self._read_limits()
                                next_limits = now + cfg.limits_every
                            next_renew = now + cfg.lease_renew_every
                        if now >= next_limits:
                            self.share_limits()
                            next_limits = now + cfg.limits_every
                        if now >= next_live:
                            self.publish()
                            next_live = now + cfg.liveness_every
                    if failing:
                        log.warning("engine %s: lease and liveness work again", self.engine.engine_id)
                    failing = False
                except Exception as exc:  # a database error above all; whatever it is, it costs one step
                    if not failing:
                        log.warning(
                            "engine %s: lease/liveness step failed (%s: %s); retrying",
                            self.engine.engine_id,
                            type(exc).__name__,
                            exc,
                        )
                    failing = True
                    connection.close()  # a dropped connection is replaced at the next step
                    next_lease = 0.0
                    self._stop.wait(0.1)
                    continue
                if self.activated.is_set():
                    due = min(next_renew, next_live, next_limits)
                    self._stop.wait(max(0.0, due - time.monotonic()))
                elif changes.wait(max(0.0, min(next_lease, next_live) - time.monotonic()), self._stop):
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
        with transaction.atomic():
            self._write_limits()
        self._read_limits()

    def _write_limits(self) -> None:
        """What changed since the last write, all in the caller's one transaction (an account-limited venue
        has an address per account: a commit each would wake every listener as many times)."""
        engine = self.engine
        known = self._limits_written
        written = {url: s for url, s in engine.limits_to_share().items() if known.get(url) != s}
        if not written:
            return
        for base_url, stored in written.items():
            ratelimits.record(engine.egress, base_url, **stored)
        # Remembered once the caller's transaction committed: a write rolled back is tried again.
        transaction.on_commit(lambda: self._limits_written.update(written))

    def _write_limits_beside_the_lease(self) -> None:
        """In the lease's transaction, behind a savepoint: a failed write costs the limits, not the lease."""
        if all(self._limits_written.get(u) == s for u, s in self.engine.limits_to_share().items()):
            return  # nothing new: no savepoint either
        try:
            with transaction.atomic():
                self._write_limits()
        except DatabaseError as exc:
            log.warning("engine %s: limits not shared (%s)", self.engine.engine_id, exc)

    def _read_limits(self) -> None:
        engine = self.engine
        for base_url, snapshot in ratelimits.read_many(engine.egress, engine.addresses()).items():
            # Handed to the engine's loop only when it changed: an idle address wakes nobody each second.
            if self._limits_read.get(base_url) != snapshot:
                engine.inbox.put(AddressRead(base_url, snapshot))
                self._limits_read[base_url] = snapshot

    # ---- the end ----------------------------------------------------------------------------------------

    def release(self, reason: str) -> None:
        """Hand the lease over (or give it up) and say so; called once the engine has nothing in flight."""
        engine = self.engine
        try:
            close_old_connections()
            held = self.activated.is_set()
            # "Stopping" first: a standby that finds the lease free then knows it was handed over.
            self.publish(stopping=True)
            self.activated.clear()
            if held:
                self.lease.release()
                if not liveness.standbys(engine.egress, exclude=engine.engine_id):
                    self._audit(Action.ENGINE_STOP, f"Engine {engine.engine_id} stopped: {reason}.")
        except Exception as exc:
            log.warning(
                "engine %s: could not release the lease (%s); it expires by itself", engine.engine_id, exc
            )

    # ---- audit ------------------------------------------------------------------------------------------

    def _audit_take_over(self, before) -> None:
        """An engine coming up for an egress that had none, or taking over from one that died, is an event
        for the audit trail; an engine handing over to a standby (a restart, a deploy) is not."""
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
        except Exception as exc:
            log.warning("could not audit %s: %s", action, exc)
