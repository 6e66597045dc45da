"""One countdownCancelAll request and what came of it, in the engine's outcome classes. Used by the engine's
sender threads and by the web process when it must send disarms itself."""

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import Error as DatabaseError
from django.db import connection

from heartbeats.domain import disarm_journal
from heartbeats.engine import sql
from heartbeats.engine.plan import ARM, vet
from heartbeats.exchange.errors import (
    ExchangeError,
    FatalError,
    OutcomeUnknownError,
    RateLimitedError,
    TimestampError,
)
from heartbeats.models import Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    policy_id: int
    account_id: int
    symbol: str
    kind: str  # plan.ARM, plan.DISARM or plan.FINAL
    countdown_ms: int
    generation: int
    due_at: float | None


@dataclass
class Result:
    job: Job
    outcome: str
    sent_at: float
    received_at: float | None = None
    latency_ms: float | None = None
    http_status: int | None = None
    error_code: int | None = None
    message: str = ""
    used_weight: int | None = None
    server_time_ms: int | None = None
    retry_after: float | None = None
    banned: bool = False
    offset_ms: int | None = None
    # (armed, generation, strategy hold) as read from the database just before signing.
    desired: tuple | None = None
    # Not sent because the policy's strategy holds its heartbeats back (strategies.holds).
    held: bool = False
    # Not sent because its decision had grown stale: the sender decides again (no retry bookkeeping).
    redecide: bool = False
    # Asked for in a heartbeat that did not renew it (send_heartbeat): the switch must be configured again.
    not_renewed: bool = False
    # The exchange refused the request's time (Binance -1021, OKX 50102): the clock must be measured again.
    clock_refused: bool = False


JOURNAL_HOLD = "Held: a disarm pressed while the database was locked is about to be recorded."


def read_desired(policy_id: int) -> tuple | None:
    """(armed, generation, why it is held) from the database -- its strategy's hold, or a disarm kept in the
    disarm journal of this host -- (False, -1) if the policy is gone, None if it cannot be read.
    A connection the database dropped (restart, fail-over, terminated backend) is replaced and the read
    tried once more, so one bad connection never makes a thread deaf."""
    for attempt in (1, 2):
        # The journal first, then the database: an entry is removed only once the database holds its disarm,
        # so one absent now was recorded before the read below, which then sees it. Read the other way round,
        # a disarm recorded (and its entry removed) between the two reads would be seen by neither.
        journalled = disarm_journal.names(policy_id)
        try:
            desired = sql.desired(policy_id) or (False, -1)
        except DatabaseError as exc:
            connection.close()  # the next query opens a new one
            if attempt == 2:
                log.warning("could not re-read policy %s before sending (%s)", policy_id, exc)
            continue
        if desired[0] and journalled:
            # Disarmed by someone while the database could not take it: not armed again before it can.
            return (*desired[:2], JOURNAL_HOLD)
        return desired
    return None


def read_desired_many(policy_ids: list[int]) -> dict[int, tuple | None]:
    """read_desired() of one heartbeat's switches in one query, each as read_desired() gives it."""
    for attempt in (1, 2):
        journalled = {pid: disarm_journal.names(pid) for pid in policy_ids}  # first: see read_desired()
        try:
            rows = sql.desired_many(policy_ids)
        except DatabaseError as exc:
            connection.close()
            if attempt == 2:
                log.warning("could not re-read policies %s before sending (%s)", policy_ids, exc)
            continue
        found = {}
        for pid in policy_ids:
            desired = rows.get(pid) or (False, -1)
            found[pid] = (*desired[:2], JOURNAL_HOLD) if desired[0] and journalled[pid] else desired
        return found
    return dict.fromkeys(policy_ids)


def send(
    job: Job,
    client,
    *,
    check: Callable[[int], tuple[bool, int] | None] | None = None,
    unread_for: Callable[[], float] = lambda: 0.0,
    bound: float = math.inf,
) -> Result:
    """Send one countdown request. For an arm, `check` re-reads the desired state just before signing and
    plan.vet() decides whether it may still go (else it is skipped, never sent). `unread_for` and `bound`:
    see vet()."""
    desired = None
    signed_at = None
    if job.kind == ARM and check is not None:
        # Signed with the time the check began, not the time it is sent: an arm checked before a disarm
        # was committed then carries a timestamp from before it, whatever happens to this thread in between
        # (a pause, a stopped process), so the disarm's second zero (plan.next_send) is sure to undo it or
        # the exchange to refuse it (outside recvWindow).
        signed_at = time.time()
        desired = check(job.policy_id)
        why = vet(job.kind, job.generation, desired, unread_for(), bound)
        if why:
            held = desired is not None and len(desired) > 2 and why == desired[2]
            return Result(job, Outcome.SKIPPED, time.time(), message=why, desired=desired, held=held)
    started = time.time()
    try:
        ack = client.countdown(job.symbol, job.countdown_ms, signed_at=signed_at)
    except Exception as exc:
        result = _failure(job, started, exc, client)
    else:
        result = _confirmed(job, ack, client)
    # The decision's reading goes with the result (a disarm committed meanwhile reaches the engine through
    # its watcher, woken by the commit, and the disarm's second zero covers this arm in any case).
    result.desired = desired
    return result


