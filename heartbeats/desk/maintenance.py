"""Maintenance windows: planned time without dead man's switches. A window disarms its policies at its start
and re-arms them at its end, and is created, ended early or extended by operators.

`apply_due()` makes the transitions. It touches only the database (the engine, or the web's fallback sender
where no engine is alive, sends what the new desired state asks for), and is run once a second as the
`maintenance` duty (heartbeats.duties) by a web or a worker process, so a window starts even with no
engine. Each transition first moves the window's state with a conditional UPDATE, in the transaction that
changes the policies: of two processes calling it at once, one acts and the other finds nothing to do.
"""

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from heartbeats.domain import audit, compiled, deadlines, pacing
from heartbeats.domain.desired import set_desired
from heartbeats.domain.validation import required_reason
from heartbeats.formats.durations import duration
from heartbeats.models import (
    Action,
    CountdownPolicy,
    Effect,
    ExchangeAccount,
    MaintenanceWindow,
    Operation,
    WindowState,
)

log = logging.getLogger(__name__)

# Who the audit trail names for the transitions nobody pressed a button for.
WINDOW_USERNAME = "maintenance window"
# A start this far in the past is accepted (the form took a while to fill in); further back is a mistake.
START_SLACK = timedelta(minutes=1)
LONGEST = timedelta(days=31)
OPEN_STATES = (WindowState.SCHEDULED, WindowState.RUNNING)


def _policies_word(count: int) -> str:
    return f"{count} polic{'y' if count == 1 else 'ies'}"


def _check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at:
        raise ValueError("The end must come after the start.")
    if ends_at <= now:
        raise ValueError("The end must be in the future.")
    if ends_at - starts_at > LONGEST:
        raise ValueError(f"A window lasts at most {LONGEST.days} days.")


# ---- what people do -------------------------------------------------------------------------------------


def create(*, user, ip, reason: str, starts_at, ends_at, account_ids=(), policy_ids=()) -> MaintenanceWindow:
    """Schedule a window; audited. It starts at the next apply_due() once `starts_at` has come."""
    reason = required_reason(reason, "schedule a maintenance window")
    now = timezone.now()
    if starts_at < now - START_SLACK:
        raise ValueError("The start is in the past: give a time from now on (UTC).")
    _check_times(starts_at, ends_at, now)
    account_ids, policy_ids = sorted(set(account_ids)), sorted(set(policy_ids))
    if not account_ids and not policy_ids:
        raise ValueError("Choose at least one account or policy.")
    with transaction.atomic():
        accounts = ExchangeAccount.objects.without_secrets().in_bulk(account_ids)
        policies = CountdownPolicy.objects.with_account().in_bulk(policy_ids)
        if len(accounts) != len(account_ids) or len(policies) != len(policy_ids):
            raise ValueError("An account or a policy chosen no longer exists.")
        window = MaintenanceWindow.objects.create(
            created_by=user if getattr(user, "is_authenticated", False) else None,
            created_by_name=user.get_username() if getattr(user, "is_authenticated", False) else "",
            reason=reason,
            starts_at=starts_at,
            ends_at=ends_at,
        )
        window.accounts.set(accounts.values())
        window.policies.set(policies.values())
        audit.record(
            Action.WINDOW_CREATE,
            user=user,
            ip=ip,
            reason=reason,
            targets=_covered_targets(window),
            changes={
                "window": window.pk,
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
                "accounts": sorted(a.label for a in accounts.values()),
                "policies": sorted(str(p) for p in policies.values()),
            },
        )
    return window


def end_now(window_id: int, *, user, ip, reason: str) -> Operation:
    """End a running window now (re-arming what it disarmed and nobody touched), or cancel a scheduled one
    before it disarms anything; audited as ended early either way."""
    reason = required_reason(reason, "end the window early")
    with transaction.atomic():
        window = MaintenanceWindow.objects.select_for_update().filter(pk=window_id).first()
        if window is None:
            raise ValueError(f"There is no maintenance window {window_id}.")
        if window.state == WindowState.RUNNING:
            operation = _end(window, early=True, user=user, ip=ip, reason=reason)
        elif window.state == WindowState.SCHEDULED:
            operation = _cancel(window, user=user, ip=ip, reason=reason)
        else:
            operation = None
    if operation is None:
        raise ValueError(f"Window #{window_id} has already ended.")
    return operation


