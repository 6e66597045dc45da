"""From a send result to the database: the Beat row and the policy facts, and the writer that stores them in
small batches. If the database is briefly unavailable the writer keeps results in memory and retries."""

import logging
import threading
import time

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db import Error as DatabaseError

from heartbeats.domain import metrics
from heartbeats.engine.plan import ARM, DISARM, FINAL, as_datetime
from heartbeats.engine.sender import Result
from heartbeats.models import Beat, BeatKind, CountdownPolicy, Outcome
from heartbeats.models.bulk import insert_many

log = logging.getLogger(__name__)


def beat_for(result: Result, sender: str) -> Beat:
    job = result.job
    return Beat(
        policy_id=job.policy_id,
        generation=job.generation,
        kind=BeatKind.ARM if job.kind == ARM else BeatKind.DISARM,
        countdown_ms=job.countdown_ms,
        due_at=as_datetime(job.due_at),
        sent_at=as_datetime(result.sent_at),
        latency_ms=result.latency_ms,
        outcome=result.outcome,
        http_status=result.http_status,
        error_code=result.error_code,
        message=result.message[:300],
        server_time=as_datetime(result.server_time_ms / 1000) if result.server_time_ms else None,
        used_weight=result.used_weight,
        sender=sender[:100],
    )


def facts_for(result: Result) -> dict:
    """The policy facts this result establishes, as epoch seconds (see apply_facts / stored_facts)."""
    job, outcome = result.job, result.outcome
    if outcome == Outcome.SKIPPED:
        return {}
    facts = {
        "last_attempt_at": result.sent_at,
        "last_outcome": outcome,
        "last_error": "" if outcome == Outcome.CONFIRMED else result.message[:300],
    }
    if outcome == Outcome.CONFIRMED:
        if job.kind == ARM:
            # The send time, not the answer's: the exchange applied it later, so the countdown runs out no
            # earlier than this + countdown.
            facts.update(
                last_arm_sent_at=result.sent_at,
                last_arm_countdown_ms=job.countdown_ms,
                last_arm_generation=job.generation,
            )
        elif job.kind == DISARM:
            facts.update(disarm_acked_at=result.received_at, disarm_acked_generation=job.generation)
        elif job.kind == FINAL:
            facts.update(
                disarm_acked_at=result.received_at,
                disarm_acked_generation=job.generation,
                final_disarm_generation=job.generation,
            )
    elif outcome == Outcome.FATAL:
        facts["fatal_generation"] = job.generation
    return facts


_TIME_FIELDS = {"last_attempt_at", "last_arm_sent_at", "disarm_acked_at", "next_due_at"}


def stored_facts(facts: dict) -> dict:
    return {k: as_datetime(v) if k in _TIME_FIELDS else v for k, v in facts.items()}


def write_now(beats: list[Beat], updates: dict[int, dict]) -> None:
    """One short transaction: the beats, then each policy's facts (only the engine's own columns). Every
    sender (the engine's writer, the web's fallback) stores beats here, so here they are counted (metrics)."""
    try:
        with transaction.atomic():
            _insert_beats(beats)
            _update_facts(updates)
    except IntegrityError:
        # A policy was deleted meanwhile (foreign keys are checked at commit): store the rest one by one.
        stored = []
        for beat in beats:
            try:
                with transaction.atomic():
                    beat.pk = None
                    beat.save(force_insert=True)
                stored.append(beat)
            except IntegrityError:
                pass
        with transaction.atomic():
            _update_facts(updates)
        beats = stored
    metrics.count_beats(beats)


def _insert_beats(beats: list[Beat]) -> None:
    insert_many(beats)


def _update_facts(updates: dict[int, dict]) -> None:
    """One executemany per set of columns: a burst of results (disarm all) is a few statements, not one
    ORM update per policy. Only the engine's own columns are written, never the desired state."""
    groups: dict[tuple, list] = {}
    for policy_id, facts in updates.items():
        if facts:
            names = tuple(sorted(facts))
            groups.setdefault(names, []).append((policy_id, facts))
    db = connections[DEFAULT_DB_ALIAS]
    table = db.ops.quote_name(CountdownPolicy._meta.db_table)
    pk = db.ops.quote_name(CountdownPolicy._meta.pk.column)
    for names, rows in groups.items():
        fields = [CountdownPolicy._meta.get_field(name) for name in names]
        assignments = ", ".join(f"{db.ops.quote_name(f.column)} = %s" for f in fields)
        params = [
            [f.get_db_prep_save(value, db) for f, value in zip(fields, _values(facts, names), strict=True)]
            + [policy_id]
            for policy_id, facts in rows
        ]
        with db.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", params)  # noqa: S608


