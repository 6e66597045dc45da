"""Countdowns that ran out while they should have been kept alive, found in the beats.

When no heartbeat is acknowledged for a whole countdown (the engine stopped, the exchange refused or banned
us), the exchange cancels that symbol's open orders. While that lasts the policy's status says `expired`;
the moment heartbeats resume it says `armed` again, and nothing on the board would tell that the orders are
gone. So the live pages list every such lapse of the last hour.

A lapse is an acknowledged beat sent after the countdown of the previous acknowledged arm had run out (its
send time + its countdown: the same conservative expiry CountdownPolicy.status() uses).
"""

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.db.models import BooleanField, ExpressionWrapper, F, FloatField, Func, Max, Q, Subquery

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
    resumed_at: datetime | None  # send time of the next acknowledged beat; None: still running out
    resumed_by: str  # BeatKind: "arm" (armed again) or "disarm" (disarmed after the expiry); "" if neither


def running(policy_id: int, expired_at: datetime) -> Lapse:
    """A lapse not ended yet: the countdown ran out (CountdownPolicy.status() says expired) and no beat has
    been acknowledged since, e.g. while a strategy holds its heartbeats back. The exchange has already
    cancelled the orders, so it is shown from that moment, not only once heartbeats resume."""
    return Lapse(policy_id, expired_at, None, "")


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


class _Watch:
    """What one process knows of the window's lapses, kept up to date from the beats added since.

    A full read of the window's trouble costs tens of milliseconds at a thousand policies with an hour of
    history: it happens once per process (or when the table no longer holds the beat it stopped at, e.g.
    after pruning); then every poll reads only the trouble among beats newer than it had seen, and a policy's
    beats are scanned again only when it has new trouble. Trouble leaving the window needs no scan: the lapses
    found stay lapses, and leave the answer when they are an hour old.
    """

    def __init__(self):
        self.anchor: tuple[int, datetime] | None = None  # (id, sent_at) of the newest beat seen
        self.marks: deque[tuple[float, int]] = deque()  # (monotonic time, newest id then)
        self.seen: set[int] = set()  # beats taken in that are still read again (see REREAD_S)
        self.lapses: dict[int, list[Lapse]] = {}  # policy id -> its lapses in the window of its last scan
        # Policies whose latest beat seen was trouble: the acknowledged beat that ends their trouble may be
        # on time (a strategy's hold released, the engine back), and is the one that completes a lapse.
        self.open: set[int] = set()

    def rebuild(self, since: datetime, longest_countdown_ms: int) -> None:
        newest = Beat.objects.order_by("-id").values_list("id", "sent_at").first()
        policies = set()
        self.open = set()
        if newest is not None:  # no beat at all, no trouble
            rows = _trouble().filter(sent_at__gte=since, id__lte=newest[0])
            last_trouble = dict(
                rows.values("policy_id").annotate(last=Max("id")).values_list("policy_id", "last")
            )
            policies = set(last_trouble)
            # Still in trouble: no beat since its latest trouble one.
            last_beat = (
                Beat.objects.order_by()
                .filter(policy_id__in=policies, id__lte=newest[0])
                .values("policy_id")
                .annotate(last=Max("id"))
                .values_list("policy_id", "last")
            )
            self.open = {policy_id for policy_id, last in last_beat if last == last_trouble[policy_id]}
        self.lapses = _scan(policies, since, longest_countdown_ms)
        self.anchor = newest
        self.marks = deque([(time.monotonic(), newest[0])]) if newest else deque()
        self.seen = set()

    def advance(self, since: datetime, longest_countdown_ms: int) -> bool:
        """Take in the beats added since the last call; False when only a rebuild can tell."""
        if self.anchor is None:
            return False
        anchor_id, anchor_sent_at = self.anchor
        reread_from = self._reread_from()
        rows = list(
            _flagged_beats()
            # Every term reads ids from reread_from on (it is never above the anchor's): said apart too, so
            # the database reads that range of ids instead of every beat to test the terms.
            .filter(id__gte=min(anchor_id, reread_from))
            .filter(
                Q(id=anchor_id)
                | Q(id__gt=reread_from, is_trouble=True)
                | Q(id__gt=reread_from, policy_id__in=sorted(self.open))
            )
        )
        if not any(row[0] == anchor_id and row[2] == anchor_sent_at for row in rows):
            return False  # the beat it stopped at is gone: pruned, or another database (tests)
        self.seen = {beat_id for beat_id in self.seen if beat_id > reread_from}
        rescan = set()
        for beat_id, policy_id, sent_at, is_trouble, _, _ in rows:
            if beat_id <= reread_from or beat_id in self.seen:
                continue
            if is_trouble:
                self.seen.add(beat_id)
                self.open.add(policy_id)
                if sent_at >= since:
                    rescan.add(policy_id)
            elif policy_id in self.open:  # the first good beat after trouble: it may end a lapse
                self.seen.add(beat_id)
                self.open.discard(policy_id)
                rescan.add(policy_id)
        if rescan:
            self.lapses.update(dict.fromkeys(rescan, []))
            self.lapses.update(_scan(rescan, since, longest_countdown_ms))
        self.anchor = (rows[0][4], rows[0][5])
        self.marks.append((time.monotonic(), self.anchor[0]))
        return True

    def _reread_from(self) -> int:
        """The newest id seen at least REREAD_S ago (ids above it are read again), forgetting older marks."""
        horizon = time.monotonic() - REREAD_S
        while len(self.marks) > 1 and self.marks[1][0] <= horizon:
            self.marks.popleft()
        return self.marks[0][1] if self.marks else 0

    def answer(self, since: datetime) -> list[Lapse]:
        found = [lapse for lapses in self.lapses.values() for lapse in _since(lapses, since)]
        return sorted(found, key=lambda lapse: lapse.expired_at, reverse=True)


