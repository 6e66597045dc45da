"""Turns what is wrong (conditions.py) and what people did (the audit trail) into notifications: one per
transition, a reminder every channel's `repeat_minutes` while it lasts, a recovery when it clears.

Database only, in one transaction per evaluation; delivery (delivery.py) happens elsewhere, later, and may
take its time. Run by the one process holding the alerting duty (runner.py).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from heartbeats.desk import actions, presenters
from heartbeats.desk.alerts import conditions
from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.killswitch.cancel import results
from heartbeats.desk.maintenance import WINDOW_USERNAME
from heartbeats.models import Action, Duty, Operation
from heartbeats.models.alerts import (
    AlertChannel,
    AlertCondition,
    AlertEvent,
    Delivery,
    Notification,
    NotificationKind,
)
from heartbeats.models.policies import switch_label

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
GROUP_WAIT_CAP = 4
SPOKEN = (NotificationKind.ALERT, NotificationKind.UPDATE, NotificationKind.REPEAT)


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
    """Compare the problems now with the ones on record and queue what people must be told: one message per
    incident (conditions with one cause), never a problem another one explains, one recovery per incident."""
    snap = snap or presenters.snapshot()
    now = snap.now
    found = {c.key: c for c in conditions.current(snap)}
    result = Evaluation()
    with transaction.atomic():
        channels = _channels()
        stored = {row.key: row for row in AlertCondition.objects.select_for_update().filter(active=True)}
        rows = {key: _record(stored.get(key), cond, now, result) for key, cond in found.items()}
        _inhibit(found, rows, now)
        told = _told(list(rows.values()))
        _tell_ready(found, rows, channels, told, now, result)
        _remind(found, rows, channels, told, now, result)
        _recover([r for k, r in stored.items() if k not in found], rows, channels, now, result)
        result.announced += _announce_missed_lapses(snap, channels, now)
        result.announced += _announce_operations(channels, now)
    return result


def _record(row, cond, now, result) -> AlertCondition:
    """The condition's stored row, opened or brought up to date."""
    if row is None:
        result.opened += 1
        return AlertCondition.objects.create(
            key=cond.key,
            event=cond.event,
            title=cond.title,
            body=cond.body,
            account_ids=list(cond.account_ids),
            policy_id=cond.policy_id,
            since=cond.since,
            opened_at=now,
            group=cond.incident,
        )
    if row.event != cond.event:
        # late → failing → expired: a new state is a new thing to say, in the incident of its new cause.
        if row.alerted_at:
            row.changed_at = now
            result.changed += 1
        row.event, row.title, row.body, row.group = cond.event, cond.title, cond.body, cond.incident
        row.alerted_at = row.ready_at = row.told_by = None
        if cond.event == AlertEvent.COUNTDOWN_EXPIRED:
            row.since = cond.since  # the moment the orders went: what the lapse record says too
        row.save(
            update_fields=["event", "title", "body", "group", "changed_at", "alerted_at", "ready_at"]
            + ["told_by", "since"]
        )
    elif row.alerted_at is None and cond.since < row.since:
        row.since = cond.since  # it turns out to have begun earlier than first thought
        row.save(update_fields=["since"])
    return row


def _inhibit(found, rows, now) -> None:
    """Mark what another present condition explains; give what it explained a hold of its own once it
    cleared (policies still late seconds after their engine came back are news, the ones it catches up with
    are not)."""
    for key, cond in found.items():
        row = rows[key]
        if row.alerted_at is not None:
            continue
        cause = next((k for k in cond.explained_by if k in found), "")
        if cause and row.inhibited_by != cause:
            row.inhibited_by, row.ready_at = cause, None
            row.save(update_fields=["inhibited_by", "ready_at"])
        elif not cause and row.inhibited_by:
            row.inhibited_by, row.held_until = "", now + cond.hold
            row.save(update_fields=["inhibited_by", "held_until"])