def _values(facts: dict, names: tuple) -> list:
    stored = stored_facts(facts)
    return [stored[name] for name in names]


class Writer(threading.Thread):
    """Stores results in small batches on its own thread, so a slow or locked database never delays a beat."""

    def __init__(self, every: float = 0.05, name: str = "engine-writer", gather: float = 0.0):
        super().__init__(name=name, daemon=True)
        self.every = every
        # Accepted arms are gathered this long into one commit (zeros and failures are written at once):
        # every commit wakes each process waiting for news of the database (wakeup.py), so five beats a
        # second written one by one would wake them all five times.
        self.gather = gather
        self._gather_until = 0.0
        self._prompt = threading.Event()
        self._lock = threading.Lock()
        self._beats: list[Beat] = []
        self._updates: dict[int, dict] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._defer_until = 0.0
        self._urgent = threading.Event()
        self.failing_since: float | None = None
        self.last_error = ""
        self.written = 0

    def submit(
        self, beat: Beat | None, policy_id: int | None = None, facts: dict | None = None, *, routine=False
    ) -> None:
        """`routine`: a renewal accepted like the one before it, which may wait `gather` to be stored with
        others; anything else (a first arm, a zero, a failure) is stored at once."""
        with self._lock:
            if not self._beats and not self._updates:
                self._gather_until = time.monotonic() + self.gather
            if beat is not None:
                self._beats.append(beat)
            if policy_id is not None and facts:
                self._updates.setdefault(policy_id, {}).update(facts)
            self._idle.clear()
        if not routine:
            self._prompt.set()
        self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._beats) + len(self._updates)

    def defer(self, seconds: float) -> None:
        """Hold writes back briefly while a burst of requests (disarm all) is being sent: storing results
        competes with the senders for the interpreter, and the last acknowledgement matters more."""
        self._defer_until = max(self._defer_until, time.monotonic() + seconds)

    def flush(self, timeout: float) -> bool:
        self._urgent.set()
        self._wake.set()
        try:
            return self._idle.wait(timeout)
        finally:
            self._urgent.clear()

    def stop(self, timeout: float = 10.0) -> bool:
        flushed = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self.join(timeout=2)
        return flushed

    def run(self) -> None:
        backoff = 0.1
        try:
            while True:
                # Nothing pending: sleep until a result is submitted (an idle engine wakes nobody).
                self._wake.wait(None if self._idle.is_set() else self.every)
                self._wake.clear()
                while not (self._prompt.is_set() or self._urgent.is_set() or self._stop.is_set()):
                    left = self._gather_until - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
                    self._wake.clear()
                self._prompt.clear()
                while time.monotonic() < self._defer_until and not (
                    self._urgent.is_set() or self._stop.is_set()
                ):
                    self._wake.wait(min(self.every, self._defer_until - time.monotonic()))
                    self._wake.clear()
                with self._lock:
                    beats, updates = self._beats, self._updates
                    self._beats, self._updates = [], {}
                if beats or updates:
                    try:
                        write_now(beats, updates)
                    except DatabaseError as exc:
                        self._keep(beats, updates)
                        self._failed(exc)
                        connection.close()  # a dropped connection is replaced at the next try
                        if self._stop.is_set() and time.time() - (self.failing_since or 0) > 5:
                            break
                        time.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    self.written += len(beats)
                    backoff = 0.1
                    if self.failing_since is not None:
                        log.warning("database writes work again; stored %d delayed beats", len(beats))
                    self.failing_since, self.last_error = None, ""
                with self._lock:
                    if not self._beats and not self._updates:
                        self._idle.set()
                if self._stop.is_set() and self._idle.is_set():
                    break
        finally:
            connections.close_all()

    def _keep(self, beats, updates) -> None:
        with self._lock:
            self._beats = beats + self._beats
            for policy_id, facts in self._updates.items():
                updates.setdefault(policy_id, {}).update(facts)
            self._updates = updates

    def _failed(self, exc: DatabaseError) -> None:
        if self.failing_since is None:
            self.failing_since = time.time()
            log.warning("database write failed (%s); keeping results in memory and retrying", exc)
        self.last_error = f"Database writes failing: {exc}"[:300]
