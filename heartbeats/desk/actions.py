"""The only way people change what the engine does: arm, disarm, disarm all, re-arm what a Disarm all (or a
disarm of a selection) disarmed, and arm or disarm a selection.

Each one bumps the policies' generation in one UPDATE and writes its Operation in the same transaction,
commits, and only then is anything sent: the live engine notices the change within its poll interval and
acts at once; if no engine can send for a policy's egress, this process sends the disarms itself,
concurrently and under the same rules (heartbeats.engine.fallback).

A disarm never waits on another process: when its locks are not free within DISARM_LOCK_WAIT (a process
stopped inside a write transaction holds them as long as it stays stopped), the disarm is kept in the disarm
journal, its zeros are sent at once, and it is recorded as soon as the database can take it
(heartbeats.domain.disarm_journal). The caller then gets a HeldDisarm instead of an Operation.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from heartbeats.domain import audit, disarm_journal, pacing
from heartbeats.domain.desired import held_by_another, set_desired, waiting_briefly_for_locks
from heartbeats.domain.validation import plain_reason, required_reason
from heartbeats.domain.work import work
from heartbeats.engine import fallback
from heartbeats.models import Action, Beat, BeatKind, CountdownPolicy, Effect, Operation, Status
from heartbeats.models.policies import switch_label

log = logging.getLogger(__name__)

# Operations whose results are disarms; the others with targets (arm, re-arm, arm selected) are arms.
DISARMING_ACTIONS = (Action.DISARM, Action.DISARM_ALL, Action.DISARM_SELECTED, Action.WINDOW_START)
RESULT_ACTIONS = (
    Action.ARM,
    Action.REARM,
    Action.ARM_SELECTED,
    Action.WINDOW_END,
    Action.WINDOW_END_EARLY,
    *DISARMING_ACTIONS,
)

DISARMED, ARMED, RETRYING, FAILED, SUPERSEDED = "disarmed", "armed", "retrying", "failed", "superseded"

# How often a disarm kept in the journal tries again to be recorded, from the process that pressed it.
RECORD_RETRY_EVERY = 0.2


@dataclass
class HeldDisarm:
    """A disarm pressed while another process held the database's locks: its zeros went at once, and it is
    recorded (and audited, and followed up) as soon as the database can take it."""

    entry: disarm_journal.Entry
    results: list  # engine.sender.Result of the zeros sent at once

    @property
    def policies(self) -> int:
        return len(self.entry.policy_ids)

    @property
    def confirmed(self) -> int:
        return sum(1 for r in self.results if r.outcome == "confirmed")


def _set_desired(policy_id, *, armed: bool, action: str, user, ip, reason="", username=None) -> Operation:
    reason = plain_reason(reason) if reason else reason
    # A disarm waits for its lock only briefly (see HeldDisarm); an arm waits as long as the database does.
    locked = waiting_briefly_for_locks(settings.DISARM_LOCK_WAIT) if not armed else transaction.atomic()
    with locked:
        policy = CountdownPolicy.objects.select_for_update().with_account().get(pk=policy_id)
        if armed and not policy.account.enabled:
            raise ValueError(f"{policy.account.label} is disabled: enable the account before arming.")
        was_armed = policy.armed
        set_desired([policy.pk], armed=armed)
        policy.refresh_from_db()
        operation = audit.record(
            action,
            user=user,
            ip=ip,
            policy=policy,
            reason=reason,
            changes={"armed": [was_armed, armed]},
            targets=[audit.target(policy, Effect.ARMED if armed else Effect.DISARMED)],
            username=username,
        )
    return operation


# `username` names an actor that is not a user (an API token: "api:<name>"; audit.record); `reason` is
# optional here (the board's buttons give none) and required where the caller asks for one (the API).
def arm(policy_id, *, user, ip, reason: str = "", username: str | None = None) -> Operation:
    """Desire the policy armed (a new generation): the engine sends the arm at once, then keeps beating."""
    return _set_desired(
        policy_id, armed=True, action=Action.ARM, user=user, ip=ip, reason=reason, username=username
    )


def disarm(policy_id, *, user, ip, reason: str = "", username: str | None = None) -> Operation | HeldDisarm:
    """Desire the policy disarmed (a new generation): the engine sends `0` as soon as nothing for that
    symbol is in flight, then the second `0` once no earlier beat can still be accepted."""
    try:
        operation = _set_desired(
            policy_id, armed=False, action=Action.DISARM, user=user, ip=ip, reason=reason, username=username
        )
    except DatabaseError as exc:
        if not held_by_another(exc):
            raise
        return _around_held_locks(Action.DISARM, [policy_id], user, ip, reason, username)
    _send_where_no_engine([operation.policy_id])
    return operation


def disarm_all(
    *, user, ip, reason: str, account_ids=None, username: str | None = None
) -> Operation | HeldDisarm:
    """Disarm every armed policy (of `account_ids`, if given) in one transaction, with the reason audited.
    Policies already disarming are included in the results without a new generation."""
    reason = required_reason(reason, "disarm all")
    scope = CountdownPolicy.objects.all()
    if account_ids is not None:
        scope = scope.filter(account_id__in=list(account_ids))
    try:
        return _disarm_all(scope, user=user, ip=ip, reason=reason, account_ids=account_ids, username=username)
    except DatabaseError as exc:
        if not held_by_another(exc):
            raise
        chosen = list(scope.filter(CountdownPolicy.disarm_all_scope()).values_list("pk", flat=True))
        return _around_held_locks(Action.DISARM_ALL, chosen, user, ip, reason, username, account_ids)


def _disarm_all(scope, *, user, ip, reason, account_ids, username) -> Operation:
    with waiting_briefly_for_locks(settings.DISARM_LOCK_WAIT):
        chosen = list(
            scope.select_for_update().filter(CountdownPolicy.disarm_all_scope()).values_list("pk", flat=True)
        )
        changed = set_desired(CountdownPolicy.objects.filter(pk__in=chosen, armed=True), armed=False)
        targets = _disarm_targets(chosen, changed)
        operation = audit.record(
            Action.DISARM_ALL,
            user=user,
            ip=ip,
            reason=reason,
            changes={"policies": len(targets), "accounts": sorted(account_ids) if account_ids else "all"},
            targets=targets,
            username=username,
        )
    log.warning("disarm all by %s: %d policies (%s)", operation.username or "-", len(targets), reason[:100])
    _send_where_no_engine(chosen)
    return operation


def _disarm_targets(chosen: list[int], changed: set[int]) -> list:
    """The audit targets of a disarm of many policies, by account and symbol: disarmed where it gave a new
    generation, listed unchanged where it found one already disarming."""
    return audit.targets(
        CountdownPolicy.objects.filter(pk__in=chosen).order_by("account__label", "symbol"),
        lambda pk: Effect.DISARMED if pk in changed else Effect.UNCHANGED,
    )


# Operations whose disarms can be undone at once by "Re-arm these N".
REARMABLE_ACTIONS = (Action.DISARM_ALL, Action.DISARM_SELECTED)


def rearmable(operation: Operation, policies: dict | None = None) -> list[CountdownPolicy]:
    """The policies `operation` disarmed that may be re-armed now: still disarmed at the very generation it
    gave them (nobody armed, disarmed or re-armed them since), on an enabled account. `policies` (id ->
    policy with its account) is what the caller has already locked and loaded."""
    if operation.action not in REARMABLE_ACTIONS:
        return []
    mine = [t for t in operation.targets.all() if t.changed and t.policy_id is not None]
    if policies is None:
        policies = CountdownPolicy.objects.with_account().in_bulk([t.policy_id for t in mine])
    chosen = []
    for t in mine:
        policy = policies.get(t.policy_id)
        if policy and not policy.armed and policy.generation == t.generation and policy.account.enabled:
            chosen.append(policy)
    return chosen


def rearm(operation: Operation, *, user, ip, reason: str) -> Operation:
    """Arm again what `operation` (a Disarm all or a disarm of a selection) disarmed and nobody changed since,
    as one audited operation. The engine paces the arms within each address's weight budget."""
    reason = required_reason(reason, "re-arm")
    with transaction.atomic():
        listed = list(operation.targets.all())
        ids = [t.policy_id for t in listed if t.policy_id is not None]
        locked = CountdownPolicy.objects.select_for_update().with_account().in_bulk(ids)
        chosen = [p.pk for p in rearmable(operation, locked)]
        if not chosen:
            raise ValueError("None of these policies can be re-armed: each was armed or changed since.")
        set_desired(CountdownPolicy.objects.filter(pk__in=chosen), armed=True)
        policies = CountdownPolicy.objects.filter(pk__in=chosen).with_account()
        policies = list(policies.order_by("account__label", "symbol"))
        targets = [audit.target(p, Effect.ARMED) for p in policies]
        left_alone = len([t for t in listed if t.changed]) - len(targets)
        result = audit.record(
            Action.REARM,
            user=user,
            ip=ip,
            reason=reason,
            changes={
                "rearms_operation": operation.pk,
                "policies": len(targets),
                "left_alone": left_alone,
                "pacing": [pace.as_dict() for pace in pacing.arm_pace(policies)],
            },
            targets=targets,
        )
    log.warning("re-arm of #%d by %s: %d policies", operation.pk, result.username or "-", len(targets))
    return result