def _tell_ready(found, rows, channels, told, now, result) -> None:
    """Tell each incident's conditions that are past their hold, together, once the group wait has passed."""
    wait = timedelta(seconds=settings.ALERT_GROUP_WAIT_SECONDS)
    ready: dict[str, list[AlertCondition]] = {}
    for key, cond in found.items():
        row = rows[key]
        if row.alerted_at is not None or row.inhibited_by:
            continue
        due = max(row.since + cond.hold, row.held_until or row.since)
        if now < due:
            _due_in(result, due - now)
            continue
        if row.ready_at is None:
            row.ready_at = now
            row.save(update_fields=["ready_at"])
        ready.setdefault(cond.incident, []).append(row)
    for members in ready.values():
        # Told once the incident has been quiet for the wait (no new member), or at the latest GROUP_WAIT_CAP
        # waits after its first: a refusal reaches an account's policies one beat at a time, over their
        # interval, and one message should name them all.
        first, last = min(m.ready_at for m in members), max(m.ready_at for m in members)
        due = min(last + wait, first + wait * GROUP_WAIT_CAP)
        if all(m.group == m.key for m in members):
            due = first  # a problem of its own kind (the engine down, a ban): nothing can join it
        if now < due:
            _due_in(result, due - now)
            continue
        members.sort(key=lambda m: (m.since, m.pk))
        lead = members[0]
        conds = [found[m.key] for m in members]
        # Told in today's words: what was true when it opened may have moved on.
        for m, c in zip(members, conds, strict=True):
            m.alerted_at, m.title, m.body, m.told_by = now, c.title, c.body, lead
            m.save(update_fields=["alerted_at", "title", "body", "told_by"])
        title, body = _incident_text(conds, _explained(found, rows, {m.key for m in members}))
        accounts = sorted({a for c in conds for a in c.account_ids})
        changed = all(m.changed_at for m in members)
        for channel in _wanting(channels, lead.event, accounts):
            heard = any(channel.pk in told.get(m.pk, {}) for m in members)
            kind = NotificationKind.UPDATE if changed and heard else NotificationKind.ALERT
            result.queued += _queue(channel, lead, kind, now, title=title, body=body)
        result.alerted += len(members)


def _remind(found, rows, channels, told, now, result) -> None:
    """Still going: remind each channel that wants it, at its own pace, once per incident."""
    incidents: dict[str, list[AlertCondition]] = {}
    for key, cond in found.items():
        row = rows[key]
        if row.alerted_at is not None and row.alerted_at < now:
            incidents.setdefault(cond.incident, []).append(row)
    for members in incidents.values():
        members.sort(key=lambda m: (m.since, m.pk))
        conds = [found[m.key] for m in members]
        accounts = sorted({a for c in conds for a in c.account_ids})
        for channel in _wanting(channels, members[0].event, accounts):
            heard = [told[m.pk][channel.pk] for m in members if channel.pk in told.get(m.pk, {})]
            if (
                channel.repeat_minutes
                and heard
                and now - max(heard) >= timedelta(minutes=channel.repeat_minutes)
            ):
                title, body = _incident_text(conds, _explained(found, rows, {m.key for m in members}))
                result.queued += _queue(
                    channel,
                    members[0].told_by or members[0],
                    NotificationKind.REPEAT,
                    now,
                    title=title,
                    body=body,
                )
                result.repeated += 1


def _recover(gone, rows, channels, now, result) -> None:
    """Close what cleared; an incident recovers once, when the last of its told conditions clears, to every
    channel that heard of it (whatever it listens to now)."""
    still_told = {r.group or r.key for r in rows.values() if r.alerted_at is not None}
    over: dict[str, list[AlertCondition]] = {}
    for row in gone:
        AlertCondition.objects.filter(pk=row.pk).update(active=False, cleared_at=now)
        result.cleared += 1
        if row.alerted_at is not None:
            over.setdefault(row.group or row.key, []).append(row)
    for incident, members in over.items():
        if incident in still_told:
            continue  # others of the incident still last: its recovery waits for them
        since = min(m.alerted_at for m in members)
        earlier = AlertCondition.objects.filter(
            group=incident, active=False, alerted_at__isnull=False, cleared_at__gte=since
        ).exclude(pk__in=[m.pk for m in members])
        members += list(earlier)
        heard = _heard(members)
        first = _first_message(members)
        if first is None:
            continue
        leads = {m.told_by_id or m.pk for m in members}
        # A message of the incident still waiting for its channel (down, retrying) is news no more: it is not
        # sent after the fact, and a channel that heard nothing of the incident hears no recovery either.
        # One being attempted right now (claimed) counts as heard.
        unsent = Notification.objects.filter(
            condition__in=leads,
            kind__in=SPOKEN,
            status__in=(Delivery.PENDING, Delivery.RETRYING),
            next_attempt_at__lte=now,
        )
        stale = set(unsent.values_list("channel_id", flat=True))
        unsent.update(
            status=Delivery.FAILED, last_error="Not sent: it recovered before it could be delivered."
        )
        delivered = set(
            Notification.objects.filter(condition__in=leads, kind__in=SPOKEN)
            .exclude(status=Delivery.FAILED)
            .values_list("channel_id", flat=True)
        )
        for channel in channels:
            if channel.pk in heard and (channel.pk not in stale or channel.pk in delivered):
                result.queued += _queue(
                    channel,
                    first.condition,
                    NotificationKind.RECOVERY,
                    now,
                    title=first.title,
                    body=first.body,
                )


