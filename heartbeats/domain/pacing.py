"""How long a batch of arms takes to leave: the engine never sends an arm that does not fit its address's
request weight this minute (it holds it for the next one), so many arms at once spread over minutes instead
of earning a 429. This module only predicts that spread, from the same figures, for the pages to say.

Per sending address (egress identity and base URL): this minute, what the exchange last reported as left
(ratelimits.weight_left); each later minute, the limit less the heartbeats of every policy of the egress
(budget.projected, counted as if all were armed). Both less the engine's reserve for disarming every armed
policy (two zeros each, the batch included), which arms never touch.
"""

import math
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from heartbeats.domain import budget, ratelimits
from heartbeats.formats.durations import duration
from heartbeats.models import CountdownPolicy


@dataclass(frozen=True)
class ArmPace:
    egress: str
    arms: int
    limit: int
    left_now: int  # weight the address can still spend this minute
    now: int  # arms that fit this minute
    per_minute: int  # arms that fit in each later minute
    last_by_ms: int  # epoch ms by which the last arm should have left
    held_why: str  # a 429 pause or a 418 ban holding every send, else ""

    @property
    def spread(self) -> bool:
        return self.arms > self.now

    def as_dict(self) -> dict:
        return asdict(self)


def arm_pace(policies, now: float | None = None) -> list[ArmPace]:
    """One ArmPace per sending address of `policies` (loaded with their accounts) if all were armed now."""
    now = now or time.time()
    policies = list(policies)
    groups: dict[tuple[str, str], int] = {}
    for p in policies:
        key = (p.account.egress, p.account.limit_address)
        groups[key] = groups.get(key, 0) + 1
    paces = []
    for (egress, base_url), arms in sorted(groups.items()):
        figures = budget.budget_for(egress)
        snap = ratelimits.read(egress, base_url)
        left, why = ratelimits.weight_left(snap, limit=figures.limit, now=now)
        held_until = max(snap.banned_until, snap.paused_until) if snap else 0.0
        held = held_until > now
        limit = (snap.weight_limit if snap else None) or figures.limit
        reserve = budget.disarm_reserve(_armed_on(egress, policies) + arms)
        fit_now = min(arms, max(0, left - reserve) // budget.WEIGHT_PER_BEAT)
        per_minute = max(1, (limit - figures.projected - reserve) // budget.WEIGHT_PER_BEAT)
        start = max(now, held_until)
        if arms <= fit_now:
            last = start
        else:
            next_minute = (math.floor(start / 60) + 1) * 60
            last = next_minute + 60 * (math.ceil((arms - fit_now) / per_minute) - 1)
        paces.append(
            ArmPace(egress, arms, limit, left, fit_now, per_minute, int(last * 1000), why if held else "")
        )
    return paces


def _armed_on(egress: str, batch) -> int:
    """Policies of the egress armed already, the batch left out."""
    armed = CountdownPolicy.objects.filter(account__egress=egress, account__enabled=True, armed=True)
    return armed.exclude(pk__in=[p.pk for p in batch]).count()


def describe(pace: dict, at_ms: int) -> str:
    """One sentence for a page: when the last arm of this address leaves, counted from `at_ms`."""
    seconds = max(0, round((pace["last_by_ms"] - at_ms) / 1000))
    by = datetime.fromtimestamp(pace["last_by_ms"] / 1000, tz=UTC)
    head = f"Egress “{pace['egress']}”: {pace['arms']} arm{'s' if pace['arms'] != 1 else ''}"
    if pace["held_why"]:
        return f"{head}, held: {pace['held_why']} The last should leave at about {by:%H:%M:%S} UTC."
    if pace["arms"] <= pace["now"]:
        return (
            f"{head}, all within this minute’s weight ({pace['left_now']} of {pace['limit']} left): at once."
        )
    return (
        f"{head}: {pace['now']} fit this minute’s weight ({pace['left_now']} of {pace['limit']} left), then "
        f"up to {pace['per_minute']} a minute; the last should leave at about {by:%H:%M:%S} UTC (in about "
        f"{duration(seconds * 1000)})."
    )
