"""The one rule for whether a strategy holds its policies' heartbeats back, and the latch that records it.

A policy with a strategy is beaten only while the strategy's last ping is within its grace and no hold is
latched (a silence noticed, a /fail). The engine asks `hold_reason` just before signing every arm (plan.vet,
with the strategy's row read afresh), so a hold needs nobody else to be alive; the latch (`latch_silences`,
run every second by the web's sweeper and the engine's keeper) only records it, audits it, tells people and,
for strategies that ask for it, cancels the orders at once.
"""

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from heartbeats.models.strategies import HoldReason, Strategy

log = logging.getLogger(__name__)
_pruned_at = float("-inf")  # the recent-pings list is pruned once a minute, here


def hold_reason(
    has_strategy: bool, last_ping_at: float | None, grace_s: int | None, held: str, now: float
) -> str:
    """Why heartbeats are held back ("" when they may go). Times are epoch seconds."""
    if not has_strategy:
        return ""
    if held == HoldReason.FAILED:
        return "Held: the strategy reported a failure."
    if held == HoldReason.SILENT:
        return "Held: the strategy went silent."
    if last_ping_at is None:
        return "Held: waiting for the strategy's first ping."
    if now - last_ping_at > (grace_s or 0):
        return f"Held: no ping from the strategy for {now - last_ping_at:.0f} s."
    return ""


def state_of(strategy: Strategy, now: datetime | None = None) -> dict:
    """What the pages show: live / silent / failed / waiting, the time left in grace, the hold's reason."""
    now = now or timezone.now()
    last = strategy.last_ping_at
    reason = hold_reason(
        True, last.timestamp() if last else None, strategy.grace_s, strategy.held_reason, now.timestamp()
    )
    left_ms = None
    if last is not None and not strategy.held_reason:
        left_ms = max(0, int((last + timedelta(seconds=strategy.grace_s) - now).total_seconds() * 1000))
    if strategy.held_reason:
        state = strategy.held_reason
    elif last is None:
        state = "waiting"
    else:
        state = "silent" if reason else "live"
    return {
        "state": state,
        "held": bool(reason),
        "reason": reason,
        "grace_left_ms": left_ms,
        "grace_ends_at_ms": int((last + timedelta(seconds=strategy.grace_s)).timestamp() * 1000)
        if last
        else None,
        "last_ping_ms": int(last.timestamp() * 1000) if last else None,
    }


def latch_silences(now: datetime | None = None) -> list[int]:
    """Latch the hold of every strategy whose grace ran out; returns their ids. Each is latched by one
    process only (a conditional UPDATE), which then audits it and, if asked, cancels the orders."""
    from heartbeats.desk.strategies import pings
    from heartbeats.domain import audit
    from heartbeats.models import Action

    now = now or timezone.now()
    global _pruned_at
    if time.monotonic() - _pruned_at >= 60:
        _pruned_at = time.monotonic()
        pings.prune(now)
    latched = []
    candidates = Strategy.objects.filter(held_reason="", last_ping_at__isnull=False).values_list(
        "pk", "last_ping_at", "grace_s"
    )
    for pk, last, grace in candidates:
        if now - last <= timedelta(seconds=grace):
            continue
        with transaction.atomic():
            won = Strategy.objects.filter(pk=pk, held_reason="", last_ping_at=last).update(
                held_reason=HoldReason.SILENT, held_since=last + timedelta(seconds=grace)
            )
            if not won:
                continue
            strategy = Strategy.objects.get(pk=pk)
            audit.record(
                Action.STRATEGY_SILENT,
                user=None,
                ip=None,
                username="strategy watch",
                reason=f"strategy {strategy.name}: no ping for {grace} s (last at {last:%H:%M:%S} UTC)",
            )
        latched.append(pk)
        log.warning("strategy %s went silent: heartbeats of its policies held back", strategy.name)
        if strategy.cancel_when_silent:
            cancel_for(strategy, why=f"strategy {strategy.name} went silent")
    return latched


def cancel_for(strategy: Strategy, *, why: str) -> None:
    """Cancel the open orders of the strategy's armed policies now, in the background (network I/O)."""
    from heartbeats.desk.killswitch import cancel as killswitch

    ids = list(strategy.policies.filter(armed=True).values_list("pk", flat=True))
    if ids:
        killswitch.cancel_in_background(ids, username=f"strategy {strategy.name}"[:150], reason=why)