def _heard(rows) -> set[int]:
    """The channels told of any of these conditions, through the messages that told them."""
    leads = {r.told_by_id or r.pk for r in rows}
    return set(
        Notification.objects.filter(condition__in=leads, kind__in=SPOKEN, channel__isnull=False).values_list(
            "channel_id", flat=True
        )
    )


def _first_message(members) -> Notification | None:
    """The incident's first alert: what its recovery names."""
    leads = {m.told_by_id or m.pk for m in members}
    return (
        Notification.objects.filter(
            condition__in=leads, kind__in=(NotificationKind.ALERT, NotificationKind.UPDATE)
        )
        .select_related("condition")
        .order_by("created_at", "id")
        .first()
    )


def _explained(found, rows, keys) -> list:
    """The conditions these ones explain (and keep quiet), for their message."""
    return [found[k] for k, r in rows.items() if r.inhibited_by in keys and r.alerted_at is None]


def _incident_text(conds, explained) -> tuple[str, str]:
    """One message for an incident: one condition's own words, or the shared cause and every name."""
    lead = conds[0]
    if len(conds) == 1:
        title, detail = lead.title, lead.detail
    else:
        event = AlertEvent(lead.event).label
        accounts = {c.account_ids for c in conds}
        where = ""
        if len(accounts) == 1 and lead.name:
            where = f" on {lead.name.rsplit(' ', 1)[0]}"
        title = f"{event}: {len(conds)} policies{where}"
        shared = {c.detail for c in conds}
        detail = lead.detail if len(shared) == 1 else f"{lead.detail} (and {len(shared) - 1} other states)"
        detail += f"\nPolicies ({len(conds)}): {_names(conds)}"
    when = timezone.localtime(min(c.since for c in conds)).strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = [detail, f"Since: {when}"]
    if explained:
        kinds = Counter(EXPLAINED_AS.get(c.event, c.event) for c in explained)
        what = ", ".join(f"{n} {label}" for label, n in kinds.most_common())
        lines.append(
            f"Held up by it: {len(explained)} {_policies(len(explained))} ({what}): {_names(explained)}"
        )
    lines.append(f"What to do: {lead.what_to_do}")
    return title, "\n".join(lines).rstrip()


EXPLAINED_AS = {AlertEvent.POLICY_LATE: "late", AlertEvent.POLICY_UNCERTAIN: "outcome unknown"}


def _policies(n: int) -> str:
    return "policy" if n == 1 else "policies"


def _names(conds, most: int = 25) -> str:
    names = [c.name or c.title for c in conds]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more + "."


def _due_in(result, delta: timedelta) -> None:
    due = max(0.0, delta.total_seconds())
    result.next_due_s = due if result.next_due_s is None else min(result.next_due_s, due)


@dataclass
class Incident:
    """What the Alerts page lists under "Going on now": one told incident and the conditions in it."""

    title: str
    since: datetime
    members: list[AlertCondition]
    held_up: list[AlertCondition]  # what it explains, kept quiet while it lasts (policies late on its engine)


def open_incidents() -> list[Incident]:
    """The incidents told and still going on, oldest first, each under the title its message had."""
    rows = list(AlertCondition.objects.filter(active=True, alerted_at__isnull=False).order_by("since", "id"))
    by_lead: dict[int, list[AlertCondition]] = {}
    for row in rows:
        by_lead.setdefault(row.told_by_id or row.pk, []).append(row)
    titles = dict(
        Notification.objects.filter(
            condition__in=by_lead, kind__in=(NotificationKind.ALERT, NotificationKind.UPDATE)
        )
        .order_by("-created_at")
        .values_list("condition_id", "title")
    )
    quiet: dict[str, list[AlertCondition]] = {}
    for row in AlertCondition.objects.filter(active=True, alerted_at__isnull=True).exclude(inhibited_by=""):
        quiet.setdefault(row.inhibited_by, []).append(row)
    found = []
    for lead, members in by_lead.items():
        title = titles.get(lead, members[0].title).removeprefix("Now: ")
        held_up = sorted((q for m in members for q in quiet.get(m.key, ())), key=lambda q: q.title)
        found.append(
            Incident(title, min(m.since for m in members), members if len(members) > 1 else [], held_up)
        )
    return sorted(found, key=lambda i: i.since)


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
    """condition id -> {channel id: when it was last alerted, told of a change or reminded}, through the
    message that told it (its incident's)."""
    told: dict[int, dict[int, datetime]] = {}
    lead_of = {r.pk: r.told_by_id or r.pk for r in rows}
    latest = (
        Notification.objects.filter(
            condition__in=set(lead_of.values()), kind__in=SPOKEN, channel__isnull=False
        )
        .values("condition_id", "channel_id")
        .annotate(last=Max("created_at"))
    )
    by_lead: dict[int, dict[int, datetime]] = {}
    for item in latest:
        by_lead.setdefault(item["condition_id"], {})[item["channel_id"]] = item["last"]
    for pk, lead in lead_of.items():
        if lead in by_lead:
            told[pk] = by_lead[lead]
    return told


