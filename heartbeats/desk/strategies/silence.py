"""The latch of a strategy's silence: once a strategy's grace has run out, one process records the hold (a
conditional UPDATE), audits it, and for a strategy that asks for it cancels its orders at once.

Run as the `strategy-silence` duty (heartbeats.duties). It only records what heartbeats.domain.holds already
enforces: the engine withholds the arms of a silent strategy's policies whether or not this runs.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.domain import audit, deadlines
from heartbeats.formats.durations import duration
from heartbeats.models import Action, CountdownPolicy, Effect
from heartbeats.models.strategies import HoldReason, Strategy

log = logging.getLogger(__name__)


def latch_silences(now: datetime | None = None) -> list[int]:
    """Latch the hold of every strategy whose grace ran out; returns their ids. Each is latched by one
    process only (a conditional UPDATE), which then audits it and, if asked, cancels the orders."""
    return _latch(now or timezone.now())[0]


# With no strategy being watched, the silence duty sleeps until a ping or an edit (which wakes it,
# heartbeats.engine.wakeup), looking anyway this often.
REST = 30.0


def silence_round() -> float:
    """The strategy-silence duty's step: latch what ran out; the seconds until the next grace can run out."""
    _, upcoming = _latch(timezone.now())
    return deadlines.sleep_before(upcoming, REST)


def _latch(now: datetime) -> tuple[list[int], datetime | None]:
    latched = []
    upcoming = None
    candidates = Strategy.objects.filter(held_reason="", last_ping_at__isnull=False).values_list(
        "pk", "last_ping_at", "grace_s"
    )
    for pk, last, grace in candidates:
        if now - last <= timedelta(seconds=grace):
            # A grace ends a moment after its last second (the test above is "more than grace").
            ends = last + timedelta(seconds=grace, milliseconds=1)
            upcoming = ends if upcoming is None else min(upcoming, ends)
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
                reason=f"strategy {strategy.name}: no ping for {duration(grace * 1000)} "
                f"(last at {last:%H:%M:%S} UTC)",
                targets=held_targets(strategy.pk, Effect.HELD),
            )
        latched.append(pk)
        log.warning("strategy %s went silent: heartbeats of its policies held back", strategy.name)
        if strategy.cancel_when_silent:
            cancel_for(strategy, why=f"strategy {strategy.name} went silent")
    return latched, upcoming


def held_targets(strategy_id: int, effect: str) -> list:
    """The targets of a hold (Effect.HELD) or of its end (Effect.RELEASED): every policy of the strategy,
    armed or not, since a hold withholds the arms of each one until it ends."""
    policies = CountdownPolicy.objects.filter(strategy_id=strategy_id).with_account()
    return [audit.target(p, effect) for p in policies.order_by("account__label", "symbol")]


def cancel_for(strategy: Strategy, *, why: str) -> None:
    """Cancel the open orders of the strategy's armed policies now, in the background (network I/O)."""
    ids = list(strategy.policies.filter(armed=True).values_list("pk", flat=True))
    if ids:
        killswitch.cancel_in_background(ids, username=f"strategy {strategy.name}"[:150], reason=why)