def send_heartbeat(
    jobs: list[Job],
    client,
    *,
    check: Callable[[list[int]], dict[int, tuple | None]] | None = None,
    unread_for: Callable[[], float] = lambda: 0.0,
    bound: float = math.inf,
) -> list[Result]:
    """Renew several switches of one account in one heartbeat call (a venue whose switches are configured
    once, then renewed together: exchange.venues.CONFIG_AND_HEARTBEAT). Each switch goes through vet() as an
    arm does; those it refuses are left out of the call (SKIPPED). One result per job: an underlying the
    exchange did not list as renewed is a failure (`not_renewed`), never a confirmation."""
    signed_at = time.time()  # see send(): from before every check, so a disarm's second zero covers it
    results, going = [], []
    # Every switch of the call read in one query (read_desired_many), each then vetted on its own.
    readings = check([job.policy_id for job in jobs]) if check is not None else {}
    for job in jobs:
        desired = readings.get(job.policy_id)
        why = vet(ARM, job.generation, desired, unread_for(), bound) if check is not None else ""
        if why:
            held = desired is not None and len(desired) > 2 and why == desired[2]
            results.append(Result(job, Outcome.SKIPPED, time.time(), message=why, desired=desired, held=held))
        else:
            going.append((job, desired))
    if not going:
        return results
    started = time.time()
    try:
        answer = client.heartbeat([job.symbol for job, _ in going], signed_at=signed_at)
    except Exception as exc:
        failed = _failure(going[0][0], started, exc, client)
        for job, desired in going:
            results.append(dataclasses.replace(failed, job=job, desired=desired))
        return results
    together = f"Renewed in one heartbeat with {', '.join(answer.asked)}."[:300]
    for job, desired in going:
        result = _confirmed(job, answer, client)
        if job.symbol in answer.renewed:
            result.message = together if len(answer.asked) > 1 else ""
        else:
            result.outcome, result.not_renewed = Outcome.TEMPORARY, True
            result.message = (
                f"Not renewed: the exchange holds no countdown for {job.symbol} (it ran out or was turned "
                "off); configuring it again."
            )
        result.desired = desired
        results.append(result)
    return results


def _confirmed(job: Job, ack, client) -> Result:
    return Result(
        job,
        Outcome.CONFIRMED,
        ack.sent_at,
        received_at=ack.received_at,
        latency_ms=ack.latency_ms,
        http_status=ack.http_status,
        used_weight=ack.used_weight,
        server_time_ms=ack.timestamp_ms,
        offset_ms=client.offset_ms,
    )


def _failure(job: Job, started: float, exc: Exception, client) -> Result:
    """What a failed request came to, in the engine's outcome classes (the one mapping for every sender)."""
    if isinstance(exc, RateLimitedError):
        result = _failed(job, Outcome.RATE_LIMITED, started, exc, client)
        result.retry_after, result.banned = exc.retry_after, exc.banned
        return result
    if isinstance(exc, OutcomeUnknownError):
        return _failed(job, Outcome.UNCERTAIN, started, exc, client)
    if isinstance(exc, FatalError):
        return _failed(job, Outcome.FATAL, started, exc, client)
    if isinstance(exc, ExchangeError):  # TemporaryError and whatever else the client knows
        result = _failed(job, Outcome.TEMPORARY, started, exc, client)
        result.clock_refused = isinstance(exc, TimestampError)
        return result
    if isinstance(exc, ValueError):
        # Refused by the client before sending (a malformed symbol or countdown): retrying will not help.
        return Result(job, Outcome.FATAL, started, message=str(exc)[:300])
    # Not a failure the client knows: the request may have left. Count it as unknown, never confirmed.
    log.error("unexpected failure sending for policy %s", job.policy_id, exc_info=exc)
    return Result(job, Outcome.UNCERTAIN, started, message="Unexpected failure while sending.")


def _failed(job: Job, outcome: str, started: float, exc: ExchangeError, client) -> Result:
    now = time.time()
    return Result(
        job,
        outcome,
        started,
        received_at=now if exc.http_status is not None else None,
        latency_ms=(now - started) * 1000,
        http_status=exc.http_status,
        error_code=exc.code,
        message=str(exc)[:300],
        used_weight=exc.used_weight if exc.used_weight is not None else getattr(client, "used_weight", None),
        server_time_ms=int(started * 1000) + (getattr(client, "offset_ms", 0) or 0),
        offset_ms=getattr(client, "offset_ms", None),
    )


def unusable(job: Job, message: str) -> Result:
    """The account's key cannot sign: nothing was sent, and trying again will not help."""
    return Result(job, Outcome.FATAL, time.time(), message=message[:300])
