"""Turns what is wrong (conditions.py) and what people did (the audit trail) into notifications: one per
transition, a reminder every channel's `repeat_minutes` while it lasts, a recovery when it clears.

Database only, in one transaction per evaluation; delivery (delivery.py) happens elsewhere, later, and may
take its time. Run by the one process holding the alerting duty (runner.py).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from heartbeats.desk import actions, presenters
from heartbeats.desk.alerts import conditions
from heartbeats.desk.killswitch.cancel import results
from heartbeats.models import Action, Duty, Operation
from heartbeats.models.alerts import AlertChannel, AlertCondition, AlertEvent, Notification, NotificationKind

SEVERE = {
    AlertEvent.POLICY_FAILING,
    AlertEvent.COUNTDOWN_EXPIRED,
    AlertEvent.ENGINE_DOWN,
    AlertEvent.BANNED,
}
# Audited actions that are announced, and the event each one counts as.
ANNOUNCED = {
    Action.DISARM_ALL: AlertEvent.KILL_ACTION,
    Action.DISARM_SELECTED: AlertEvent.KILL_ACTION,
    Action.CANCEL_ORDERS: AlertEvent.KILL_ACTION,
    Action.WINDOW_START: AlertEvent.MAINTENANCE,
    Action.WINDOW_END: AlertEvent.MAINTENANCE,
    Action.WINDOW_END_EARLY: AlertEvent.MAINTENANCE,
}
# An action's results are awaited this long before it is announced with whatever is known.
RESULTS_WAIT = timedelta(seconds=15)
# Lapses this recent are told if nothing told them yet; older ones are history (a first start, a long outage
# of alerting itself), listed on the board.
LAPSE_LOOKBACK = timedelta(minutes=10)
DUTY = "alerts"


@dataclass
class Evaluation:
    opened: int = 0
    alerted: int = 0
    changed: int = 0
    cleared: int = 0
    repeated: int = 0
    announced: int = 0
    queued: int = 0
    # Seconds until the earliest problem still within its hold would be told: the runner looks again then
    # rather than a whole period later.
    next_due_s: float | None = None


def evaluate(snap=None) -> Evaluation:
    """Compare the problems now with the ones on record and queue what people must be told."""
    snap = snap or presenters.snapshot()
    now = snap.now
    found = {c.key: c for c in conditions.current(snap)}
    result = Evaluation()
    with transaction.atomic():
        channels = _channels()
        stored = {row.key: row for row in AlertCondition.objects.select_for_update().filter(active=True)}
        told = _told(list(stored.values()))
        for key, cond in found.items():
            row = stored.get(key)
            if row is None:
                row = AlertCondition.objects.create(
                    key=key,
                    event=cond.event,
                    title=cond.title,
                    body=cond.body,
                    account_ids=list(cond.account_ids),
                    policy_id=cond.policy_id,
                    since=cond.since,
                    opened_at=now,
                )
                result.opened += 1
            elif row.event != cond.event:
                # late → failing → expired: a new state is a new thing to say, to whoever wants to hear it.
                row.event, row.title, row.body, row.changed_at = cond.event, cond.title, cond.body, now
                if cond.event == AlertEvent.COUNTDOWN_EXPIRED:
                    row.since = cond.since  # the moment the orders went: what the lapse record says too
                row.save(update_fields=["event", "title", "body", "changed_at", "since"])
                if row.alerted_at:
                    for channel in _wanting(channels, cond.event, cond.account_ids):
                        kind = NotificationKind.UPDATE if channel.pk in told.get(row.pk, {}) else None
                        result.queued += _queue(channel, row, kind or NotificationKind.ALERT, now)
                    result.changed += 1
                    continue
            if row.alerted_at is None:
                if cond.since < row.since:  # it turns out to have begun earlier than first thought
                    row.since = cond.since
                    row.save(update_fields=["since"])
                if now - row.since >= cond.hold:
                    # Told in today's words: what was true when it opened may have moved on (an engine that
                    # had never run has run, and stopped, since).
                    row.alerted_at, row.title, row.body = now, cond.title, cond.body
                    row.save(update_fields=["alerted_at", "title", "body"])
                    for channel in _wanting(channels, cond.event, cond.account_ids):
                        result.queued += _queue(channel, row, NotificationKind.ALERT, now)
                    result.alerted += 1
                else:
                    due = (row.since + cond.hold - now).total_seconds()
                    result.next_due_s = min(due, result.next_due_s if result.next_due_s is not None else due)
                continue
            # Still going: remind each channel that wants it, at its own pace.
            for channel in _wanting(channels, cond.event, cond.account_ids):
                last = told.get(row.pk, {}).get(channel.pk)
                if (
                    channel.repeat_minutes
                    and last
                    and now - last >= timedelta(minutes=channel.repeat_minutes)
                ):
                    result.queued += _queue(channel, row, NotificationKind.REPEAT, now)
                    result.repeated += 1
        for key, row in stored.items():
            if key in found:
                continue
            AlertCondition.objects.filter(pk=row.pk).update(active=False, cleared_at=now)
            result.cleared += 1
            if row.alerted_at is None:
                continue
            # Recovery goes to every channel that heard of the problem, whatever it listens to now.
            for channel in channels:
                if channel.pk in told.get(row.pk, {}):
                    result.queued += _queue(channel, row, NotificationKind.RECOVERY, now)
        result.announced += _announce_missed_lapses(snap, channels, now)
        result.announced += _announce_operations(channels, now)
    return result


def announce(event: str, title: str, body: str, *, account_ids=(), severity: str = "warning") -> int:
    """Queue a one-off event (nothing to recover from) to every channel that wants it; the count queued."""
    now = timezone.now()
    return sum(
        _queue(
            channel, None, NotificationKind.EVENT, now, event=event, title=title, body=body, severity=severity
        )
        for channel in _wanting(_channels(), event, account_ids)
    )


# ---- helpers ----------------------------------------------------------------------------------------------


def _channels() -> list[AlertChannel]:
    return list(AlertChannel.objects.filter(enabled=True).prefetch_related("accounts"))


def _wanting(channels, event, account_ids) -> list[AlertChannel]:
    for channel in channels:
        # The prefetched accounts: no query per channel.
        channel._account_filter = {a.pk for a in channel.accounts.all()}
    return [c for c in channels if c.wants(event, account_ids)]


def _told(rows) -> dict[int, dict[int, datetime]]:
    """condition id -> {channel id: when it was last alerted, told of a change or reminded}."""
    told: dict[int, dict[int, datetime]] = {}
    spoken = (NotificationKind.ALERT, NotificationKind.UPDATE, NotificationKind.REPEAT)
    latest = (
        Notification.objects.filter(
            condition__in=[r.pk for r in rows], kind__in=spoken, channel__isnull=False
        )
        .values("condition_id", "channel_id")
        .annotate(last=Max("created_at"))
    )
    for item in latest:
        told.setdefault(item["condition_id"], {})[item["channel_id"]] = item["last"]
    return told


def _queue(channel, condition, kind, now, *, event=None, title=None, body=None, severity=None) -> int:
    event = event or condition.event
    title = title or condition.title
    body = body if body is not None else condition.body
    if kind == NotificationKind.RECOVERY:
        severity = "success"
        title = f"Recovered: {title}"
        was = condition.body.split("\nWhat to do:")[0]
        body = f"It cleared at {timezone.localtime(now):%H:%M:%S %Z}.\n\nWas: {was}"
    elif kind == NotificationKind.REPEAT:
        title = f"Still: {title}"
    elif kind == NotificationKind.UPDATE:
        title = f"Now: {title}"
    severity = severity or ("failure" if event in SEVERE else "warning")
    Notification.objects.create(
        created_at=now,
        next_attempt_at=now,
        channel=channel,
        channel_name=channel.name,
        condition=condition,
        event=event,
        kind=kind,
        severity=severity,
        title=title[:250],
        body=body,
    )
    return 1


def _announce_missed_lapses(snap, channels, now) -> int:
    """A countdown that ran out and was armed again between two evaluations never showed as `expired` here,
    but the exchange cancelled its orders all the same: the beats tell (lapses.py), and it is told once."""
    # A lapse still running shows as `expired`, which is told as a condition of its own.
    recent = [
        row for row in snap.lapses if row.lapse.resumed_at and now - row.lapse.resumed_at <= LAPSE_LOOKBACK
    ]
    if not recent:
        return 0
    told = {}
    for policy_id, at in AlertCondition.objects.filter(
        policy_id__in={row.policy.pk for row in recent},
        event=AlertEvent.COUNTDOWN_EXPIRED,
        alerted_at__isnull=False,
        opened_at__gte=now - timedelta(hours=2),
    ).values_list("policy_id", "since"):
        told.setdefault(policy_id, []).append(at)
    queued = 0
    for row in recent:
        policy, lapse = row.policy, row.lapse
        # An expiry told as a condition (opened when it showed) starts at the same moment, give or take.
        if any(abs(at - lapse.expired_at) <= timedelta(seconds=2) for at in told.get(policy.pk, ())):
            continue
        when = timezone.localtime(lapse.expired_at)
        again = "armed again" if lapse.resumed_by == "arm" else "disarmed"
        record = AlertCondition.objects.create(
            key=f"lapse:{policy.pk}:{int(lapse.expired_at.timestamp() * 1000)}",
            event=AlertEvent.COUNTDOWN_EXPIRED,
            title=f"{AlertEvent.COUNTDOWN_EXPIRED.label}: {policy.account.label} {policy.symbol}",
            body=f"The countdown ran out at {when:%H:%M:%S %Z} and was {again} at "
            f"{timezone.localtime(lapse.resumed_at):%H:%M:%S %Z}: in between the exchange cancelled this "
            f"symbol's open orders.\nWhat to do: {conditions.WHAT_TO_DO[AlertEvent.COUNTDOWN_EXPIRED]}",
            account_ids=[policy.account_id],
            policy_id=policy.pk,
            since=lapse.expired_at,
            opened_at=now,
            alerted_at=now,
            cleared_at=now,
            active=False,  # over already: this row is the record that it was told
        )
        told.setdefault(policy.pk, []).append(lapse.expired_at)
        for channel in _wanting(channels, AlertEvent.COUNTDOWN_EXPIRED, [policy.account_id]):
            queued += _queue(channel, record, NotificationKind.EVENT, now)
    return queued


def _announce_operations(channels, now) -> int:
    """Announce the audited kill actions and maintenance windows since the last one announced. The first
    run starts from the newest: history is not news."""
    duty, _ = Duty.objects.get_or_create(name=DUTY)
    if duty.cursor is None:
        newest = Operation.objects.aggregate(m=Max("id"))["m"] or 0
        Duty.objects.filter(pk=DUTY).update(cursor=newest)
        return 0
    announced = 0
    cursor = duty.cursor
    # Read first: an action committed after this is looked at next time, never skipped.
    top = Operation.objects.aggregate(m=Max("id"))["m"] or cursor
    pending = list(
        Operation.objects.filter(id__gt=cursor, id__lte=top, action__in=list(ANNOUNCED)).order_by("id")[:20]
    )
    for op in pending:
        results = _results(op)
        settling = any(r["result"] in (actions.RETRYING, "pending") for r in results)
        if settling and now - op.at < RESULTS_WAIT:
            break  # announced with its results once they are in (or once it has waited long enough)
        event = ANNOUNCED[op.action]
        title, body = _describe(op, results)
        ids = sorted({op.account_id} if op.account_id else set())
        for channel in _wanting(channels, event, ids):
            announced += _queue(
                channel, None, NotificationKind.EVENT, now, event=event, title=title, body=body
            )
        cursor = op.id
    else:
        if len(pending) < 20:
            # Everything up to `top` that deserved a word got one: the bookmark moves past the rest too.
            cursor = top
    if cursor != duty.cursor:
        Duty.objects.filter(pk=DUTY).update(cursor=cursor)
    return announced


def _results(op: Operation) -> list[dict]:
    """Per-policy results (arms, disarms) or, for Cancel orders now, per-symbol cancels, alike."""
    if op.action == Action.CANCEL_ORDERS:
        return [
            {
                "account": c.account_label,
                "symbol": f"{c.symbol} ({c.kind})",
                "result": c.state,
                "error": c.error,
            }
            for c in results(op)
        ]
    return actions.policy_results(op) if op.action in actions.RESULT_ACTIONS else []


def _describe(op: Operation, results: list[dict]) -> tuple[str, str]:
    who = op.username or "the schedule"
    when = timezone.localtime(op.at)
    counts = Counter(r["result"] for r in results)
    tally = ", ".join(f"{n} {result}" for result, n in counts.most_common())
    title = f"{op.get_action_display()} by {who}" + (f": {tally}" if tally else "")
    lines = [
        f"{op.get_action_display()} by {who} at {when:%Y-%m-%d %H:%M:%S %Z}"
        + (f" from {op.ip}" if op.ip else "")
        + ".",
        f"Reason: {op.reason or '(none given)'}",
    ]
    if results:
        lines.append(f"Results: {tally}.")
        # Anything not done first: that is what someone has to look at.
        order = {actions.FAILED: 0, actions.RETRYING: 1, actions.SUPERSEDED: 2}
        for r in sorted(results, key=lambda r: order.get(r["result"], 3))[:25]:
            error = f" ({r['error']})" if r.get("error") else ""
            lines.append(f"  {r.get('account', '')} {r.get('symbol', '')}: {r['result']}{error}")
        if len(results) > 25:
            lines.append(f"  … and {len(results) - 25} more (see the operation's page).")
    elif listed := op.targets.count():
        lines.append(f"Policies: {listed}.")
    return title, "\n".join(lines)