def set_selected(
    policy_ids, *, armed: bool, user, ip, reason: str, username: str | None = None
) -> Operation | HeldDisarm:
    """Arm or disarm the selected policies as one audited operation. An arm gives a new generation to each
    one not armed (or failing), a disarm to each one armed; the others are listed unchanged. Arming refuses
    the whole selection, changing nothing, if a policy is on a disabled account."""
    reason = required_reason(reason, "arm the selection" if armed else "disarm the selection")
    ids = sorted({int(pk) for pk in policy_ids})
    if armed:
        return _set_selected(ids, armed=True, user=user, ip=ip, reason=reason, username=username)
    try:
        return _set_selected(ids, armed=False, user=user, ip=ip, reason=reason, username=username)
    except DatabaseError as exc:
        if not held_by_another(exc):
            raise
        if not ids:
            raise ValueError("Select at least one policy.") from None
        return _around_held_locks(Action.DISARM_SELECTED, ids, user, ip, reason, username)


def _set_selected(ids, *, armed: bool, user, ip, reason: str, username: str | None) -> Operation:
    locked = waiting_briefly_for_locks(settings.DISARM_LOCK_WAIT) if not armed else transaction.atomic()
    with locked:
        locked = CountdownPolicy.objects.select_for_update().with_account().in_bulk(ids)
        missing = [pk for pk in ids if pk not in locked]
        if missing:
            raise ValueError(f"Policies {', '.join(map(str, missing[:10]))} no longer exist.")
        if not ids:
            raise ValueError("Select at least one policy.")
        if armed:
            disabled = sorted({p.account.label for p in locked.values() if not p.account.enabled})
            if disabled:
                raise ValueError(
                    f"{', '.join(disabled)} disabled: enable the account or leave its policies out."
                )
            rows = CountdownPolicy.objects.filter(pk__in=ids).filter(
                Q(armed=False) | Q(fatal_generation=F("generation"))
            )
        else:
            rows = CountdownPolicy.objects.filter(pk__in=ids, armed=True)
        changed = set_desired(rows, armed=armed)
        policies = list(
            CountdownPolicy.objects.filter(pk__in=ids).with_account().order_by("account__label", "symbol")
        )
        did = Effect.ARMED if armed else Effect.DISARMED
        targets = [audit.target(p, did if p.pk in changed else Effect.UNCHANGED) for p in policies]
        changes = {"policies": len(targets), "changed": len(changed)}
        if armed:
            changes["pacing"] = [
                pace.as_dict() for pace in pacing.arm_pace(p for p in policies if p.pk in changed)
            ]
        operation = audit.record(
            Action.ARM_SELECTED if armed else Action.DISARM_SELECTED,
            user=user,
            ip=ip,
            reason=reason,
            changes=changes,
            targets=targets,
            username=username,
        )
    log.warning("%s of %d policies by %s", operation.action, len(targets), operation.username or "-")
    if not armed:
        _send_where_no_engine(ids)
    return operation