def extend(window_id: int, *, user, ip, reason: str, ends_at: datetime) -> Operation:
    """Move a scheduled or running window's end later; audited with the old and the new end."""
    reason = required_reason(reason, "extend the window")
    with transaction.atomic():
        window = MaintenanceWindow.objects.select_for_update().filter(pk=window_id).first()
        if window is None:
            raise ValueError(f"There is no maintenance window {window_id}.")
        if window.state not in OPEN_STATES:
            raise ValueError(f"Window #{window.pk} has already ended: schedule a new one.")
        if ends_at <= window.ends_at:
            raise ValueError(
                f"The new end must be later than the current one ({window.ends_at:%Y-%m-%d %H:%M} UTC). "
                "To end it sooner, press End now."
            )
        _check_times(window.starts_at, ends_at, timezone.now())
        # Conditional on the state read under the lock: an end applied meanwhile wins.
        moved = MaintenanceWindow.objects.filter(pk=window.pk, state=window.state).update(ends_at=ends_at)
        if not moved:
            raise ValueError(f"Window #{window.pk} has just ended.")
        return audit.record(
            Action.WINDOW_EXTEND,
            user=user,
            ip=ip,
            reason=reason,
            targets=_covered_targets(window),
            changes={"window": window.pk, "ends_at": [window.ends_at.isoformat(), ends_at.isoformat()]},
        )


# ---- the transitions ------------------------------------------------------------------------------------


def apply_due(now: datetime | None = None) -> list[Operation]:
    """Start the windows whose start has come and end those whose end has come. Database only, idempotent,
    safe to call from several processes at once. Returns the operations it wrote."""
    return _apply_due(now or timezone.now())[0]


# With no window ahead, the maintenance duty sleeps until one is scheduled or changed (which wakes it,
# heartbeats.engine.wakeup), looking anyway this often.
REST = 30.0


def due_round() -> float:
    """The maintenance duty's step: apply what is due; the seconds until the next start or end."""
    _, upcoming = _apply_due(timezone.now())
    return deadlines.sleep_before(upcoming, REST)


def _apply_due(now: datetime) -> tuple[list[Operation], datetime | None]:
    done = []
    # One query, which nearly always finds nothing due: it also says when something next will be.
    rows = list(
        MaintenanceWindow.objects.filter(state__in=(WindowState.SCHEDULED, WindowState.RUNNING)).values_list(
            "pk", "state", "starts_at", "ends_at"
        )
    )
    moments = [at for _, state, at, _ in rows if state == WindowState.SCHEDULED] + [
        at for _, state, _, at in rows if state == WindowState.RUNNING
    ]
    starts = sorted((at, pk) for pk, state, at, _ in rows if state == WindowState.SCHEDULED and at <= now)
    ends = sorted((at, pk) for pk, state, _, at in rows if state == WindowState.RUNNING and at <= now)
    for _, pk in starts:
        with transaction.atomic():
            operation = _start(pk, now)
        if operation is not None:
            done.append(operation)
    for _, pk in ends:
        with transaction.atomic():
            # Locked: a window ending at the same moment may be handing policies over to this one.
            window = MaintenanceWindow.objects.select_for_update().get(pk=pk)
            operation = _end(window, early=False, user=None, ip=None, reason=window.reason, now=now)
        if operation is not None:
            done.append(operation)
    if done:
        return done, now  # a window started or ended: look again at once (one may end as another starts)
    return done, min((m for m in moments if m > now), default=None)


def _covered_ids(window: MaintenanceWindow) -> list[int]:
    """Its policies and every policy of its accounts, as they are now."""
    mine = CountdownPolicy.objects.filter(maintenance_windows=window).values_list("pk", flat=True)
    of_accounts = CountdownPolicy.objects.filter(account__maintenance_windows=window).values_list(
        "pk", flat=True
    )
    return sorted(set(mine) | set(of_accounts))


def _covered_targets(window: MaintenanceWindow) -> list:
    """The policies a window covers, as targets of the operation that schedules, extends or calls it off:
    each policy's page then shows the window before it disarms anything."""
    policies = CountdownPolicy.objects.filter(pk__in=_covered_ids(window)).with_account()
    return [audit.target(p, Effect.COVERED) for p in policies.order_by("account__label", "symbol")]


