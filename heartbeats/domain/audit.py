"""The audit trail: append-only Operation rows, written by every path that changes something a person cares
about (pages, admin, API, maintenance windows, strategies, the engine coming and going).

`record()` is the one way an Operation is written, with its targets: one OperationTarget row per policy it
acted on (built by `target()`, or `targets()` for many), so a policy's page lists every operation that
touched it. Sign-in, failed sign-in and sign-out arrive here through Django's auth signals. `changes` never
holds a secret: API keys appear as "…1234", secrets as "(replaced)".
"""

import ipaddress
import logging
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models import Max, QuerySet
from django.dispatch import receiver

from heartbeats.models import (
    GENERATION_EFFECTS,
    Action,
    CountdownPolicy,
    Effect,
    ExchangeAccount,
    Operation,
    OperationTarget,
)
from heartbeats.models.bulk import insert_many

log = logging.getLogger(__name__)


def record(
    action: str,
    *,
    user,
    ip: str | None,
    account: ExchangeAccount | None = None,
    policy: CountdownPolicy | None = None,
    reason: str = "",
    changes: dict | None = None,
    targets: Iterable[OperationTarget] = (),
    username: str | None = None,
) -> Operation:
    """Append one Operation and its targets (from `target()`), in one transaction. `user` may be None or
    anonymous (then `username` names who acted: "api:<token>", "maintenance window", "strategy watch"…)."""
    if action not in Action.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    known = user if getattr(user, "is_authenticated", False) else None
    if username is None:
        username = known.get_username() if known else ""
    if policy is not None and account is None:
        account = policy.account
    rows = list(targets)
    for row in rows:
        if not isinstance(row, OperationTarget) or row.pk is not None or not row._state.adding:
            raise TypeError("An operation's targets are new rows, made by audit.target().")
    with transaction.atomic():
        operation = Operation.objects.create(
            action=action,
            user=known,
            username=username[:150],
            ip=_valid_ip(ip),
            account=account,
            policy=policy,
            reason=reason,
            changes=changes or {},
        )
        for row in rows:
            row.operation = operation
        _insert_targets(rows)
    return operation


def _insert_targets(rows: list[OperationTarget]) -> None:
    """Every target in one statement: a Disarm all of hundreds of policies waits for this before it commits
    (the rows are written inside its transaction)."""
    insert_many(rows)  # written: never a target of another operation


def target(policy: CountdownPolicy, effect: str) -> OperationTarget:
    """One policy an operation acts on, as it is now (call it after the change: its `generation` is the one
    the operation gave it or found on it), and what the operation did to it (an Effect). An arm or a disarm
    counts as having changed it: Re-arm acts only on what an operation itself disarmed."""
    return _target(policy.pk, policy.account.label, policy.symbol, policy.generation, effect)


def targets(policies: QuerySet, effect_of: Callable[[int], str]) -> list[OperationTarget]:
    """target() for each of `policies`, in the queryset's order, read as the four columns a target keeps
    rather than as whole policies with their accounts (a Disarm all of hundreds of policies commits that
    much sooner); `effect_of(policy_id)` says what the operation did to each."""
    rows = policies.values_list("pk", "account__label", "symbol", "generation")
    return [_target(pk, label, symbol, generation, effect_of(pk)) for pk, label, symbol, generation in rows]


_EFFECTS = frozenset(Effect.values)  # Effect.values builds its list afresh at every call


def _target(policy_id: int, account_label: str, symbol: str, generation: int, effect: str) -> OperationTarget:
    if effect not in _EFFECTS:
        raise ValueError(f"Unknown target effect {effect!r}.")
    return OperationTarget(
        policy_id=policy_id,
        account_label=account_label,
        symbol=symbol,
        generation=generation,
        changed=effect in GENERATION_EFFECTS,
        effect=effect,
    )


@dataclass(frozen=True)
class Since:
    """What happened to an operation's policies after it: the later operations that touched any of them
    (oldest first), and per policy the latest of them."""

    operations: list[Operation]
    latest: dict[int, Operation]
    more: int  # later operations beyond those listed


