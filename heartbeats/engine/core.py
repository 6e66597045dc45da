"""The heartbeat engine's scheduler: one active instance per egress identity, keeping every armed policy's
countdown alive and following every disarm at once. What to send for a policy, and whether it may still be
signed, is decided in plan.py; this module decides only when, through which thread, within which limits.

Threads, each with one job:
- the caller's thread runs the loop: an in-memory timer queue of due sends, results coming back, dispatch in
  priority order (disarms first). It never touches the database, so a slow or locked database cannot
  delay a beat;
- the lease keeper (lease_keeper.py) takes and renews the lease, writes the liveness record and shares the
  address's limits with every other process;
- the watcher reads people's changes (see watcher.py);
- the writer stores beats and facts in small batches (see records.py);
- two sender pools send the requests, one in flight per (account, symbol).
Threads report to the loop with the small named types of events.py.
"""

import logging
import os
import queue
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

from django.db import Error as DatabaseError
from django.db import connection, connections
from django.utils import timezone

from heartbeats.engine.clients import Clients
from heartbeats.engine.config import EngineConfig
from heartbeats.engine.events import (
    AccountsChanged,
    AddressRead,
    AllRows,
    BeatDone,
    ClockSynced,
    DesiredChanged,
    HeartbeatDone,
    LimitRead,
    Redecide,
    RowsChanged,
    Wake,
)
from heartbeats.engine.lease_keeper import LeaseKeeper
from heartbeats.engine.plan import (
    ARM,
    PRIORITY,
    PolicyState,
    as_datetime,
    merge_desired,
    merge_row,
    next_send,
    owes_disarm,
    renews_by_heartbeat,
    temporary_delay,
    uncertain_delay,
)
from heartbeats.engine.pool import SenderPool
from heartbeats.engine.records import Writer, beat_for, facts_for
from heartbeats.engine.sender import (
    Job,
    Result,
    read_desired,
    read_desired_many,
    send,
    send_heartbeat,
    unusable,
)
from heartbeats.engine.sql import accounts_version
from heartbeats.engine.timers import Spreader, TimerQueue
from heartbeats.engine.watcher import Watcher, address_snapshots, load_accounts, load_policies
from heartbeats.engine.weight import WeightMeter
from heartbeats.exchange.errors import ExchangeError
from heartbeats.exchange.venues import venue
from heartbeats.models import CountdownPolicy, Outcome

log = logging.getLogger("heartbeats.engine")

# A policy whose strategy holds its heartbeats back is looked at again this often: a returning ping (or an
# operator's release) is heeded within it.
HOLD_RECHECK_S = 1.0
# An arm not sent because desired state could not be read past the bound: tried again this often.
UNREADABLE_RECHECK_S = 0.2
# After a refused clock (Binance -1021, OKX 50102), an account's sends wait this long at most for the
# clock to be measured again.
RESYNC_HOLD = 2.0
# How long a clock measurement of a host may be under way before another account of that host, waiting to
# take it, measures the clock itself (longer than any request's timeout).
CLOCK_MEASURING_S = 10.0
# A request whose sender thread starts later than this after it was decided is decided again (plan.py has
# no say in this: it is about the weight and the lease, which may have changed while this process stood).
STALE_DECISION = 1.0


def _host(entry) -> tuple[str, str]:
    """Whose clock an account's client keeps: its host's (one clock per base URL and venue)."""
    return (entry.client.base_url if entry.client is not None else entry.endpoint[0], entry.endpoint[1])