def _start(pk: int, now: datetime) -> Operation | None:
    window = MaintenanceWindow.objects.get(pk=pk)
    if window.ends_at <= now:
        # Nobody ran it while it was due (no worker, no web process): disarming now to re-arm at once would
        # only churn the countdowns.
        if not MaintenanceWindow.objects.filter(pk=pk, state=WindowState.SCHEDULED).update(
            state=WindowState.ENDED, ended_at=now
        ):
            return None
        return audit.record(
            Action.WINDOW_END,
            user=None,
            ip=None,
            username=WINDOW_USERNAME,
            reason=window.reason,
            changes={"window": pk, "missed": True, "policies": 0},
        )
    if not MaintenanceWindow.objects.filter(pk=pk, state=WindowState.SCHEDULED).update(
        state=WindowState.RUNNING, started_at=now
    ):
        return None  # another process started (or someone cancelled) it first
    ids = _covered_ids(window)
    locked = CountdownPolicy.objects.select_for_update().filter(pk__in=ids)
    changed = set_desired(locked.filter(armed=True), armed=False)
    policies = CountdownPolicy.objects.filter(pk__in=ids).with_account().order_by("account__label", "symbol")
    targets = [audit.target(p, Effect.DISARMED if p.pk in changed else Effect.UNCHANGED) for p in policies]
    disarmed = {str(t.policy_id): t.generation for t in targets if t.changed}
    operation = audit.record(
        Action.WINDOW_START,
        user=None,
        ip=None,
        username=WINDOW_USERNAME,
        reason=window.reason,
        changes={
            "window": pk,
            "created_by": window.created_by_name,
            "policies": len(targets),
            "disarmed": len(disarmed),
            "ends_at": window.ends_at.isoformat(),
        },
        targets=targets,
    )
    MaintenanceWindow.objects.filter(pk=pk).update(disarmed=disarmed, start_operation=operation)
    log.warning("maintenance window #%d started: %s disarmed", pk, _policies_word(len(disarmed)))
    return operation


def _end(window, *, early: bool, user, ip, reason: str, now: datetime | None = None) -> Operation | None:
    """Inside the caller's transaction: claim the end, then re-arm what the start disarmed and nobody has
    armed, disarmed or re-armed by hand since (same generation, still disarmed, account enabled)."""
    now = now or timezone.now()
    if not MaintenanceWindow.objects.filter(pk=window.pk, state=WindowState.RUNNING).update(
        state=WindowState.ENDED, ended_at=now
    ):
        return None
    given = {int(pk): generation for pk, generation in (window.disarmed or {}).items()}
    locked = CountdownPolicy.objects.select_for_update().with_account().in_bulk(list(given))
    chosen = [
        p for pk, p in locked.items() if not p.armed and p.generation == given[pk] and p.account.enabled
    ]
    chosen = _hand_over(window, chosen)
    set_desired(CountdownPolicy.objects.filter(pk__in=[p.pk for p in chosen]), armed=True)
    policies = list(
        CountdownPolicy.objects.filter(pk__in=[p.pk for p in chosen])
        .with_account()
        .order_by("account__label", "symbol")
    )
    changes = {
        "window": window.pk,
        "policies": len(policies),
        "left_alone": len(given) - len(policies),
        "pacing": [pace.as_dict() for pace in pacing.arm_pace(policies)],
    }
    operation = audit.record(
        Action.WINDOW_END_EARLY if early else Action.WINDOW_END,
        user=user,
        ip=ip,
        username=None if early else WINDOW_USERNAME,
        reason=reason,
        changes=changes,
        targets=[audit.target(p, Effect.ARMED) for p in policies],
    )
    MaintenanceWindow.objects.filter(pk=window.pk).update(end_operation=operation)
    log.warning(
        "maintenance window #%d ended%s: %s re-armed, %d left alone",
        window.pk,
        " early" if early else "",
        _policies_word(len(policies)),
        changes["left_alone"],
    )
    return operation


def _hand_over(window, chosen: list) -> list:
    """Policies another running window also covers stay disarmed: that window re-arms them at its own end,
    as if it had disarmed them. Returns the rest."""
    others = (
        MaintenanceWindow.objects.select_for_update().filter(state=WindowState.RUNNING).exclude(pk=window.pk)
    )
    for other in others.order_by("-ends_at"):
        covered = set(_covered_ids(other))
        kept = {str(p.pk): p.generation for p in chosen if p.pk in covered}
        if kept:
            MaintenanceWindow.objects.filter(pk=other.pk).update(disarmed={**(other.disarmed or {}), **kept})
            chosen = [p for p in chosen if str(p.pk) not in kept]
    return chosen


def _cancel(window, *, user, ip, reason: str) -> Operation | None:
    if not MaintenanceWindow.objects.filter(pk=window.pk, state=WindowState.SCHEDULED).update(
        state=WindowState.CANCELLED, ended_at=timezone.now()
    ):
        return None
    operation = audit.record(
        Action.WINDOW_END_EARLY,
        user=user,
        ip=ip,
        reason=reason,
        targets=_covered_targets(window),
        changes={"window": window.pk, "started": False, "policies": 0},
    )
    MaintenanceWindow.objects.filter(pk=window.pk).update(end_operation=operation)
    return operation


# ---- the board's banners --------------------------------------------------------------------------------

