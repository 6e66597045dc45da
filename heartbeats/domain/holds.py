"""The one rule for whether a strategy holds its policies' heartbeats back.

A policy with a strategy is beaten only while the strategy's last ping is within its grace and no hold is
latched (a silence noticed, a /fail). The engine asks `hold_reason` just before signing every arm (plan.vet,
with the strategy's row read afresh), so a hold needs nobody else to be alive; the latch
(heartbeats.desk.strategies.silence) only records it, audits it, tells people and, for strategies that ask
for it, cancels the orders at once.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from heartbeats.formats.durations import duration
from heartbeats.models.policies import HELD_PREFIX
from heartbeats.models.strategies import HoldReason, Strategy


def hold_reason(
    has_strategy: bool, last_ping_at: float | None, grace_s: int | None, held: str, now: float
) -> str:
    """Why heartbeats are held back ("" when they may go). Times are epoch seconds."""
    if not has_strategy:
        return ""
    if held == HoldReason.FAILED:
        return HELD_PREFIX + "the strategy reported a failure."
    if held == HoldReason.SILENT:
        return HELD_PREFIX + "the strategy went silent."
    if last_ping_at is None:
        return HELD_PREFIX + "waiting for the strategy's first ping."
    if now - last_ping_at > (grace_s or 0):
        return f"{HELD_PREFIX}no ping from the strategy for {duration((now - last_ping_at) * 1000)}."
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