def _around_held_locks(action, policy_ids, user, ip, reason, username, account_ids=None) -> HeldDisarm:
    """The disarm another process's locks hold up: kept in the journal first (from then on no engine on this
    host signs an arm for these policies), its zeros sent at once without touching the database, and a
    thread of this process records it the moment the locks are free (the `disarm-journal` duty too, should
    this process stop first)."""
    known = user if getattr(user, "is_authenticated", False) else None
    entry = disarm_journal.Entry(
        action=action,
        policy_ids=sorted(policy_ids),
        reason=reason,
        user_id=known.pk if known else None,
        username=(username or (known.get_username() if known else ""))[:150],
        ip=ip,
        account_ids=sorted(account_ids) if account_ids else None,
    )
    disarm_journal.write(entry)
    log.error(
        "%s by %s: another process holds the database's locks; %d zeros sent now, recorded when it frees",
        action,
        entry.username or "-",
        len(entry.policy_ids),
    )
    results = fallback.send_zeros_now(entry.policy_ids)
    entry.sent = [
        {"policy": r.job.policy_id, "outcome": r.outcome, "message": r.message[:200]} for r in results
    ]
    disarm_journal.update(entry)
    work.start(f"record-disarm-{entry.id}", _record_when_possible, entry)
    return HeldDisarm(entry, results)