def since(operation: Operation, limit: int = 20) -> Since:
    """The operations after `operation` on the same policies: two indexed queries (target_by_policy) however
    long the history; at most `limit` listed, the latest per policy always known."""
    ids = [pk for pk in operation.targets.values_list("policy_id", flat=True) if pk is not None]
    if not ids:
        return Since([], {}, 0)
    later = OperationTarget.objects.filter(policy_id__in=ids, operation_id__gt=operation.pk).order_by()
    latest_ids = dict(
        later.values("policy_id").annotate(last=Max("operation_id")).values_list("policy_id", "last")
    )
    if not latest_ids:
        return Since([], {}, 0)
    distinct = later.values_list("operation_id", flat=True).distinct().order_by("operation_id")
    shown = list(distinct[:limit])
    more = distinct.count() - len(shown) if len(shown) == limit else 0
    rows = Operation.objects.in_bulk(set(shown) | set(latest_ids.values()))
    return Since(
        [rows[pk] for pk in shown], {policy_id: rows[pk] for policy_id, pk in latest_ids.items()}, more
    )


# Who is acting in this request, for records written where no request is at hand (signal receivers).
_actor: ContextVar[tuple | None] = ContextVar("countdown_guard_audit_actor", default=None)


@contextmanager
def acting(user, ip: str | None):
    """Within this block, changes recorded without a request name `user` (from `ip`) as who made them."""
    token = _actor.set((user, ip))
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> tuple:
    """(user, ip) of the `acting` block around this code, or (None, None) outside any."""
    return _actor.get() or (None, None)


def client_ip(request) -> str | None:
    """The address the request came from: REMOTE_ADDR, or -- only when settings.TRUSTED_PROXY_COUNT says that
    many proxies of ours stand in front -- the X-Forwarded-For entry that the outermost of them appended.
    Entries left of that are written by the client and cannot be trusted."""
    hops = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if hops > 0:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= hops:
            return _valid_ip(forwarded[-hops])
    return _valid_ip(request.META.get("REMOTE_ADDR"))


def _valid_ip(value) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def masked_key(api_key: str | None) -> str:
    return f"…{api_key[-4:]}" if api_key else ""


def field_changes(old, new, fields) -> dict:
    """{"field": [old, new]} for the plain fields that differ between two instances (old may be None)."""
    changes = {}
    for name in fields:
        before = _display(old, name) if old is not None else None
        after = _display(new, name)
        if before != after:
            changes[name] = [before, after]
    return changes


def account_changes(old: ExchangeAccount | None, new: ExchangeAccount) -> dict:
    """What changed on an account, with keys masked to their last four characters and secrets named only."""
    plain = ["label", "venue", "environment", "custom_base_url", "key_type", "egress", "enabled"]
    changes = field_changes(old, new, plain)
    old_key = old.api_key if old is not None else ""
    if old_key != new.api_key:
        changes["api_key"] = [masked_key(old_key) or None, masked_key(new.api_key)]
    if old is None or old.secret != new.secret:
        changes["secret"] = [
            None if old is None else "(stored)",
            "(replaced)" if old is not None else "(set)",
        ]
    if old is not None and old.key_passphrase != new.key_passphrase:
        changes["key_passphrase"] = ["(stored)" if old.key_passphrase else None, "(replaced)"]
    return changes


def policy_changes(old: CountdownPolicy | None, new: CountdownPolicy) -> dict:
    return field_changes(old, new, ["account", "symbol", "countdown_ms", "interval_s"])


def _display(obj, name):
    value = getattr(obj, name)
    if hasattr(value, "_meta"):
        return str(value)
    return value


@receiver(user_logged_in, dispatch_uid="countdown_guard_sign_in")
def _signed_in(sender, request, user, **kwargs):
    record(Action.SIGN_IN, user=user, ip=client_ip(request) if request else None)


@receiver(user_logged_out, dispatch_uid="countdown_guard_sign_out")
def _signed_out(sender, request, user, **kwargs):
    if user is None:
        return
    record(Action.SIGN_OUT, user=user, ip=client_ip(request) if request else None)


@receiver(user_login_failed, dispatch_uid="countdown_guard_sign_in_failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # Django has already replaced the password in `credentials`; only the username attempted is kept.
    attempted = str(credentials.get("username") or "")
    record(Action.SIGN_IN_FAILED, user=None, username=attempted, ip=client_ip(request) if request else None)
    log.info("Failed sign-in for %r", attempted)
