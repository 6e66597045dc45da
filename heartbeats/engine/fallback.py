"""Disarms sent by the web process itself, when no engine can send them for the policies' egress: none is
alive, or the live one cannot read desired state (EngineLiveness.is_deaf) and so would not see a disarm.

Nothing here is remembered in memory: an owed zero is derived from the stored row (plan.owes_disarm and
plan.next_send, the engine's own rules), so whichever web process is alive sends it. The action sends the
first zeros at once (`send_owed(ids)`); the `owed-zeros` duty (heartbeats.duties, held by one web process)
looks every second for zeros still owed, such as the second `0` that comes recvWindow + clock error after
the first, and sends those that are due. A web process recycled or killed in between loses nothing: the
process that takes the duty over finds the same rows.

One process at a time sends for an address (it holds the lease `send:<egress>:<base url>` while it does),
one request per (account, symbol) within it; every request obeys the address's stored weight, 429 pause and
ban (heartbeats.domain.ratelimits).
"""

import contextlib
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import Error as DatabaseError
from django.db import close_old_connections

from heartbeats.domain import budget, ratelimits
from heartbeats.domain.budget import WEIGHT_PER_BEAT
from heartbeats.domain.clients import shared_client
from heartbeats.domain.leases import Lease
from heartbeats.engine.config import EngineConfig
from heartbeats.engine.liveness import sending_egresses
from heartbeats.engine.plan import DISARM, next_send
from heartbeats.engine.records import beat_for, facts_for, write_now
from heartbeats.engine.sender import Job, Result, send, unusable
from heartbeats.engine.watcher import state_from_row
from heartbeats.engine.watcher import state_values as policy_columns
from heartbeats.exchange.errors import ExchangeError
from heartbeats.models import CountdownPolicy, ExchangeAccount, Outcome

log = logging.getLogger(__name__)

SENDER = "web"
# How long a process's claim on an address lasts if it dies while sending (every request has a timeout).
CLAIM_FOR = 15.0
_lock = threading.Lock()
_in_flight: set[tuple[int, str]] = set()
# Accounts whose clock the exchange refused (-1021, 50102): measured before their next zero.
_resync: set[int] = set()


def holder() -> str:
    return f"web:{socket.gethostname()}:{os.getpid()}"[:100]


def client_of(account, config: EngineConfig):
    """The account's client kept by this process, with as many kept-alive connections as zeros may go at
    once (one per policy), like the engine's clients."""
    return shared_client(
        account, **config.client_options(time_sync_every=config.time_sync_every, pool_maxsize=config.pool_max)
    )


# While some policy owes a zero, the owed-zeros duty looks this often whether its engine can still send it;
# otherwise a disarm wakes it (heartbeats.engine.wakeup), and it looks anyway after OWED_REST.
OWED_EVERY = 1.0
OWED_REST = 10.0


def owed_round() -> float:
    """The owed-zeros duty's step: send what is owed where no engine can; the seconds until it looks again."""
    _, owing = _send_owed(None, EngineConfig.from_settings())
    return OWED_EVERY if owing else OWED_REST


def send_owed(policy_ids=None, *, config: EngineConfig | None = None) -> list[Result]:
    """Send every zero that is owed and due now for policies (of `policy_ids`, if given) whose egress has no
    engine able to send it; store the results; return them."""
    return _send_owed(policy_ids, config or EngineConfig.from_settings())[0]


def _send_owed(policy_ids, config: EngineConfig) -> tuple[list[Result], set[str]]:
    """send_owed(), and the egress identities whose policies owe a zero, sent here or not."""
    owing = CountdownPolicy.objects.filter(CountdownPolicy.owes_disarm_q())
    if policy_ids is not None:
        owing = owing.filter(pk__in=list(policy_ids))
    # Which identities owe zeros, then which of them no engine serves, and only their rows: right after a
    # Disarm all every identity owes hundreds and has its engine, and this press must not spend the CPU
    # those engines are sending with on reading rows it will not send for.
    egresses = set(owing.order_by().values_list("account__egress", flat=True).distinct())
    orphaned = egresses - sending_egresses(egresses) if egresses else set()
    if not orphaned:
        return [], egresses
    rows = list(
        owing.filter(account__egress__in=orphaned).values(
            *policy_columns(), "account__egress", "account__venue"
        )
    )
    now = time.time()
    due = []
    for row in rows:
        state = state_from_row(row)
        planned = next_send(state, config.final_delay_for(row["account__venue"]))
        if planned is not None and planned.due <= now:
            due.append((state, planned, row["account__egress"]))
    if not due:
        return [], egresses
    accounts = ExchangeAccount.objects.in_bulk({state.account_id for state, _, _ in due})
    results = []
    for (egress, base_url), batch in _by_address(due, accounts).items():
        results += _send_for_address(egress, base_url, batch, accounts, config)
    return results, egresses


