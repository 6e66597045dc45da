"""The chain of engine shifts on django-q2: each shift enqueues its successor, which waits on standby and
takes the lease the moment it is released; the keeper Schedule (and a worker starting up) restart the chain
if it ever breaks. Queues are per egress identity, so a shift runs on a host with that identity's address."""

import logging
import os
import socket
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from heartbeats.engine import liveness

log = logging.getLogger(__name__)

BASE_QUEUE = "countdown-guard"
KEEPER_SCHEDULE = "countdown-guard engine keeper"
PRUNE_SCHEDULE = "countdown-guard prune records"
# A shift enqueued but not yet running shows no liveness record; don't enqueue another for this long.
START_COOLDOWN = 20


def queue_name(egress: str) -> str:
    """The django-q2 queue (cluster name) of the hosts serving `egress` (settings.Q_CLUSTER follows this)."""
    return BASE_QUEUE if egress == "default" else f"{BASE_QUEUE}-{egress}"


def enqueue_shift(egress: str) -> str:
    from django_q.tasks import async_task

    return async_task(
        "heartbeats.tasks.run_shift",
        egress,
        cluster=queue_name(egress),
        task_name=f"engine shift {egress} {uuid.uuid4().hex[:8]}",
        group="engine shifts",
    )


def ensure_chain(egress: str) -> bool:
    """Enqueue a shift unless an engine (active or standby) for `egress` is alive or one was just enqueued.
    Returns True when it enqueued one."""
    if any(_running(row) for row in liveness.fresh(egress=egress).filter(stopping=False)):
        return False
    try:
        if not cache.add(f"countdown-guard:shift-started:{egress}", 1, timeout=START_COOLDOWN):
            return False
    except DatabaseError:
        pass  # no cache table yet: enqueue anyway, extra standbys leave by themselves
    log.warning("no engine alive for egress %r: starting a shift", egress)
    enqueue_shift(egress)
    return True


def _running(row) -> bool:
    """A fresh record, unless its process is on this host and gone (a worker killed a moment ago: its
    record stays fresh for STALE_AFTER, but the reincarnated worker need not wait for that)."""
    if row.host != socket.gethostname()[:255]:
        return True
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def served_egresses() -> set[str]:
    from heartbeats.models import ExchangeAccount

    egresses = set(ExchangeAccount.objects.values_list("egress", flat=True).distinct())
    egresses.add(getattr(settings, "ENGINE_EGRESS", "default"))
    return egresses
