"""Disarms sent by the web process itself, when no engine is alive for the policies' egress.

The same rules as the engine: one request per (account, symbol) at a time (within this process), all of them
concurrently, every attempt recorded as a Beat, the facts written the same way, and the second `0` once
recvWindow plus the clock error has passed since the disarm was committed.
"""

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import DatabaseError, connections

from heartbeats.accounts import client_for
from heartbeats.engine.config import EngineConfig
from heartbeats.engine.liveness import engine_alive
from heartbeats.engine.plan import DISARM, FINAL, epoch
from heartbeats.engine.records import beat_for, facts_for, write_now
from heartbeats.engine.sender import Job, send, unusable
from heartbeats.exchange.errors import ExchangeError
from heartbeats.models import CountdownPolicy, Outcome

log = logging.getLogger(__name__)

SENDER = "web"
_lock = threading.Lock()
_in_flight: set[tuple[int, str]] = set()
_clients: dict[int, tuple[object, object]] = {}  # account id -> (version, client)


def _client(account, config: EngineConfig):
    version = (account.updated_at, account.base_url, account.venue)
    with _lock:
        cached = _clients.get(account.pk)
    if cached is not None and cached[0] == version:
        return cached[1]
    client = client_for(account, **config.client_options(time_sync_every=config.time_sync_every))
    with _lock:
        _clients[account.pk] = (version, client)
    return client


def send_disarms(
    policy_ids, *, kind: str = DISARM, config: EngineConfig | None = None, follow_up: bool = True
):
    """Send `0` for each policy that is still disarmed, concurrently; store the results; return them."""
    config = config or EngineConfig.from_settings()
    policies = [
        p
        for p in CountdownPolicy.objects.filter(pk__in=list(policy_ids)).select_related("account")
        if not p.armed and p.generation > 0
    ]
    claimed = []
    with _lock:
        for p in policies:
            key = (p.account_id, p.symbol)
            if key not in _in_flight:
                _in_flight.add(key)
                claimed.append(p)
    if not claimed:
        return []
    try:
        with ThreadPoolExecutor(max_workers=min(64, len(claimed)), thread_name_prefix="web-disarm") as pool:
            results = list(pool.map(lambda p: _send_one(p, kind, config), claimed))
    finally:
        with _lock:
            for p in claimed:
                _in_flight.discard((p.account_id, p.symbol))
    _store(results)
    if follow_up and kind == DISARM:
        _final_later([r.job for r in results if r.outcome == Outcome.CONFIRMED], config)
    return results


def _send_one(policy, kind: str, config: EngineConfig):
    due = epoch(policy.desired_changed_at)
    job = Job(policy.pk, policy.account_id, policy.symbol, kind, 0, policy.generation, due)
    try:
        client = _client(policy.account, config)
    except (ExchangeError, ValueError) as exc:  # InvalidKeyError is both; its message holds no key material
        return unusable(job, f"The API key cannot be used: {exc}")
    if client.synced_at is None:
        # If this fails, the disarm below tries again and reports what the exchange said.
        with contextlib.suppress(ExchangeError):
            client.sync_time()
    return send(job, client)


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
            time.sleep(0.2 * (attempt + 1))
    log.error("direct disarm results could not be stored: %d beats lost", len(beats))


def _final_later(jobs: list[Job], config: EngineConfig) -> None:
    """The second `0`, after recvWindow + clock error, unless an engine came back (it then sends it)."""
    if not jobs:
        return
    delay = max(0.0, max((j.due_at or time.time()) for j in jobs) + config.final_disarm_delay - time.time())

    def run():
        try:
            pending = [
                p.pk
                for p in CountdownPolicy.objects.filter(pk__in=[j.policy_id for j in jobs]).select_related(
                    "account"
                )
                if not p.armed
                and p.disarm_acked_generation == p.generation
                and p.final_disarm_generation != p.generation
                and not engine_alive(egress=p.account.egress)
            ]
            if pending:
                send_disarms(pending, kind=FINAL, config=config, follow_up=False)
        except Exception:
            log.exception("the second disarm could not be sent")
        finally:
            connections.close_all()

    timer = threading.Timer(delay, run)
    timer.daemon = True
    timer.start()
