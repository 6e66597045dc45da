"""Countdowns that ran out while they should have been kept alive, found in the beats.

When no heartbeat is acknowledged for a whole countdown (the engine stopped, the exchange refused or banned
us), the exchange cancels that symbol's open orders. While that lasts the policy's status says `expired`;
the moment heartbeats resume it says `armed` again, and nothing on the board would tell that the orders are
gone. So the live pages list every such lapse of the last hour.

A lapse is an acknowledged beat sent after the countdown of the previous acknowledged arm had run out (its
send time + its countdown: the same conservative expiry CountdownPolicy.status() uses).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, FloatField, Func, Max, Q

from heartbeats.models import Beat, BeatKind, Outcome

WINDOW = timedelta(hours=1)
# Only policies showing a sign of trouble in the window are read beat by beat, so a quiet desk costs one
# query. A lapse needs a gap longer than the countdown (≥ 3 × interval + 2 s) between acknowledged arms, and
# the engine dates a beat due one interval after the last one: the beat that ends the gap is therefore more
# than 2 s late, or else attempts in between failed (not acknowledged).
LATE_BY_S = 2.0


class SecondsLate(Func):
    """sent_at − due_at in seconds, with each database's native date arithmetic: Django's portable
    `F("due_at") + timedelta` runs a Python function per row on SQLite, too slow for a poll every second."""

    output_field = FloatField()

    def __init__(self):
        super().__init__(F("sent_at"), F("due_at"))

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="(julianday(%(expressions)s)) * 86400.0",
            arg_joiner=") - julianday(",
            **extra,
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))", arg_joiner=" - ", **extra
        )


@dataclass(frozen=True)
class Lapse:
    policy_id: int
    expired_at: datetime  # when the exchange cancelled the open orders (conservative)
    resumed_at: datetime  # send time of the next acknowledged beat
    resumed_by: str  # BeatKind: "arm" (armed again) or "disarm" (disarmed after the expiry)


def lapses_in(policy_id: int, beats: Iterable[tuple[str, datetime, int]]) -> list[Lapse]:
    """Lapses among one policy's acknowledged beats, given as (kind, sent_at, countdown_ms) in send order."""
    found = []
    running_until = None
    for kind, sent_at, countdown_ms in beats:
        if running_until is not None and sent_at > running_until:
            found.append(Lapse(policy_id, running_until, sent_at, kind))
        running_until = (
            sent_at + timedelta(milliseconds=countdown_ms) if kind == BeatKind.ARM and countdown_ms else None
        )
    return found


# The last answer, per process, with the trouble it was computed from. The live pages poll every second; the
# beats are read again only when the trouble changes (a new late or failed beat, or one leaving the window).
_last: tuple[tuple, list[Lapse]] = ((), [])


def recent_lapses(now: datetime, longest_countdown_ms: int) -> list[Lapse]:
    """Every lapse that ended in the last WINDOW, newest first."""
    global _last
    since = now - WINDOW
    trouble = tuple(
        Beat.objects.filter(sent_at__gte=since)
        .annotate(late_s=SecondsLate())
        .filter(~Q(outcome=Outcome.CONFIRMED) | Q(due_at__isnull=False, late_s__gt=LATE_BY_S))
        .values("policy_id")
        .annotate(beats=Count("id"), last_id=Max("id"), last_at=Max("sent_at"))
        .order_by("policy_id")  # replaces the model's ordering, which would split the groups per beat
        .values_list("policy_id", "beats", "last_id", "last_at")
    )
    if not trouble:
        return []
    fingerprint, lapses = _last
    if fingerprint != trouble:
        lapses = _scan({row[0] for row in trouble}, since, longest_countdown_ms)
        _last = (trouble, lapses)
    return [lapse for lapse in lapses if lapse.resumed_at >= since]


def _scan(policy_ids, since, longest_countdown_ms) -> list[Lapse]:
    # Far enough back to know the countdown that was running when the window opened.
    rows = (
        Beat.objects.filter(
            policy_id__in=policy_ids,
            outcome=Outcome.CONFIRMED,
            sent_at__gte=since - timedelta(milliseconds=longest_countdown_ms),
        )
        .order_by("policy_id", "sent_at")
        .values_list("policy_id", "kind", "sent_at", "countdown_ms")
    )
    by_policy = defaultdict(list)
    for policy_id, kind, sent_at, countdown_ms in rows:
        by_policy[policy_id].append((kind, sent_at, countdown_ms))
    lapses = [
        lapse
        for policy_id, beats in by_policy.items()
        for lapse in lapses_in(policy_id, beats)
        if lapse.resumed_at >= since
    ]
    return sorted(lapses, key=lambda lapse: lapse.expired_at, reverse=True)
