"""The heartbeat engine: one active instance per egress identity, holding the lease, keeping every armed
policy's countdown alive and following every disarm at once.

Threads, each with one job:
- the caller's thread runs the loop: an in-memory timer queue of due sends, results coming back, dispatch in
  priority order (disarms first). It never touches the database, so a slow or locked database cannot
  delay a beat;
- the keeper takes and renews the lease and writes this engine's liveness record;
- the watcher reads people's changes (see reconcile.py);
- the writer stores beats and facts in small batches (see records.py);
- two sender pools send the requests, one in flight per (account, symbol).
"""

import logging
import os
import queue
import socket
import threading
import time
import uuid

from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from heartbeats.budget import WEIGHT_PER_BEAT
from heartbeats.engine import liveness
from heartbeats.engine.clients import Clients
from heartbeats.engine.config import EngineConfig
from heartbeats.engine.lease import Lease
from heartbeats.engine.plan import (
    ARM,
    PRIORITY,
    PolicyState,
    as_datetime,
    next_send,
    temporary_delay,
    uncertain_delay,
)
from heartbeats.engine.pool import SenderPool
from heartbeats.engine.reconcile import Watcher, accounts_version, load_accounts, load_policies
from heartbeats.engine.records import Writer, beat_for, facts_for
from heartbeats.engine.sender import Job, Result, read_desired, send, unusable
from heartbeats.engine.timers import Spreader, TimerQueue
from heartbeats.engine.weight import WeightMeter
from heartbeats.exchange.errors import ExchangeError
from heartbeats.models import CountdownPolicy, Outcome

log = logging.getLogger("heartbeats.engine")