def _record_when_possible(entry: disarm_journal.Entry) -> None:
    """On a thread of the process that pressed: record the disarm as soon as the database takes it."""
    while True:
        try:
            record_held_disarm(entry)
            return
        except DatabaseError as exc:
            if not held_by_another(exc):
                log.warning(
                    "recording the disarm pressed at %s failed (%s); trying again", entry.pressed_at, exc
                )
        time.sleep(RECORD_RETRY_EVERY)


def record_held_disarm(entry: disarm_journal.Entry) -> Operation | None:
    """Record a disarm kept in the journal: the same desired state and Operation as if the database had
    taken it when it was pressed, noted as recorded late; then its zeros follow as for any disarm. None when
    another process is recording it (or has)."""
    claimed = disarm_journal.claim(entry)
    if claimed is None:
        return None
    try:
        with transaction.atomic():
            locked = CountdownPolicy.objects.select_for_update().filter(pk__in=entry.policy_ids)
            if entry.action == Action.DISARM_ALL:
                chosen = [p.pk for p in locked if p.in_disarm_all_scope]
            else:
                chosen = [p.pk for p in locked]
            changed = set_desired(CountdownPolicy.objects.filter(pk__in=chosen, armed=True), armed=False)
            policies = CountdownPolicy.objects.filter(pk__in=chosen).with_account()
            targets = [
                audit.target(p, Effect.DISARMED if p.pk in changed else Effect.UNCHANGED)
                for p in policies.order_by("account__label", "symbol")
            ]
            pressed = datetime.fromtimestamp(entry.pressed_at, tz=UTC)
            operation = audit.record(
                entry.action,
                user=get_user_model().objects.filter(pk=entry.user_id).first() if entry.user_id else None,
                username=entry.username or None,
                ip=entry.ip,
                policy=policies.first() if entry.action == Action.DISARM and len(targets) == 1 else None,
                reason=entry.reason,
                changes={
                    "policies": len(targets),
                    "accounts": entry.account_ids or "all",
                    "pressed_at": pressed.isoformat(timespec="milliseconds"),
                    "recorded_late_s": round(time.time() - entry.pressed_at, 1),
                    "zeros_sent_while_held": sum(1 for s in entry.sent if s["outcome"] == "confirmed"),
                },
                targets=targets,
            )
    except BaseException:
        disarm_journal.release(claimed)
        raise
    disarm_journal.done(claimed)
    log.warning(
        "%s by %s recorded %.1f s after it was pressed (#%d)",
        entry.action,
        entry.username or "-",
        time.time() - entry.pressed_at,
        operation.pk,
    )
    _send_where_no_engine(chosen)
    return operation