# A running window's banner names this many policies at most; beyond, it says how many.
NAMED = 3
# Scheduled windows the board announces, soonest first.
UPCOMING_SHOWN = 5


def duration_words(length: timedelta) -> str:
    """A window's length as people say it: "30 min", "1 h", "1 h 30 min", "2 days 4 h" (whole minutes;
    seconds only for a window shorter than a minute)."""
    if length < timedelta(minutes=1):
        return duration(max(0, round(length.total_seconds())) * 1000)
    return duration(round(length.total_seconds() / 60) * 60_000)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def banners(now: datetime | None = None) -> tuple[list[dict], list[dict]]:
    """What the board says about each running window (soonest end first) and each scheduled one (soonest
    start first). One query when no window is open, which is nearly always: the status poll calls it every
    second; a few more while windows are open (the policies they cover)."""
    now = now or timezone.now()
    rows = [dict(zip(WINDOW_COLUMNS, row, strict=True)) for row in compiled.rows(_open_windows_query)]
    running = sorted((w for w in rows if w["state"] == WindowState.RUNNING), key=lambda w: w["ends_at"])
    scheduled = [w for w in rows if w["state"] == WindowState.SCHEDULED][:UPCOMING_SHOWN]
    return _running_lines(running), _upcoming_lines(scheduled, now)


# What the board shows of an open window (banners).
WINDOW_COLUMNS = ("pk", "state", "disarmed", "starts_at", "ends_at", "created_by_name", "reason")


def _open_windows_query():
    return (
        MaintenanceWindow.objects.filter(state__in=OPEN_STATES)
        .order_by("starts_at")
        .values_list(*WINDOW_COLUMNS)
    )


def _link(pk: int) -> str:
    return f"{reverse('maintenance')}#window-{pk}"


def _ids(window: dict) -> list[int]:
    """The ids of the policies a window disarmed; a stored key that is no id (a damaged row) is left out
    rather than break the board."""
    return [int(pk) for pk in window["disarmed"] or {} if str(pk).isdigit()]


def _running_lines(windows: list[dict]) -> list[dict]:
    """ "Alpha desk BTCUSDT and Alpha desk ETHUSDT disarmed…" for a few policies, "12 policies disarmed…" for
    more."""
    few = {pk for w in windows if len(_ids(w)) <= NAMED for pk in _ids(w)}
    names = {p.pk: str(p) for p in CountdownPolicy.objects.with_account().filter(pk__in=few)} if few else {}
    lines = []
    for w in windows:
        ids = _ids(w)
        named = sorted(names[pk] for pk in ids if pk in names)
        if not ids or len(named) < len(ids):  # many, or one deleted since: say how many
            named = []
        by = w["created_by_name"] or "—"
        until = w["ends_at"].astimezone(UTC)
        lines.append(
            {
                "id": w["pk"],
                "count": len(ids),
                "policies": _policies_word(len(ids)),
                "names": named,
                "ends_at": w["ends_at"],
                "ends_at_ms": int(w["ends_at"].timestamp() * 1000),
                "by": by,
                "reason": w["reason"],
                "text": f"{_listed(named) if named else _policies_word(len(ids))} disarmed for maintenance "
                f"until {until:%H:%M} UTC, by {by}: {w['reason']}",
                "url": _link(w["pk"]),
            }
        )
    return lines


def _upcoming_lines(windows: list[dict], now: datetime) -> list[dict]:
    """ "Maintenance from 14:00 UTC for 30 min on 3 policies": the policies it covers as they are now (its own
    and every policy of its accounts; its start counts them again)."""
    if not windows:
        return []
    ids = [w["pk"] for w in windows]
    covered = defaultdict(set)
    for path in ("maintenance_windows", "account__maintenance_windows"):
        rows = CountdownPolicy.objects.filter(**{f"{path}__in": ids}).values_list("pk", path)
        for policy_id, window_id in rows:
            covered[window_id].add(policy_id)
    today = now.astimezone(UTC).date()
    lines = []
    for w in windows:
        starts = w["starts_at"].astimezone(UTC)
        when = f"{starts:%H:%M}" if starts.date() == today else f"{starts:%Y-%m-%d %H:%M}"
        length = duration_words(w["ends_at"] - w["starts_at"])
        count = len(covered[w["pk"]])
        lines.append(
            {
                "id": w["pk"],
                "starts_at": w["starts_at"],
                "starts_at_ms": int(w["starts_at"].timestamp() * 1000),
                "count": count,
                "text": f"Maintenance from {when} UTC for {length} on {_policies_word(count)}, "
                f"by {w['created_by_name'] or '—'}: {w['reason']}",
                "url": _link(w["pk"]),
            }
        )
    return lines
