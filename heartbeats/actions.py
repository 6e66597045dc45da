"""The only way people change what the engine does: arm, disarm, disarm all.

Each one bumps the policies' generation in one UPDATE and writes its Operation in the same transaction,
commits, and only then is anything sent: the live engine notices the change within its poll interval and
acts at once; if no engine can send for a policy's egress, this process sends the disarms itself,
concurrently and under the same rules (heartbeats.engine.direct).
"""

import logging
import time

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from heartbeats import audit
from heartbeats.engine import direct
from heartbeats.models import Action, Beat, BeatKind, CountdownPolicy, Operation, Status

log = logging.getLogger(__name__)

DISARMED, ARMED, RETRYING, FAILED, SUPERSEDED = "disarmed", "armed", "retrying", "failed", "superseded"


def _target(policy: CountdownPolicy) -> dict:
    return {
        "policy": policy.pk,
        "account": policy.account.label,
        "symbol": policy.symbol,
        "generation": policy.generation,
    }


def _set_desired(policy_id, *, armed: bool, action: str, user, ip) -> Operation:
    with transaction.atomic():
        policy = CountdownPolicy.objects.select_for_update().with_account().get(pk=policy_id)
        now = timezone.now()  # once the lock is held: a wait for it must not backdate the change
        if armed and not policy.account.enabled:
            raise ValueError(f"{policy.account.label} is disabled: enable the account before arming.")
        was_armed = policy.armed
        CountdownPolicy.objects.filter(pk=policy.pk).update(
            armed=armed,
            generation=F("generation") + 1,
            desired_changed_at=now,
            updated_at=now,
            next_due_at=now if armed else None,
        )
        policy.refresh_from_db()
        operation = audit.record(
            action,
            user=user,
            ip=ip,
            policy=policy,
            changes={"armed": [was_armed, armed]},
            targets=[_target(policy)],
        )
    return operation


def arm(policy_id, *, user, ip) -> Operation:
    """Desire the policy armed (a new generation): the engine sends the arm at once, then keeps beating."""
    return _set_desired(policy_id, armed=True, action=Action.ARM, user=user, ip=ip)


def disarm(policy_id, *, user, ip) -> Operation:
    """Desire the policy disarmed (a new generation): the engine sends `0` as soon as nothing for that
    symbol is in flight, then the second `0` once no earlier beat can still be accepted."""
    operation = _set_desired(policy_id, armed=False, action=Action.DISARM, user=user, ip=ip)
    _send_where_no_engine(operation.targets)
    return operation


def disarm_all(*, user, ip, reason: str, account_ids=None) -> Operation:
    """Disarm every armed policy (of `account_ids`, if given) in one transaction, with the reason audited.
    Policies already disarming are included in the results without a new generation."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A reason is required to disarm all.")
    with transaction.atomic():
        scope = CountdownPolicy.objects.all()
        if account_ids is not None:
            scope = scope.filter(account_id__in=list(account_ids))
        chosen = list(
            scope.select_for_update().filter(CountdownPolicy.disarm_all_scope()).values_list("pk", flat=True)
        )
        now = timezone.now()  # once the locks are held: a wait for them must not backdate the change
        CountdownPolicy.objects.filter(pk__in=chosen, armed=True).update(
            armed=False,
            generation=F("generation") + 1,
            desired_changed_at=now,
            updated_at=now,
            next_due_at=None,
        )
        policies = CountdownPolicy.objects.filter(pk__in=chosen).with_account()
        targets = [_target(p) for p in policies.order_by("account__label", "symbol")]
        operation = audit.record(
            Action.DISARM_ALL,
            user=user,
            ip=ip,
            reason=reason,
            changes={"policies": len(targets), "accounts": sorted(account_ids) if account_ids else "all"},
            targets=targets,
        )
    log.warning("disarm all by %s: %d policies (%s)", operation.username or "-", len(targets), reason[:100])
    _send_where_no_engine(targets)
    return operation


def _send_where_no_engine(targets: list[dict]) -> None:
    """The first zeros at once where no engine can send them (none alive, or one that cannot read desired
    state); the sweeper of whichever web process is alive sends the rest, the second zeros included."""
    direct.ensure_sweeper()
    if targets:
        direct.send_owed([t["policy"] for t in targets])


def policy_results(operation: Operation) -> list[dict]:
    """Per-policy results of an arm, disarm or disarm all, from the beats of the target generations and
    each policy's status(): disarmed / armed, retrying (with the last error), failed (with the error), or
    superseded by a later action."""
    now = timezone.now()
    targets = operation.targets or []
    policies = CountdownPolicy.objects.in_bulk([t["policy"] for t in targets])
    wanted = Q(pk__in=[])
    for t in targets:
        wanted |= Q(policy_id=t["policy"], generation=t["generation"])
    beats = {}
    for beat in Beat.objects.filter(wanted).order_by("sent_at"):
        beats.setdefault((beat.policy_id, beat.generation), []).append(beat)
    disarming = operation.action in (Action.DISARM, Action.DISARM_ALL)
    rows = []
    for t in targets:
        policy = policies.get(t["policy"])
        generation = t["generation"]
        tried = beats.get((t["policy"], generation), [])
        last = tried[-1] if tried else None
        row = {
            "policy": t["policy"],
            "account": t.get("account", ""),
            "symbol": t.get("symbol", ""),
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