def record_held_disarms(older_than: float = 2.0) -> int:
    """The `disarm-journal` duty's step: record what the processes that pressed could not (they stopped)."""
    return sum(1 for entry in disarm_journal.pending(older_than) if record_held_disarm(entry) is not None)


def _send_where_no_engine(policy_ids: list[int]) -> None:
    """The first zeros at once where no engine can send them (none alive, or one that cannot read desired
    state); the `owed-zeros` duty of a web process sends the rest, the second zeros included."""
    if policy_ids:
        fallback.send_owed(list(policy_ids))


def policy_results(operation: Operation) -> list[dict]:
    """Per-policy results of an arm, disarm or disarm all, from the beats of the target generations and
    each policy's status(): disarmed / armed, retrying (with the last error), failed (with the error), or
    superseded by a later action."""
    now = timezone.now()
    targets = list(operation.targets.all())
    policies = CountdownPolicy.objects.with_account().in_bulk(
        [t.policy_id for t in targets if t.policy_id is not None]
    )
    wanted = Q(pk__in=[])
    for t in targets:
        if t.policy_id is not None and t.generation is not None:
            wanted |= Q(policy_id=t.policy_id, generation=t.generation)
    beats = {}
    for beat in Beat.objects.filter(wanted).order_by("sent_at"):
        beats.setdefault((beat.policy_id, beat.generation), []).append(beat)
    disarming = operation.action in DISARMING_ACTIONS
    rows = []
    for t in targets:
        policy = policies.get(t.policy_id)
        generation = t.generation
        tried = beats.get((t.policy_id, generation), [])
        last = tried[-1] if tried else None
        row = {
            "policy": t.policy_id,
            "account": t.account_label,
            "symbol": t.symbol,
            # What the switch covers in words: "whole account (OKX)" where the symbol is "" (or an OKX tag).
            "switch": policy.switch_title if policy is not None else switch_label(t.symbol),
            "generation": generation,
            "attempts": len(tried),
            "last_outcome": last.outcome if last else "",
            "latency_ms": last.latency_ms if last else None,
            "sent_at": last.sent_at if last else None,
            "error": "",
        }
        if policy is None:
            rows.append(
                {**row, "result": FAILED, "status": "", "detail": "", "error": "The policy was deleted."}
            )
            continue
        status = policy.status(now)
        row.update(status=status.state, detail=status.detail)
        # What this operation set out to reach, and whether a later arm or disarm took over; the fallbacks
        # (fatal, still retrying) are the same for both directions.
        reached = None
        if disarming:
            done = any(b.kind == BeatKind.DISARM and b.outcome == "confirmed" for b in tried)
            if done or (policy.disarm_acked_generation or -1) >= generation:
                reached = DISARMED
            superseded = policy.generation > generation and policy.armed
        else:
            if (policy.last_arm_generation or -1) >= generation and policy.armed:
                reached = ARMED if status.state != Status.EXPIRED else FAILED
            superseded = policy.generation > generation
        if reached:
            row["result"] = reached
        elif superseded:
            row["result"] = SUPERSEDED
        elif policy.fatal_generation == generation:
            row.update(result=FAILED, error=policy.last_error or (last.message if last else ""))
        else:
            row.update(result=RETRYING, error=last.message if last and last.outcome != "confirmed" else "")
        rows.append(row)
    return rows


def wait_for_results(operation: Operation, timeout: float = 2.0, every: float = 0.05) -> list[dict]:
    """policy_results once nothing is retrying any more, or whatever they are after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        rows = policy_results(operation)
        if all(r["result"] != RETRYING for r in rows) or time.monotonic() >= deadline:
            return rows
        time.sleep(every)