def send_zeros_now(policy_ids, *, config: EngineConfig | None = None) -> list[Result]:
    """A zero for each of `policy_ids`, sent at once and without writing to the database, which another
    process may be holding locked: no claim on the address, no stored result, the address's stored limits
    only read. For a disarm the database cannot take yet (heartbeats.domain.disarm_journal): once it can,
    the disarm is recorded and its zeros, the second one included, follow as for any disarm."""
    config = config or EngineConfig.from_settings()
    rows = list(
        CountdownPolicy.objects.filter(pk__in=list(policy_ids)).values(*policy_columns(), "account__egress")
    )
    if not rows:
        return []
    now = time.time()
    planned = [(state_from_row(r), None, r["account__egress"]) for r in rows]
    accounts = ExchangeAccount.objects.in_bulk({state.account_id for state, _, _ in planned})
    results = []
    for (egress, base_url), batch in _by_address(planned, accounts).items():
        jobs = [Job(s.id, s.account_id, s.symbol, DISARM, 0, s.generation, now) for s, _ in batch]
        clients, results_ = _clients_for(jobs, accounts, config)
        results += results_
        for client in clients.values():
            if client.synced_at is None:
                with contextlib.suppress(ExchangeError):  # a zero may go on the local clock: late is harmless
                    client.sync_time()
        spare = budget.spare_weight(egress, base_url, budget.Purpose.DISARM)
        ready = [j for j in jobs if j.account_id in clients][: spare.weight // WEIGHT_PER_BEAT]
        if len(ready) < len(jobs):
            log.warning("%d of %d zeros to %s sent now (%s)", len(ready), len(jobs), base_url, spare.why)
        if ready:
            with ThreadPoolExecutor(max_workers=min(64, len(ready)), thread_name_prefix="web-zero") as pool:
                results += list(pool.map(lambda job, c=clients: send(job, c[job.account_id]), ready))
    return results


def _by_address(due, accounts) -> dict:
    grouped: dict[tuple[str, str], list] = {}
    for state, planned, egress in due:
        account = accounts.get(state.account_id)
        if account is not None:
            grouped.setdefault((egress, account.limit_address), []).append((state, planned))
    return grouped


def _send_for_address(egress, base_url, batch, accounts, config) -> list[Result]:
    if not _claim(egress, base_url):
        return []  # another process sends for this address now; this one's sweeper looks again soon
    claimed = []
    try:
        with _lock:
            for state, planned in batch:
                key = (state.account_id, state.symbol)
                if key not in _in_flight:
                    _in_flight.add(key)
                    claimed.append((state, planned))
        jobs = [Job(s.id, s.account_id, s.symbol, p.kind, 0, s.generation, p.due) for s, p in claimed]
        clients, results = _clients_for(jobs, accounts, config)
        ready = [j for j in jobs if j.account_id in clients]
        left, why = _weight_for_zeros(egress, base_url, clients, len(ready), config)
        ready = [j for j in ready if clients[j.account_id].synced_at is not None]
        allowed = min(len(ready), left // WEIGHT_PER_BEAT)
        if allowed < len(ready):
            log.warning(
                "%d of %d zeros to %s sent now, the rest later (%s)", allowed, len(ready), base_url, why
            )
        if allowed:
            with ThreadPoolExecutor(max_workers=min(64, allowed), thread_name_prefix="web-disarm") as pool:
                results += list(pool.map(lambda job: send(job, clients[job.account_id]), ready[:allowed]))
        if not results:
            return []
        with _lock:
            # The next pass signs with a clock measured again (the client never resyncs a countdown itself).
            _resync.update(r.job.account_id for r in results if r.clock_refused)
        _note_limits(egress, base_url, results)
        _store(results)
        return results
    finally:
        with _lock:
            for state, _ in claimed:
                _in_flight.discard((state.account_id, state.symbol))
        _release(egress, base_url)


def _weight_for_zeros(egress: str, base_url: str, clients: dict, zeros: int, config) -> tuple[int, str]:
    """The weight this pass may spend on zeros, after measuring the clocks that need it. What is stored for
    the address can lag the exchange by a second of other processes' requests: when the zeros would come
    near the limit, one answer of the exchange's own (a clock sync, weight 1) gives its count now. Nothing
    is sent when even one zero does not fit: the next minute is waited for."""
    spare = budget.spare_weight(egress, base_url, budget.Purpose.DISARM)
    limit, left, why = spare.limit, spare.weight, spare.why
    if left < WEIGHT_PER_BEAT + 1:
        return 0, why
    started = time.time()
    wanted = _clocks_to_measure(clients, config.time_sync_every)
    if not wanted and left < zeros * WEIGHT_PER_BEAT + limit // 10:
        wanted = list(clients)[:1]
    measured = []
    for account_id in wanted[: left - WEIGHT_PER_BEAT]:
        left -= 1
        if _measure_clock(egress, base_url, clients[account_id]):
            with _lock:
                _resync.discard(account_id)
        if (clients[account_id].used_weight_at or 0) >= started:
            measured.append(clients[account_id])
    if measured:
        used = max(c.used_weight for c in measured)
        left = min(left, limit - used)
        why = f"This address has used {used} of its {limit} request weight this minute"
    if wanted:
        paused, pause_why = ratelimits.weight_left(ratelimits.read(egress, base_url))
        if paused == 0:
            return 0, pause_why  # a clock sync was answered 429/418
    return max(0, left), why


def _clocks_to_measure(clients: dict, every: float) -> list[int]:
    """Accounts whose clock was never measured, was measured over `every` s ago, or was refused (-1021,
    50102)."""
    stale_before = time.time() - every
    with _lock:
        return [
            a for a, c in clients.items() if c.synced_at is None or c.synced_at < stale_before or a in _resync
        ]


def _measure_clock(egress: str, base_url: str, client) -> bool:
    """One clock sync (weight 1); what the exchange answered about the address's limits is stored."""
    error = None
    try:
        client.sync_time()
    except ExchangeError as exc:
        error = exc
    ratelimits.observe(egress, base_url, client, error)
    return error is None


def _clients_for(jobs: list[Job], accounts, config) -> tuple[dict, list[Result]]:
    """A client per account of `jobs`; a result for each job whose account's key cannot sign."""
    clients, unusable_results = {}, []
    for account_id in dict.fromkeys(j.account_id for j in jobs):
        try:
            clients[account_id] = client_of(accounts[account_id], config)
        except (ExchangeError, ValueError) as exc:  # InvalidKeyError is both; no key material in its text
            message = f"The API key cannot be used: {exc}"
            unusable_results += [unusable(j, message) for j in jobs if j.account_id == account_id]
    return clients, unusable_results


def _note_limits(egress: str, base_url: str, results: list[Result]) -> None:
    """One write for a whole burst: the highest weight reported, and any 429/418."""
    latest = max((r for r in results if r.used_weight is not None), key=lambda r: r.used_weight, default=None)
    limited = next((r for r in results if r.outcome == Outcome.RATE_LIMITED), None)
    ratelimits.learn(
        egress,
        base_url,
        used_weight=latest.used_weight if latest else None,
        at=(latest.received_at or latest.sent_at) if latest else None,
        sent_at=latest.sent_at if latest else None,
        offset_ms=(latest.offset_ms or 0) if latest else 0,
        retry_after=limited.retry_after if limited else None,
        rate_limited=limited is not None,
        banned=bool(limited and limited.banned),
    )


def _store(results, attempts: int = 5) -> None:
    beats = [beat_for(r, SENDER) for r in results]
    updates = {}
    for r in results:
        updates.setdefault(r.job.policy_id, {}).update(facts_for(r))
    for attempt in range(attempts):
        try:
            write_now(beats, updates)
            return
        except DatabaseError as exc:
            log.warning("storing direct disarm results failed (%s); attempt %d", exc, attempt + 1)
            close_old_connections()
            time.sleep(0.2 * (attempt + 1))
    log.error("direct disarm results could not be stored: %d beats lost", len(beats))


# ---- the claim on an address ----------------------------------------------------------------------------


def _lease(egress: str, base_url: str) -> Lease:
    return Lease(f"send:{egress}:{base_url}", holder(), CLAIM_FOR)


def _claim(egress: str, base_url: str) -> bool:
    return _lease(egress, base_url).acquire()


def _release(egress: str, base_url: str) -> None:
    try:
        _lease(egress, base_url).release()
    except DatabaseError as exc:
        log.warning("could not release the fallback claim on %s (%s); it expires by itself", base_url, exc)