def _queue(channel, condition, kind, now, *, event=None, title=None, body=None, severity=None) -> int:
    event = event or condition.event
    title = title or condition.title
    body = body if body is not None else condition.body
    if kind == NotificationKind.RECOVERY:
        title = title.removeprefix("Now: ")
        severity = "success"
        # An expiry does not undo itself: the countdown runs again, the cancelled orders stay cancelled.
        again = "Countdown running again" if event == AlertEvent.COUNTDOWN_EXPIRED else "Recovered"
        title = f"{again}: {title}"
        was = body.split("\nWhat to do:")[0]
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
    fresh: dict[int, list[AlertCondition]] = {}
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
            title=f"{AlertEvent.COUNTDOWN_EXPIRED.label}: {policy.account.label} {policy.switch_title}",
            body=f"The countdown ran out at {when:%H:%M:%S %Z} and was {again} at "
            f"{timezone.localtime(lapse.resumed_at):%H:%M:%S %Z}: in between the exchange cancelled "
            f"{policy.covered_orders}.\nWhat to do: {conditions.WHAT_TO_DO[AlertEvent.COUNTDOWN_EXPIRED]}",
            account_ids=[policy.account_id],
            policy_id=policy.pk,
            since=lapse.expired_at,
            opened_at=now,
            alerted_at=now,
            cleared_at=now,
            active=False,  # over already: this row is the record that it was told
            group=f"lapses:{policy.account_id}",
        )
        told.setdefault(policy.pk, []).append(lapse.expired_at)
        fresh.setdefault(policy.account_id, []).append((record, policy))
    queued = 0
    # The lapses of one account found together are one message (a network outage lapses many at once).
    for account_id, found in fresh.items():
        lead = found[0][0]
        title, body = lead.title, lead.body
        if len(found) > 1:
            title = (
                f"{AlertEvent.COUNTDOWN_EXPIRED.label}: {len(found)} policies on {found[0][1].account.label}"
            )
            lines = [r.body.split("\nWhat to do:")[0] for r, _ in found]
            body = "\n".join(lines[:25] + ([f"… and {len(lines) - 25} more."] if len(lines) > 25 else []))
            body += f"\nWhat to do: {conditions.WHAT_TO_DO[AlertEvent.COUNTDOWN_EXPIRED]}"
            AlertCondition.objects.filter(pk__in=[r.pk for r, _ in found[1:]]).update(told_by=lead)
        for channel in _wanting(channels, AlertEvent.COUNTDOWN_EXPIRED, [account_id]):
            queued += _queue(channel, lead, NotificationKind.EVENT, now, title=title, body=body)
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
                "symbol": f"{switch_label(c.symbol)} ({c.kind})",
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
    # "Maintenance window started on schedule", not "... by maintenance window".
    by = "on schedule" if who in (WINDOW_USERNAME, "the schedule") else f"by {who}"
    title = f"{op.get_action_display()} {by}" + (f": {tally}" if tally else "")
    lines = [
        f"{op.get_action_display()} {by} at {when:%Y-%m-%d %H:%M:%S %Z}"
        + (f" from {op.ip}" if op.ip else "")
        + ".",
        f"Reason: {op.reason or '(none given)'}",
    ]
    if op.action == Action.CANCEL_ORDERS:
        lines.append(killswitch.summary(killswitch.results(op)))
    if results:
        lines.append(f"Results: {tally}.")
        # Anything not done first: that is what someone has to look at.
        order = {actions.FAILED: 0, actions.RETRYING: 1, actions.SUPERSEDED: 2}
        for r in sorted(results, key=lambda r: order.get(r["result"], 3))[:25]:
            error = f" ({r['error']})" if r.get("error") else ""
            switch = r.get("switch") or r.get("symbol", "")
            lines.append(f"  {r.get('account', '')} {switch}: {r['result']}{error}")
        if len(results) > 25:
            lines.append(f"  … and {len(results) - 25} more (see the operation's page).")
    elif listed := op.targets.count():
        lines.append(f"Policies: {listed}.")
    return title, "\n".join(lines)