def _since(lapses: list[Lapse], since: datetime) -> list[Lapse]:
    return [lapse for lapse in lapses if lapse.resumed_at >= since]


# PostgreSQL takes a beat's id at insert and shows the row at commit, so a beat may appear after a newer id
# has been seen: ids this recent are read again on every poll (the engine's writes take milliseconds).
REREAD_S = 10.0
_watch = _Watch()
_lock = threading.Lock()  # gunicorn threads share the watch


def recent_lapses(now: datetime, longest_countdown_ms: int) -> list[Lapse]:
    """Every lapse that ended in the last WINDOW, newest first."""
    since = now - WINDOW
    with _lock:
        if not _watch.advance(since, longest_countdown_ms):
            _watch.rebuild(since, longest_countdown_ms)
        return _watch.answer(since)


def _trouble(**flag):
    """Beats that were not acknowledged, or acknowledged but sent late: the signs a lapse may hide behind.
    With `is_trouble=True`, every beat annotated with whether it is one."""
    beats = Beat.objects.order_by().annotate(late_s=SecondsLate())
    sign = ~Q(outcome=Outcome.CONFIRMED) | Q(due_at__isnull=False, late_s__gt=LATE_BY_S)
    if flag:
        return beats.annotate(is_trouble=ExpressionWrapper(sign, output_field=BooleanField()))
    return beats.filter(sign)


@cache
def _flagged_beats():
    """Every beat in id order, with whether it is trouble and the table's newest beat beside it: what each
    poll narrows to the beats it has not taken in (_Watch.advance). Built once per process: building it cost
    as much as running it."""
    newest = Beat.objects.order_by("-id")
    return (
        _trouble(is_trouble=True)
        .annotate(
            newest_id=Subquery(newest.values("id")[:1]),
            newest_sent_at=Subquery(newest.values("sent_at")[:1]),
        )
        .order_by("id")
        .values_list("id", "policy_id", "sent_at", "is_trouble", "newest_id", "newest_sent_at")
    )


def _scan(policy_ids, since, longest_countdown_ms) -> dict[int, list[Lapse]]:
    """The lapses of these policies that ended in the window, per policy."""
    if not policy_ids:
        return {}
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
    return {policy_id: _since(lapses_in(policy_id, beats), since) for policy_id, beats in by_policy.items()}