def default_engine_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Engine:
    """`Engine(egress).run(stop_event)` serves one egress identity until `stop_event` is set (or for
    `duration` seconds of active duty). Usable in a thread; closes its database connections when done."""

    def __init__(
        self,
        egress: str = "default",
        engine_id: str | None = None,
        *,
        config: EngineConfig | None = None,
        successor=None,
        single_standby: bool = False,
    ):
        self.egress = egress
        self.engine_id = (engine_id or default_engine_id())[:100]
        self.config = config or EngineConfig.from_settings()
        # Called with the egress to enqueue the next shift (django-q2); None when run in a thread.
        self._successor = successor
        # Several standbys waiting for one lease: all but the newest leave (shift chains only).
        self._single_standby = single_standby
        self._lease = Lease(egress, self.engine_id, self.config.lease_ttl)

        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.states: dict[int, PolicyState] = {}
        self.timers = TimerQueue()
        self.spreader = Spreader(self.config.spread_gap, self.config.spread_max_pull)
        self.meters: dict[tuple[str, str], WeightMeter] = {}
        self.clients = Clients(self.config)
        # Arms re-read the policy before signing, so their threads keep a database connection; disarms, clock
        # syncs and exchange info need none, and their pool grows to one thread per policy for Disarm all.
        self.pool: SenderPool | None = None
        self.burst_pool: SenderPool | None = None
        self.writer: Writer | None = None
        self.watcher: Watcher | None = None

        self._activated = threading.Event()
        self._lost = threading.Event()
        self._keeper_stop = threading.Event()
        self._yield = threading.Event()
        self._valid_until = 0.0  # monotonic: sends stop here unless the lease is renewed
        self._standby_seen = False
        self._last_enqueue = -1e9
        self._accounts_version = None
        self._in_flight = 0
        self._draining = False
        self._status: dict = {}
        self.started_at = None
        self.activated_at: float | None = None
        self.last_error = ""
        self._noted_at = 0.0
        self.sent = 0

    # ---- public -----------------------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """Holding a lease that cannot have expired: the only state in which this engine sends."""
        return self._activated.is_set() and not self._lost.is_set() and time.monotonic() < self._valid_until

    def run(
        self,
        stop_event: threading.Event,
        duration: float | None = None,
        *,
        standby_limit: float | None = None,
        deadline: float | None = None,
    ) -> str:
        """Wait on standby for the lease (at most `standby_limit` s), then serve for `duration` s (or until
        `stop_event`), never past `deadline` (epoch s). Returns why it ended."""
        self.started_at = timezone.now()
        began = time.monotonic()
        keeper = None
        try:
            self._lease.ensure_row()
            self._publish(holds=False)
            if self._single_standby:
                self._settle(stop_event)
            self.pool = SenderPool(
                self.config.pool_size, self.config.pool_size, name=f"arm-{self.egress}", db=True
            )
            self.burst_pool = SenderPool(4, self.config.pool_max, name=f"zero-{self.egress}")
            self._prewarm()
            keeper = threading.Thread(target=self._keep, name=f"engine-keeper-{self.egress}", daemon=True)
            keeper.start()
            while not self._activated.is_set():
                if stop_event.is_set():
                    return "stopped on standby"
                if self._yield.is_set():
                    return "left standby to a newer standby"
                if standby_limit is not None and time.monotonic() - began > standby_limit:
                    return "no lease within the standby limit"
                self._pump(0.05)
            return self._serve(stop_event, duration, deadline)
        finally:
            self._shutdown(keeper)

    # ---- standby ----------------------------------------------------------------------------------------

    def _settle(self, stop_event) -> None:
        """A successor is enqueued the moment its predecessor takes the lease: it waits a moment before
        building its clients and threads, so its start-up does not compete for the CPU with the first beats
        of the new shift -- unless the lease comes free meanwhile."""
        until = time.monotonic() + self.config.successor_delay
        while time.monotonic() < until and not stop_event.is_set():
            if self._lease.looks_free():
                return
            time.sleep(self.config.standby_poll_every)

    def _prewarm(self) -> None:
        """Clients built, clocks synced and sender threads started (each with its database connection)
        before the lease is ours: taking over must not wait for any of it."""
        self._accounts_version = accounts_version(self.egress)
        self._accounts(load_accounts(self.egress))
        policies = CountdownPolicy.objects.filter(account__egress=self.egress).count()
        self.burst_pool.grow_to(policies + 4)

    def _accounts(self, accounts) -> None:
        for entry in self.clients.update(accounts):
            meter = self.meters.get(entry.endpoint)
            if meter is None:
                meter = self.meters[entry.endpoint] = WeightMeter()
                if entry.client is not None:
                    self.burst_pool.submit(lambda c=entry.client, e=entry.endpoint: self._read_limit(c, e))
            if entry.client is not None:
                self.timers.set(("sync", entry.account_id), 0.0)
                if not self._activated.is_set():
                    self._start_sync(entry.account_id, time.time())

    def _read_limit(self, client, endpoint) -> None:
        try:
            client.exchange_info()
        except ExchangeError as exc:
            log.warning("could not read the weight limit of %s %s: %s", *endpoint, exc)
            return
        self.inbox.put(("limit", endpoint, client.weight_limit, client.used_weight))

    def _start_sync(self, account_id: int, now: float) -> None:
        entry = self.clients.get(account_id)
        if entry is None or entry.client is None:
            return
        self.timers.cancel(("sync", account_id))
        meter = self.meters[entry.endpoint]
        if self._activated.is_set() and not meter.room_for(1, urgent=False, now=now):
            self.timers.set(("sync", account_id), meter.next_minute_at(now))
            return
        meter.charge(1, now)
        self.burst_pool.submit(lambda: self._sync(entry))

    def _sync(self, entry) -> None:
        try:
            entry.client.sync_time()
            error = ""
        except ExchangeError as exc:
            error = str(exc)
        self.inbox.put(("synced", entry.account_id, error))

    # ---- active duty ------------------------------------------------------------------------------------

    def _serve(self, stop_event, duration, deadline) -> str:
        cfg = self.config
        self.activated_at = time.time()
        log.info("engine %s holds the lease of egress %r", self.engine_id, self.egress)
        self.writer = Writer(cfg.write_every, name=f"engine-writer-{self.egress}")
        self.writer.start()
        if accounts_version(self.egress) != self._accounts_version:
            self._accounts_version = accounts_version(self.egress)
            self._accounts(load_accounts(self.egress))
        loaded = load_policies(self.egress)
        for state in loaded:
            state.observed_at = state.desired_changed_at
            self._adopt(state)
        self.watcher = Watcher(self.egress, self.inbox, cfg, accounts_seen=self._accounts_version)
        self.watcher.start()
        self._housekeeping(time.time())

        end_at = self.activated_at + duration if duration else None
        hard_end = deadline - (cfg.connect_timeout + cfg.read_timeout + 5) if deadline else None
        if end_at is not None and hard_end is not None:
            end_at = min(end_at, hard_end)
        next_house = 0.0
        while True:
            now = time.time()
            if stop_event.is_set():
                reason = "stopped"
                break
            if self._lost.is_set():
                reason = "lease lost"
                break
            if end_at is not None and now >= end_at:
                if self._successor and not self._standby_seen and (hard_end is None or now + 1 < hard_end):
                    end_at = now + 1.0  # nobody to hand over to yet: keep serving
                else:
                    reason = "shift over"
                    break
            if now >= next_house:
                self._housekeeping(now)
                next_house = now + 0.5
            self._dispatch(now)
            self._pump(self._wait_for(now))
        return self._hand_over(reason)

    def _hand_over(self, reason: str) -> str:
        """Send what falls due during the hand-over now, let requests in flight finish, store every result;
        the lease is released afterwards (in _shutdown), and the standby takes it at once."""
        cfg = self.config
        if reason != "lease lost":
            self._dispatch(time.time(), early=cfg.handover_window)
        self._draining = True
        until = time.monotonic() + cfg.connect_timeout + cfg.read_timeout + 1
        while self._in_flight and time.monotonic() < until:
            self._pump(0.05)
        if self._in_flight:
            log.warning(
                "engine %s: %d requests still unanswered at hand-over", self.engine_id, self._in_flight
            )
        if self.watcher is not None:
            self.watcher.stop()
        if self.writer is not None and not self.writer.flush(10):
            log.error("engine %s: %d results could not be stored", self.engine_id, self.writer.pending())
        log.info("engine %s ends its shift on egress %r: %s", self.engine_id, self.egress, reason)
        return reason

    def _wait_for(self, now: float) -> float:
        nxt = self.timers.next_time()
        return 0.1 if nxt is None else max(0.0, min(0.1, nxt - now))

    def _pump(self, timeout: float) -> None:
        """Handle what the other threads reported, waiting up to `timeout` for the first event."""
        try:
            event = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(event)
            try:
                event = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _handle(self, event) -> None:
        kind = event[0]
        if kind == "result":
            self._on_result(event[1])
        elif kind == "desired":
            for policy_id, generation, armed, changed_at in event[1]:
                self._adopt_desired(policy_id, generation, armed, changed_at)
        elif kind == "changed":
            for state in event[1]:
                self._adopt(state)
        elif kind == "all":
            self._adopt_all(event[1])
        elif kind == "accounts":
            self._accounts(event[1])
        elif kind == "synced":
            self._on_synced(event[1], event[2])
        elif kind == "limit":
            _, endpoint, limit, used = event
            meter = self.meters.get(endpoint)
            if meter is not None and limit:
                meter.limit = limit
                meter.report(used)

    # ---- desired state ----------------------------------------------------------------------------------

    def _adopt(self, fresh: PolicyState) -> None:
        """Merge a row read from the database: desired state follows it; facts only move forward."""
        p = self.states.get(fresh.id)
        if p is None:
            if fresh.observed_at is None:
                fresh.observed_at = time.time()
            self.states[fresh.id] = fresh
            if fresh.armed and fresh.confirmed and fresh.next_due_at is not None:
                self.spreader.place(fresh.id, fresh.next_due_at, max_pull=0)
            self._reschedule(fresh)
            return
        if fresh.generation > p.generation:
            p.generation, p.armed = fresh.generation, fresh.armed
            p.retry_at, p.attempts = None, 0
            p.observed_at = time.time()
        if fresh.generation == p.generation:
            p.armed = fresh.armed
            p.desired_changed_at = fresh.desired_changed_at
        p.account_id, p.symbol, p.enabled = fresh.account_id, fresh.symbol, fresh.enabled
        p.countdown_ms, p.interval_s, p.updated_at = fresh.countdown_ms, fresh.interval_s, fresh.updated_at
        p.removed = False
        # Facts another sender recorded (the web process sending disarms while no engine was alive).
        if fresh.last_arm_sent_at is not None and (p.last_arm_sent_at or 0) < fresh.last_arm_sent_at:
            p.last_arm_sent_at = fresh.last_arm_sent_at
            p.last_arm_countdown_ms = fresh.last_arm_countdown_ms
            p.last_arm_generation = fresh.last_arm_generation
        if (fresh.disarm_acked_generation or -1) > (p.disarm_acked_generation or -1):
            p.disarm_acked_generation, p.disarm_acked_at = (
                fresh.disarm_acked_generation,
                fresh.disarm_acked_at,
            )
        if (fresh.final_disarm_generation or -1) > (p.final_disarm_generation or -1):
            p.final_disarm_generation = fresh.final_disarm_generation
        if (fresh.fatal_generation or -1) > (p.fatal_generation or -1):
            p.fatal_generation = fresh.fatal_generation
        self._reschedule(p)

    def _adopt_desired(self, policy_id: int, generation: int, armed: bool, changed_at: float | None) -> None:
        """The fast path for arm and disarm: only the desired state, ahead of the whole row."""
        p = self.states.get(policy_id)
        if p is None or generation <= p.generation:
            return
        p.generation, p.armed, p.desired_changed_at = generation, armed, changed_at
        p.retry_at, p.attempts = None, 0
        p.observed_at = time.time()
        self._reschedule(p)

    def _adopt_all(self, rows: list[PolicyState]) -> None:
        present = set()
        for fresh in rows:
            present.add(fresh.id)
            self._adopt(fresh)
        for policy_id in set(self.states) - present:
            p = self.states[policy_id]
            if p.in_flight:
                p.removed = True
            else:
                self._forget(policy_id)

    def _forget(self, policy_id: int) -> None:
        self.states.pop(policy_id, None)
        self.timers.cancel(("p", policy_id))
        self.spreader.remove(policy_id)

    def _reschedule(self, p: PolicyState) -> None:
        send_ = next_send(p, self.config.final_disarm_delay)
        if send_ is None:
            self.timers.cancel(("p", p.id))
            if not p.armed:
                self.spreader.remove(p.id)
        else:
            self.timers.set(("p", p.id), send_.due)

    # ---- sending ----------------------------------------------------------------------------------------

    def _dispatch(self, now: float, early: float = 0.0) -> None:
        if not self.is_active or self._draining:
            return
        ready = []
        for key in self.timers.pop_due(now + early):
            kind, ident = key
            if kind == "sync":
                self._start_sync(ident, now)
                continue
            p = self.states.get(ident)
            if p is None:
                continue
            send_ = next_send(p, self.config.final_disarm_delay)
            if send_ is None:
                continue
            if send_.due > now + early:
                self.timers.set(key, send_.due)
                continue
            ready.append((PRIORITY[send_.kind], send_.due, p.id, p, send_))
        ready.sort(key=lambda item: item[:3])
        if len(ready) >= 8 and self.writer is not None:
            self.writer.defer(0.25)
        for _, _, _, p, send_ in ready:
            self._start(p, send_, now)

    def _start(self, p: PolicyState, send_, now: float) -> None:
        key = ("p", p.id)
        entry = self.clients.get(p.account_id)
        if entry is None:
            self.timers.set(key, now + 1.0)  # the account is being reloaded
            return
        job = Job(p.id, p.account_id, p.symbol, send_.kind, send_.countdown_ms, p.generation, send_.due)
        if entry.client is None:
            self._on_result(unusable(job, entry.error), sent=False)
            return
        meter = self.meters[entry.endpoint]
        if meter.paused(now):
            self.timers.set(key, meter.paused_until)
            return
        if not meter.room_for(WEIGHT_PER_BEAT, urgent=send_.kind != ARM, now=now):
            self._note(
                f"Weight budget reached on {entry.endpoint[0]}: holding heartbeats until the next minute."
            )
            self.timers.set(key, meter.next_minute_at(now))
            return
        pool = self.pool if send_.kind == ARM else self.burst_pool
        if pool.idle() <= 0:
            pool.grow_to(pool.size + 8)
            if pool.idle() <= 0:
                self.timers.set(key, now + 0.005)
                return
        p.in_flight = True
        self._in_flight += 1
        meter.charge(WEIGHT_PER_BEAT, now)
        client = entry.client
        pool.submit(lambda: self._send(job, client))

    def _send(self, job: Job, client) -> None:
        """On a sender thread. Always reports back, so a policy is never left marked in flight."""
        try:
            result = send(job, client, check=read_desired if job.kind == ARM else None)
        except Exception:
            log.exception("sending for policy %s failed unexpectedly", job.policy_id)
            result = Result(job, Outcome.UNCERTAIN, time.time(), message="Unexpected failure while sending.")
        self.inbox.put(("result", result))

    def _on_result(self, result, sent: bool = True) -> None:
        job = result.job
        now = time.time()
        if sent:
            self._in_flight -= 1
        entry = self.clients.get(job.account_id)
        if entry is not None:
            meter = self.meters[entry.endpoint]
            if result.offset_ms is not None:
                meter.offset_ms = result.offset_ms
            meter.report(result.used_weight, result.received_at or now)
            if result.outcome == Outcome.RATE_LIMITED:
                self._rate_limited(meter, entry, result, now)
        if result.outcome != Outcome.SKIPPED:
            self.sent += 1
        facts = facts_for(result)
        p = self.states.get(job.policy_id)
        if p is None:
            self.writer.submit(beat_for(result, self.engine_id), job.policy_id, facts)
            return
        p.in_flight = False
        if result.desired is not None:
            armed, generation = result.desired
            if generation < 0:
                p.removed = True
            elif generation > p.generation:
                p.generation, p.armed, p.retry_at, p.attempts = generation, armed, None, 0
                p.observed_at = now
        for name, value in facts.items():
            setattr(p, name, value)
        outcome = result.outcome
        if outcome == Outcome.CONFIRMED:
            p.retry_at, p.attempts = None, 0
            if job.kind == ARM:
                target = result.sent_at + p.interval_s
                p.next_due_at = self.spreader.place(p.id, target, max_pull=p.interval_s * 0.1)
        elif outcome == Outcome.UNCERTAIN:
            p.attempts += 1
            p.retry_at = now + uncertain_delay(p.attempts)
        elif outcome == Outcome.TEMPORARY:
            p.attempts += 1
            cap = p.interval_s if job.kind == ARM else 4
            p.retry_at = now + temporary_delay(p.attempts, cap)
        elif outcome == Outcome.FATAL:
            log.error("policy %s (%s) stopped after a fatal error: %s", p.id, p.symbol, result.message)
        if p.removed and not p.in_flight:
            self._forget(p.id)
        else:
            self._reschedule(p)
        upcoming = next_send(p, self.config.final_disarm_delay) if not p.removed else None
        facts["next_due_at"] = upcoming.due if upcoming is not None and upcoming.kind == ARM else None
        self.writer.submit(beat_for(result, self.engine_id), job.policy_id, facts)

    def _rate_limited(self, meter: WeightMeter, entry, result, now: float) -> None:
        cfg = self.config
        default = cfg.ban_pause if result.banned else cfg.rate_limit_pause
        until = meter.pause(
            result.retry_after if result.retry_after is not None else default, banned=result.banned
        )
        if result.banned:
            log.critical(
                "egress %r is BANNED by %s until %s (HTTP 418): heartbeats are impossible, countdowns "
                "will run out and orders will be cancelled",
                self.egress,
                entry.endpoint[0],
                as_datetime(until).isoformat(timespec="seconds"),
            )
            self._note(f"Banned by the exchange (HTTP 418) until {as_datetime(until):%H:%M:%S} UTC.")
        else:
            log.warning("rate limited by %s: pausing sends for %.1f s", entry.endpoint[0], until - now)
            self._note(f"Rate limited (HTTP 429); sends paused until {as_datetime(until):%H:%M:%S} UTC.")

    def _on_synced(self, account_id: int, error: str) -> None:
        entry = self.clients.get(account_id)
        if entry is None or entry.client is None:
            return
        meter = self.meters[entry.endpoint]
        meter.report(entry.client.used_weight)
        if error:
            log.warning("clock sync for %s failed: %s", entry.label, error)
            self.timers.set(("sync", account_id), time.time() + 5)
            return
        meter.offset_ms = entry.client.offset_ms
        self.timers.set(("sync", account_id), time.time() + self.config.time_sync_every)

    # ---- bookkeeping ------------------------------------------------------------------------------------

    def _housekeeping(self, now: float) -> None:
        # Room for a disarm and its second `0` for every policy that may still need them.
        owed = {}
        for p in self.states.values():
            entry = self.clients.get(p.account_id)
            if entry is not None and (p.armed or 0 < p.generation != p.final_disarm_generation):
                owed[entry.endpoint] = owed.get(entry.endpoint, 0) + 1
        for endpoint, meter in self.meters.items():
            meter.set_reserve_for(owed.get(endpoint, 0))
        self.burst_pool.grow_to(len(self.states) + 4)
        meters = list(self.meters.values())
        if self.last_error and now - self._noted_at > 60:
            self.last_error = ""
        errors = [
            getattr(self.writer, "last_error", ""),
            getattr(self.watcher, "last_error", ""),
            self.last_error,
        ]
        self._status = {
            "clock_offset_ms": meters[0].offset_ms if meters else None,
            "used_weight": max((m.used(now) for m in meters), default=None),
            "weight_limit": min((m.limit for m in meters), default=None),
            "rate_limited_until": as_datetime(max((m.paused_until for m in meters), default=0) or None),
            "banned_until": as_datetime(max((m.banned_until for m in meters), default=0) or None),
            "last_error": next((e for e in errors if e), ""),
        }
        for meter in meters:
            if meter.paused_until and meter.paused_until < now:
                meter.paused_until = 0.0
            if meter.banned_until and meter.banned_until < now:
                meter.banned_until = 0.0

    def _note(self, message: str) -> None:
        """The engine's latest trouble, shown on its liveness record for a minute."""
        self.last_error = message[:300]
        self._noted_at = time.time()

    def _publish(self, *, holds: bool, stopping: bool = False) -> None:
        liveness.write(
            self.engine_id,
            egress=self.egress,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=self.started_at or timezone.now(),
            holds_lease=holds,
            stopping=stopping,
            **self._status,
        )

    def _keep(self) -> None:
        """Lease and liveness, on their own thread so neither waits for the loop nor the loop for them."""
        cfg = self.config
        next_live = next_renew = next_peers = 0.0
        failing = False
        try:
            while not self._keeper_stop.is_set():
                now = time.monotonic()
                try:
                    if not self._activated.is_set():
                        if self._lease.looks_free() and self._lease.acquire():
                            self._valid_until = now + cfg.lease_ttl - cfg.lease_margin
                            next_renew = now + cfg.lease_renew_every
                            self._activated.set()
                            self._publish(holds=True)
                            next_live = now + cfg.liveness_every
                            self._watch_successor(time.monotonic())
                            next_peers = now + 1.0
                            continue
                        if self._single_standby and now >= next_peers:
                            next_peers = now + 1.0
                            self._yield_if_newer_standby()
                    elif not self._lost.is_set():
                        if now >= next_renew:
                            if self._lease.renew():
                                self._valid_until = now + cfg.lease_ttl - cfg.lease_margin
                            else:
                                self._lost.set()
                                log.error(
                                    "engine %s lost the lease of egress %r", self.engine_id, self.egress
                                )
                            next_renew = now + cfg.lease_renew_every
                        if now >= next_peers:
                            next_peers = now + 1.0
                            self._watch_successor(now)
                    if now >= next_live:
                        self._publish(holds=self.is_active)
                        next_live = now + cfg.liveness_every
                    if failing:
                        log.warning("engine %s: database reachable again", self.engine_id)
                    failing = False
                except DatabaseError as exc:
                    if not failing:
                        log.warning(
                            "engine %s: lease/liveness write failed (%s); retrying", self.engine_id, exc
                        )
                    failing = True
                    close_old_connections()
                self._keeper_stop.wait(cfg.standby_poll_every if not self._activated.is_set() else 0.1)
        finally:
            connections.close_all()

    def _watch_successor(self, now: float) -> None:
        if self._successor is None:
            return
        waiting = liveness.standbys(self.egress, exclude=self.engine_id)
        self._standby_seen = bool(waiting)
        if waiting or now - self._last_enqueue < self.config.successor_cooldown:
            return
        self._last_enqueue = now
        try:
            self._successor(self.egress)
        except Exception:
            log.exception("could not enqueue the next shift of egress %r", self.egress)

    def _yield_if_newer_standby(self) -> None:
        mine = (self.started_at, self.engine_id)
        for other in liveness.standbys(self.egress, exclude=self.engine_id):
            if (other.started_at, other.engine_id) > mine:
                self._yield.set()
                return

    def _shutdown(self, keeper) -> None:
        self._keeper_stop.set()
        if keeper is not None:
            keeper.join(timeout=5)
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher.join(timeout=2)
        # Nothing is in flight and the results are stored (_hand_over): hand the lease over first, so the
        # standby's gap does not include this engine's clean-up.
        try:
            if self._activated.is_set():
                self._lease.release()
            self._activated.clear()
            self._publish(holds=False, stopping=True)
        except DatabaseError as exc:
            log.warning(
                "engine %s: could not release the lease (%s); it expires by itself", self.engine_id, exc
            )
        for pool in (self.pool, self.burst_pool):
            if pool is not None:
                pool.stop(timeout=self.config.connect_timeout + self.config.read_timeout)
        if self.writer is not None:
            self.writer.stop(timeout=5)
        self.clients.close()
        connections.close_all()