def default_engine_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Engine:
    """`Engine(egress).run(stop_event)` stands by for the lease of one egress identity, then serves it until
    `stop_event` is set or the lease is lost. Usable in any thread (heartbeats.duties runs it in the worker);
    closes its database connections when done."""

    def __init__(
        self, egress: str = "default", engine_id: str | None = None, *, config: EngineConfig | None = None
    ):
        self.egress = egress
        self.engine_id = (engine_id or default_engine_id())[:100]
        self.config = config or EngineConfig.from_settings()
        self.keeper = LeaseKeeper(self)

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

        self._accounts_version = None
        self._in_flight = 0
        # The weight charged for each request in flight, by policy: given back if the request never leaves.
        self._receipts: dict[int, tuple] = {}
        self._draining = False
        # Accounts whose clock must be measured again (after a refused clock): their sends wait until then.
        self._resync: dict[int, float] = {}
        # Hosts (base URL, venue) whose clock an account is measuring now (monotonic start): one measurement
        # serves every account on the host, even where the venue counts requests per account.
        self._clock_measuring: dict[tuple, float] = {}
        # When desired state was last read in full (before the watcher runs; epoch seconds).
        self._loaded_at: float | None = None
        # Shared with the keeper thread by assignment only (see _housekeeping).
        self.status: dict = {}
        self._limits_out: dict[str, dict] = {}
        self._addresses: tuple[str, ...] = ()
        self.end_reason = ""
        self.started_at = None
        self.activated_at: float | None = None
        self.last_error = ""
        self._noted_at = 0.0
        self.sent = 0

    # ---- public -----------------------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """Holding a lease that cannot have expired: the only state in which this engine sends."""
        return self.keeper.is_active

    def desired_read_at(self) -> datetime | None:
        """When desired state was last read successfully (None on standby: nothing to read yet)."""
        read = self.watcher.read_at if self.watcher is not None else self._loaded_at
        if read is None and self.keeper.activated.is_set():
            read = self.activated_at  # holding the lease but not read anything yet: it ages from here
        return datetime.fromtimestamp(read, tz=UTC) if read else None

    def unread_for(self) -> float:
        """Seconds since desired state was last read successfully: past `desired_stale_after`, no arm is
        signed from memory (plan.vet)."""
        read = self.watcher.read_at if self.watcher is not None else self._loaded_at
        return time.time() - read if read else float("inf")

    def trouble(self) -> str:
        """The engine's current trouble for its liveness record: read when the record is written, so a
        database that stops answering shows there at once, not at the next housekeeping."""
        threads = (self.writer, self.watcher)
        return next((e for e in (*(getattr(t, "last_error", "") for t in threads), self.last_error) if e), "")

    def limits_to_share(self) -> dict[str, dict]:
        return self._limits_out

    def addresses(self) -> tuple[str, ...]:
        return self._addresses

    def run(self, stop_event: threading.Event) -> str:
        """Wait on standby for the lease, then serve until `stop_event` is set or the lease is lost. Returns
        why it ended."""
        self.started_at = timezone.now()
        # The loop sleeps up to a second between timers: a stop must end that sleep at once.
        ended = threading.Event()
        waker = threading.Thread(target=self._wake_on_stop, args=(stop_event, ended), daemon=True)
        waker.start()
        try:
            self.keeper.lease.ensure_row()
            self.keeper.publish()
            self.pool = SenderPool(
                self.config.pool_size, self.config.pool_size, name=f"arm-{self.egress}", db=True
            )
            self.burst_pool = SenderPool(4, self.config.pool_max, name=f"zero-{self.egress}")
            self._prewarm()
            self.keeper.start()
            while not self.keeper.activated.is_set():
                if stop_event.is_set():
                    self.end_reason = "stopped on standby"
                    return self.end_reason
                self._pump(1.0)  # the keeper's Wake ends the wait when the lease is taken
            self.end_reason = self._serve(stop_event)
            return self.end_reason
        finally:
            ended.set()
            self._shutdown()

    def _wake_on_stop(self, stop_event: threading.Event, ended: threading.Event) -> None:
        while not ended.is_set():
            if stop_event.wait(1.0):
                self.inbox.put(Wake())
                return

    # ---- standby ----------------------------------------------------------------------------------------

    def _prewarm(self) -> None:
        """Clients built, clocks synced and sender threads started (each with its database connection)
        before the lease is ours: taking over must not wait for any of it."""
        self._accounts_version = accounts_version(self.egress)
        accounts = load_accounts(self.egress)
        # What other processes and earlier engines spent, paused or got banned for: known before the first
        # request of this engine (its clock syncs and exchange info) leaves.
        self._accounts(accounts, address_snapshots(self.egress, accounts))
        policies = CountdownPolicy.objects.filter(account__egress=self.egress).count()
        self.burst_pool.grow_to(policies + 4)

    def _accounts(self, accounts, snapshots=None) -> None:
        now = time.time()
        for entry in self.clients.update(accounts):
            meter = self.meters.get(entry.endpoint)
            if meter is None:
                meter = self.meters[entry.endpoint] = WeightMeter(entry.spec.limit_per_minute)
                snapshot = (snapshots or {}).get(entry.endpoint[0])
                if snapshot is not None:
                    meter.absorb(snapshot)
                if entry.client is not None and entry.spec.limit_per_minute is None:
                    self._start_info(entry, now)  # the venue publishes its limit (Binance's exchangeInfo)
            if entry.client is not None:
                self.timers.set(("sync", entry.account_id), 0.0)
                if not self.keeper.activated.is_set():
                    self._start_sync(entry.account_id, now)
        self._addresses = tuple(sorted({endpoint[0] for endpoint in self.meters}))

    def _gate(self, meter: WeightMeter, key, weight: int, now: float) -> bool:
        """Whether a request other than a countdown (clock sync, exchange info) may go now; if not, its timer
        is set for when it may. Never during a pause or ban, never into the disarms' reserve."""
        if meter.paused(now):
            self.timers.set(key, meter.paused_until + 0.01)
            return False
        if not meter.room_for(weight, urgent=False, now=now):
            self.timers.set(key, meter.next_minute_at(now))
            return False
        meter.charge(weight, now)
        return True

    def _start_info(self, entry, now: float) -> None:
        if self._gate(self.meters[entry.endpoint], ("info", entry.account_id), 1, now):
            decided = time.monotonic()
            self.burst_pool.submit(lambda: self._read_limit(entry, decided))

    def _read_limit(self, entry, decided: float) -> None:
        client, endpoint = entry.client, entry.endpoint
        if self._stale(decided):
            self.inbox.put(Redecide(("info", entry.account_id)))
            return
        try:
            client.exchange_info()
        except ExchangeError as exc:
            log.warning("could not read the weight limit of %s %s: %s", *endpoint, exc)
            return
        self.inbox.put(LimitRead(endpoint, client.weight_limit, client.used_weight))

    def _start_sync(self, account_id: int, now: float) -> None:
        entry = self.clients.get(account_id)
        if entry is None or entry.client is None:
            return
        self.timers.cancel(("sync", account_id))
        measuring = self._clock_measuring.get(_host(entry), -CLOCK_MEASURING_S)
        if account_id not in self._resync and time.monotonic() - measuring < CLOCK_MEASURING_S:
            # Another account of this host is measuring its clock: this one takes that measurement
            # (_on_synced), and measures it itself only if none comes. A refused clock never waits.
            self.timers.set(("sync", account_id), now + CLOCK_MEASURING_S)
            return
        if self._gate(self.meters[entry.endpoint], ("sync", account_id), 1, now):
            decided = time.monotonic()
            self._clock_measuring[_host(entry)] = decided
            self.burst_pool.submit(lambda: self._sync(entry, decided))

    def _sync(self, entry, decided: float) -> None:
        if self._stale(decided):
            self.inbox.put(Redecide(("sync", entry.account_id)))
            return
        try:
            entry.client.sync_time()
            error = ""
        except ExchangeError as exc:
            error = str(exc)
        self.inbox.put(ClockSynced(entry.account_id, error))

    # ---- active duty ------------------------------------------------------------------------------------

    def _serve(self, stop_event) -> str:
        cfg = self.config
        self.activated_at = time.time()
        log.info("engine %s holds the lease of egress %r", self.engine_id, self.egress)
        self.writer = Writer(cfg.write_every, name=f"engine-writer-{self.egress}", gather=cfg.write_gather)
        self.writer.start()
        loaded = self._load_desired(stop_event)
        if loaded is None:
            return "stopped"
        now = time.time()
        for state in loaded:
            # When this engine first saw the generation is now: a predecessor's view is gone, and the second
            # `0` must not count on the web host's clock alone (plan.next_send).
            state.observed_at = now
            self._adopt(state)
        self.watcher = Watcher(
            self.egress, self.inbox, cfg, accounts_seen=self._accounts_version, read_at=self._loaded_at
        )
        self.watcher.start()
        self._housekeeping(time.time())
        self._pump(0)  # the address's stored limits, read as the lease was taken, before the first send

        next_house = 0.0
        while True:
            now = time.time()
            if stop_event.is_set():
                reason = "stopped"
                break
            if self.keeper.lost.is_set():
                reason = "lease lost"
                break
            if now >= next_house:
                self._housekeeping(now)
                next_house = now + 1.0
            self._dispatch(now)
            self._pump(self._wait_for(now, next_house))
        return self._hand_over(reason)

    def _load_desired(self, stop_event) -> list[PolicyState] | None:
        """The accounts and the whole policy set, read on this thread's connection; a connection the
        database dropped while this engine stood by is replaced, and the read tried until it works."""
        attempt = 0
        while not stop_event.is_set() and not self.keeper.lost.is_set():
            try:
                if accounts_version(self.egress) != self._accounts_version:
                    self._accounts_version = accounts_version(self.egress)
                    accounts = load_accounts(self.egress)
                    self._accounts(accounts, address_snapshots(self.egress, accounts))
                loaded = load_policies(self.egress)
                self._loaded_at = time.time()
                return loaded
            except DatabaseError as exc:
                attempt += 1
                if attempt == 1:
                    log.warning("engine %s cannot read desired state (%s); retrying", self.engine_id, exc)
                connection.close()
                stop_event.wait(min(0.05 * attempt, 0.5))
        return None

    def _hand_over(self, reason: str) -> str:
        """Send what falls due during the hand-over now, let requests in flight finish, store every result;
        the lease is released afterwards (in _shutdown), and a standby takes it at once."""
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
        log.info("engine %s stops serving egress %r: %s", self.engine_id, self.egress, reason)
        return reason

    def _wait_for(self, now: float, next_house: float) -> float:
        """Until the next timer or housekeeping; news from another thread (or a lost lease) ends the wait."""
        nxt = self.timers.next_time()
        until = next_house if nxt is None else min(nxt, next_house)
        return max(0.0, min(1.0, until - now))

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
        match event:
            case BeatDone(result, sent):
                self._on_result(result, sent=sent)
            case HeartbeatDone():
                self._on_heartbeat(event)
            case DesiredChanged(rows):
                for policy_id, generation, armed, changed_at in rows:
                    self._adopt_desired(policy_id, generation, armed, changed_at)
                # Policies just armed need their disarms' reserve before their first arms go out, not at
                # the next housekeeping: twenty arms at once would otherwise spend it.
                self._reserve_for_disarms()
            case RowsChanged(states):
                for state in states:
                    self._adopt(state)
                self._reserve_for_disarms()
            case AllRows(states):
                self._adopt_all(states)
                self._reserve_for_disarms()
            case AccountsChanged(accounts, snapshots):
                self._accounts(accounts, snapshots)
            case ClockSynced(account_id, error):
                self._on_synced(account_id, error)
            case LimitRead(endpoint, limit, used):
                meter = self.meters.get(endpoint)
                if meter is not None and limit:
                    meter.limit, meter.limit_known = limit, True
                    meter.report(used)
            case Redecide(key):
                entry = self.clients.get(key[1]) if key[0] == "sync" else None
                if entry is not None:  # a clock measurement not made: the host's is not under way
                    self._clock_measuring.pop(_host(entry), None)
                self.timers.set(key, time.time() + self.config.limits_every + 0.1)
            case Wake():
                pass
            case AddressRead(base_url, snapshot):
                for endpoint, meter in self.meters.items():
                    if endpoint[0] == base_url:
                        meter.absorb(snapshot)

    # ---- desired state ----------------------------------------------------------------------------------

    def _adopt(self, fresh: PolicyState) -> None:
        """Merge a row read from the database: desired state follows it; facts only move forward."""
        p = self.states.get(fresh.id)
        if p is None:
            if fresh.observed_at is None:
                fresh.observed_at = time.time()
            self.states[fresh.id] = fresh
            if (
                fresh.armed
                and fresh.confirmed
                and fresh.next_due_at is not None
                and not self._renews_many(fresh)
            ):
                self.spreader.place(fresh.id, fresh.next_due_at, max_pull=0)
            self._reschedule(fresh)
            return
        merge_row(p, fresh, time.time())
        self._reschedule(p)

    def _adopt_desired(self, policy_id: int, generation: int, armed: bool, changed_at: float | None) -> None:
        """The fast path for arm and disarm: only the desired state, ahead of the whole row."""
        p = self.states.get(policy_id)
        if p is not None and merge_desired(p, generation, armed, changed_at, time.time()):
            self._reschedule(p)

    def _adopt_all(self, rows: list[PolicyState]) -> None:
        present = set()
        for fresh in rows:
            present.add(fresh.id)
            self._adopt(fresh)
        for policy_id in set(self.states) - present:
            p = self.states[policy_id]
            if p.in_flight or p.in_heartbeat:
                p.removed = True
            else:
                self._forget(policy_id)

    def _forget(self, policy_id: int) -> None:
        self.states.pop(policy_id, None)
        self.timers.cancel(("p", policy_id))
        self.spreader.remove(policy_id)

    def _reschedule(self, p: PolicyState) -> None:
        send_ = next_send(p, self._final_delay(p))
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
            if kind == "info":
                entry = self.clients.get(ident)
                if entry is not None and entry.client is not None:
                    self._start_info(entry, now)
                continue
            p = self.states.get(ident)
            if p is None:
                continue
            send_ = next_send(p, self._final_delay(p))
            if send_ is None:
                continue
            if send_.due > now + early:
                self.timers.set(key, send_.due)
                continue
            ready.append((PRIORITY[send_.kind], send_.due, p.id, p, send_))
        ready.sort(key=lambda item: item[:3])
        if len(ready) >= 8 and self.writer is not None:
            self.writer.defer(0.25)
        heartbeats: dict[int, list[PolicyState]] = {}
        for _, _, _, p, send_ in ready:
            if send_.kind == ARM and renews_by_heartbeat(p) and self._renews_many(p):
                heartbeats.setdefault(p.account_id, []).append(p)
            else:
                self._start(p, send_, now)
        for account_id, due in heartbeats.items():
            self._start_heartbeat(account_id, due, now)

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
        unsynced = entry.client.synced_at is None and send_.kind == ARM
        if unsynced or now < self._resync.get(p.account_id, 0.0):
            # The clock is not known, or the exchange just refused it: an arm signed now would be signed
            # after its check by the client's own sync, and any request would earn another -1021. (A zero
            # to a never-synced client may sync first: a zero is never harmful late.)
            self.timers.set(key, now + 0.05)
            return
        meter = self.meters[entry.endpoint]
        spaced_until = p.last_request_at + entry.spec.min_gap_ms / 1000
        if now < spaced_until and not meter.paused(now):
            # The venue takes one request a second per switch (OKX): a disarm waits a fraction of a second
            # here rather than earn a rate-limit pause of the account.
            self.timers.set(key, spaced_until)
            return
        weight = entry.spec.countdown_weight
        pool = self.pool if send_.kind == ARM else self.burst_pool
        held_until = self._held_until(entry, meter, weight, send_.kind != ARM, pool, now)
        if held_until is not None:
            self.timers.set(key, held_until)
            return
        p.in_flight = True
        p.last_request_at = now
        self._in_flight += 1
        self._receipts[p.id] = (weight, meter.charge(weight, now))
        client = entry.client
        decided = time.monotonic()
        pool.submit(lambda: self._send(job, client, decided))

    def _held_until(self, entry, meter: WeightMeter, weight: int, urgent: bool, pool, now: float):
        """When a request of `weight` may be tried again if it may not go now (None if it may): never during
        a pause or ban, never past the budget (only disarms may spend their reserve), never without a free
        sender thread. The one gate of every countdown request, single or heartbeat."""
        if meter.paused(now):
            return meter.paused_until + 0.01
        if not meter.room_for(weight, urgent=urgent, now=now):
            self._note(
                f"Weight budget reached on {entry.endpoint[0]}: holding heartbeats until the next minute."
            )
            return meter.next_minute_at(now)
        if pool.idle() <= 0:
            pool.grow_to(pool.size + 8)
            if pool.idle() <= 0:
                return now + 0.005
        return None

    def _stale(self, decided: float) -> bool:
        """A request decided so long ago that the decision may no longer hold: this process was paused (or
        starved) in between, and other processes may have spent the address's weight meanwhile. It is made
        again once the keeper has shared the address's limits afresh."""
        return time.monotonic() - decided > STALE_DECISION

    def _send(self, job: Job, client, decided: float) -> None:
        """On a sender thread. Always reports back, so a policy is never left marked in flight."""
        if self._stale(decided):
            message = f"Not sent: decided {time.monotonic() - decided:.1f} s earlier; deciding again."
            self.inbox.put(
                BeatDone(Result(job, Outcome.SKIPPED, time.time(), message=message, redecide=True))
            )
            return
        try:
            result = send(
                job,
                client,
                check=read_desired if job.kind == ARM else None,
                unread_for=self.unread_for,
                bound=self.config.desired_stale_after,
            )
        except Exception:
            log.exception("sending for policy %s failed unexpectedly", job.policy_id)
            result = Result(job, Outcome.UNCERTAIN, time.time(), message="Unexpected failure while sending.")
        self.inbox.put(BeatDone(result))

    def _final_delay(self, p: PolicyState) -> float:
        entry = self.clients.get(p.account_id)
        return self.config.final_delay_for(entry.endpoint[1] if entry is not None else "")

    def _renews_many(self, p: PolicyState) -> bool:
        entry = self.clients.get(p.account_id)
        return entry is not None and entry.renews_many

    def _start_heartbeat(self, account_id: int, due: list[PolicyState], now: float) -> None:
        """One heartbeat call renewing every switch of the account that is due, and those due within half
        their interval (renewing early costs nothing more): one call per interval for all of them, as the
        venue intends, rather than one per switch."""
        entry = self.clients.get(account_id)
        if entry is None or entry.client is None:
            for p in due:  # being reloaded, or its key cannot sign: _start says so, one switch at a time
                self._start(p, next_send(p, self._final_delay(p)), now)
            return
        if now < self._resync.get(account_id, 0.0):
            for p in due:  # the exchange just refused the clock: wait for it to be measured again
                self.timers.set(("p", p.id), now + 0.05)
            return
        meter = self.meters[entry.endpoint]
        weight = entry.spec.heartbeat_weight
        held_until = self._held_until(entry, meter, weight, False, self.pool, now)
        if held_until is not None:
            for p in due:
                self.timers.set(("p", p.id), held_until)
            return
        members = {p.id: p for p in due}
        for p in self.states.values():
            if p.account_id != account_id or p.id in members or not p.armed or not renews_by_heartbeat(p):
                continue
            upcoming = next_send(p, self._final_delay(p))
            if upcoming is not None and upcoming.kind == ARM and upcoming.due <= now + p.interval_s / 2:
                members[p.id] = p
                self.timers.cancel(("p", p.id))
        jobs = []
        for p in members.values():
            upcoming = next_send(p, self._final_delay(p))
            # Not `in_flight`: a disarm may go while the heartbeat is out (plan.next_send).
            p.in_heartbeat = True
            jobs.append(Job(p.id, account_id, p.symbol, ARM, p.countdown_ms, p.generation, upcoming.due))
        self._in_flight += len(jobs)
        receipt = meter.charge(weight, now)
        client, decided = entry.client, time.monotonic()
        self.pool.submit(lambda: self._send_heartbeat(jobs, client, decided, receipt, entry.endpoint, weight))

    def _send_heartbeat(self, jobs, client, decided: float, receipt, endpoint, weight: int) -> None:
        """On a sender thread. Always reports back, so no switch is left marked in flight."""
        if self._stale(decided):
            message = f"Not sent: decided {time.monotonic() - decided:.1f} s earlier; deciding again."
            results = [Result(j, Outcome.SKIPPED, time.time(), message=message, redecide=True) for j in jobs]
        else:
            try:
                results = send_heartbeat(
                    jobs,
                    client,
                    check=read_desired_many,
                    unread_for=self.unread_for,
                    bound=self.config.desired_stale_after,
                )
            except Exception:
                log.exception("a heartbeat for %d switches failed unexpectedly", len(jobs))
                message = "Unexpected failure while sending."
                results = [Result(j, Outcome.UNCERTAIN, time.time(), message=message) for j in jobs]
        self.inbox.put(HeartbeatDone(results, receipt, endpoint, weight))

    def _on_heartbeat(self, done: HeartbeatDone) -> None:
        meter = self.meters.get(done.endpoint)
        if meter is not None and all(r.outcome == Outcome.SKIPPED for r in done.results):
            meter.refund(done.weight, done.receipt, time.time())  # nothing left, so nothing was spent
        for result in done.results:
            self._on_result(result, heartbeat=True)

    def _on_result(self, result, sent: bool = True, heartbeat: bool = False) -> None:
        job = result.job
        now = time.time()
        if sent:
            self._in_flight -= 1
        receipt = self._receipts.pop(job.policy_id, None) if sent else None
        entry = self.clients.get(job.account_id)
        if entry is not None:
            meter = self.meters[entry.endpoint]
            if receipt is not None and result.outcome == Outcome.SKIPPED:
                # Held or vetoed after it was decided: nothing left, so nothing was spent.
                meter.refund(*receipt, now)
            if result.offset_ms is not None:
                meter.offset_ms = result.offset_ms
            meter.report(result.used_weight, result.received_at or now, sent_at=result.sent_at)
            if result.outcome == Outcome.RATE_LIMITED:
                self._rate_limited(meter, entry, result, now)
            if result.clock_refused and job.account_id not in self._resync:
                # Measure the clock again; the retry then goes back through next_send and vet like any beat.
                self._resync[job.account_id] = now + RESYNC_HOLD
                self._start_sync(job.account_id, now)
        if result.outcome != Outcome.SKIPPED:
            self.sent += 1
        facts = facts_for(result)
        p = self.states.get(job.policy_id)
        if p is None:
            self.writer.submit(beat_for(result, self.engine_id), job.policy_id, facts)
            return
        if heartbeat:
            p.in_heartbeat = False
        else:
            p.in_flight = False
        # A renewal of an arm already confirmed may be stored with others (records.Writer); news is not.
        routine = job.kind == ARM and result.outcome == Outcome.CONFIRMED
        routine = routine and p.last_arm_generation == job.generation
        if result.desired is not None:
            armed, generation = result.desired[:2]
            if generation < 0:
                p.removed = True
            else:
                merge_desired(p, generation, armed, None, now)
        for name, value in facts.items():
            setattr(p, name, value)
        outcome = result.outcome
        if result.held:
            # Looked at again every HOLD_RECHECK_S (a returning ping shows within that), recorded once.
            p.retry_at = now + HOLD_RECHECK_S
            self._reschedule(p)
            if p.held_note == result.message:
                return
            p.held_note = result.message
            self.writer.submit(beat_for(result, self.engine_id), job.policy_id, facts)
            return
        if heartbeat and job.generation != p.generation:
            # A heartbeat that a disarm (sent meanwhile) superseded: stored, but the current generation's own
            # sends and retries stand.
            self._reschedule(p)
            self.writer.submit(beat_for(result, self.engine_id), job.policy_id, facts)
            return
        p.held_note = ""
        if result.not_renewed:
            p.configured = False  # so that the retry configures the switch again (plan.renews_by_heartbeat)
        if result.redecide:
            p.retry_at = now + self.config.limits_every + 0.1  # once the address's limits are read afresh
        elif outcome == Outcome.CONFIRMED:
            p.retry_at, p.attempts = None, 0
            if job.kind == ARM:
                target = result.sent_at + p.interval_s
                p.configured = p.generation == job.generation
                if self._renews_many(p):
                    # Renewed together: kept in step, never spread apart (one heartbeat for them all).
                    p.next_due_at = target
                else:
                    p.next_due_at = self.spreader.place(p.id, target, max_pull=p.interval_s * 0.1)
        elif outcome == Outcome.UNCERTAIN:
            p.attempts += 1
            p.retry_at = now + uncertain_delay(p.attempts)
        elif outcome == Outcome.TEMPORARY:
            p.attempts += 1
            cap = p.interval_s if job.kind == ARM else 4
            p.retry_at = now + temporary_delay(p.attempts, cap)
        elif outcome == Outcome.SKIPPED and result.desired is None:
            # Not armed from memory past the bound: looked at again shortly, not spun on until the database
            # answers.
            p.retry_at = now + UNREADABLE_RECHECK_S
        elif outcome == Outcome.FATAL:
            log.error("policy %s (%s) stopped after a fatal error: %s", p.id, p.symbol, result.message)
        if p.removed and not p.in_flight and not p.in_heartbeat:
            self._forget(p.id)
        else:
            self._reschedule(p)
        upcoming = next_send(p, self._final_delay(p)) if not p.removed else None
        facts["next_due_at"] = upcoming.due if upcoming is not None and upcoming.kind == ARM else None
        self.writer.submit(beat_for(result, self.engine_id), job.policy_id, facts, routine=routine)

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
        self._refresh_limits(now)  # every process on the address must pause too: shared at the next step

    def _on_synced(self, account_id: int, error: str) -> None:
        entry = self.clients.get(account_id)
        if entry is None or entry.client is None:
            return
        meter = self.meters[entry.endpoint]
        meter.report(entry.client.used_weight)
        self._clock_measuring.pop(_host(entry), None)
        if error:
            log.warning("clock sync for %s failed: %s", entry.label, error)
            self.timers.set(("sync", account_id), max(time.time() + 5, meter.paused_until + 0.01))
            return
        self._resync.pop(account_id, None)
        meter.offset_ms = entry.client.offset_ms
        next_sync = time.time() + self.config.time_sync_every
        self.timers.set(("sync", account_id), next_sync)
        # The host has one clock: every other account on it takes this measurement instead of asking again
        # (one request a period per host, not per account), but one whose clock the exchange refused since,
        # which measures it itself.
        for other in self.clients.entries():
            if other is entry or other.client is None or _host(other) != _host(entry):
                continue
            if other.account_id in self._resync or (other.client.synced_at or 0) >= entry.client.synced_at:
                continue
            other.client.adopt_clock(entry.client)
            if other.endpoint in self.meters:  # the exchange's minute, on its clock (weight.py)
                self.meters[other.endpoint].offset_ms = other.client.offset_ms
            self.timers.set(("sync", other.account_id), next_sync)

    # ---- bookkeeping ------------------------------------------------------------------------------------

    def _reserve_for_disarms(self) -> None:
        """Room for a disarm and its second `0` for every policy that may still need them."""
        owed = {}
        for p in self.states.values():
            entry = self.clients.get(p.account_id)
            if entry is not None and (p.armed or owes_disarm(p)):
                owed[entry.endpoint] = owed.get(entry.endpoint, 0) + 1
        for endpoint, meter in self.meters.items():
            meter.set_reserve_for(owed.get(endpoint, 0), venue(endpoint[1]).countdown_weight)

    def _housekeeping(self, now: float) -> None:
        self._reserve_for_disarms()
        self.burst_pool.grow_to(len(self.states) + 4)
        meters = list(self.meters.values())
        if self.last_error and now - self._noted_at > 60:
            self.last_error = ""
        self._refresh_limits(now)
        # The identity's own figures: its address's weight and pauses. A venue that limits each account (OKX,
        # Kraken Futures) is paused per account (shared through ratelimits), never shown as the desk's.
        address = [m for (_, key), m in self.meters.items() if venue(key).limit_scope == "address"]
        self.status = {
            "clock_offset_ms": (address or meters)[0].offset_ms if meters else None,
            "used_weight": max((m.used(now) for m in address), default=None),
            "weight_limit": min((m.limit for m in address), default=None),
            "rate_limited_until": as_datetime(max((m.paused_until for m in address), default=0) or None),
            "banned_until": as_datetime(max((m.banned_until for m in address), default=0) or None),
        }
        for meter in meters:
            if meter.paused_until and meter.paused_until < now:
                meter.paused_until = 0.0
            if meter.banned_until and meter.banned_until < now:
                meter.banned_until = 0.0

    def _refresh_limits(self, now: float) -> None:
        """What the keeper shares with other processes next (ratelimits): per address, the busiest meter."""
        limits: dict[str, dict] = {}
        for (base_url, _venue), meter in self.meters.items():
            stored = meter.stored(now)
            known = limits.get(base_url)
            limits[base_url] = (
                stored if known is None or stored["used_weight"] > known["used_weight"] else known
            )
        self._limits_out = limits

    def _note(self, message: str) -> None:
        """The engine's latest trouble, shown on its liveness record for a minute."""
        self.last_error = message[:300]
        self._noted_at = time.time()

    def _shutdown(self) -> None:
        self.keeper.stop()
        if self.keeper.is_alive():
            self.keeper.join(timeout=5)
        if self.watcher is not None:
            self.watcher.stop()
        # Nothing is in flight and the results are stored (_hand_over): hand the lease over first, so the
        # standby's gap does not include this engine's clean-up (nor the watcher's last wait, wakeup.SLICE).
        self.keeper.release(self.end_reason or "stopped")
        if self.watcher is not None:
            self.watcher.join(timeout=2)
        for pool in (self.pool, self.burst_pool):
            if pool is not None:
                pool.stop(timeout=self.config.connect_timeout + self.config.read_timeout)
        if self.writer is not None:
            self.writer.stop(timeout=5)
        self.clients.close()
        connections.close_all()
