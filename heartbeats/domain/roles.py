"""Who may do what: three groups built from Django permissions, and the helpers views and admin call.

- viewer: reads everything (view permissions), changes nothing.
- operator: a viewer who may arm, disarm and disarm all (`heartbeats.operate_policies`).
- key admin: a viewer who manages exchange accounts, their keys and the policies on them.

Permissions (not group names) are checked, so the admin and the pages agree, a superuser passes every check,
and a user may hold several roles. The groups are created by migration 0002_roles; `ensure_groups()` rebuilds
them (e.g. after a test flush or when this table changes).
"""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from heartbeats.models import CountdownPolicy

VIEWER = "viewer"
OPERATOR = "operator"
KEY_ADMIN = "key admin"
ROLES = (VIEWER, OPERATOR, KEY_ADMIN)

OPERATE = ("operate_policies", "Can arm and disarm countdown policies")

_VIEW = [
    "heartbeats.view_exchangeaccount",
    "heartbeats.view_countdownpolicy",
    "heartbeats.view_beat",
    "heartbeats.view_operation",
    "heartbeats.view_duty",
    "heartbeats.view_engineliveness",
    "heartbeats.view_alertchannel",
    "heartbeats.view_alertcondition",
    "heartbeats.view_notification",
    "heartbeats.view_apitoken",
    "heartbeats.view_strategy",
    "heartbeats.view_strategyping",
    "heartbeats.view_ordercancel",
    "heartbeats.view_ordersatstake",
]
ROLE_PERMISSIONS = {
    VIEWER: _VIEW,
    OPERATOR: [*_VIEW, "heartbeats.operate_policies"],
    KEY_ADMIN: [
        *_VIEW,
        "heartbeats.add_exchangeaccount",
        "heartbeats.change_exchangeaccount",
        "heartbeats.delete_exchangeaccount",
        "heartbeats.add_countdownpolicy",
        "heartbeats.change_countdownpolicy",
        "heartbeats.delete_countdownpolicy",
        # Alert channels hold service tokens, like API keys.
        "heartbeats.add_alertchannel",
        "heartbeats.change_alertchannel",
        "heartbeats.delete_alertchannel",
        # API tokens act on the desk like people: issuing one is like giving someone a role.
        "heartbeats.add_apitoken",
        "heartbeats.change_apitoken",
        "heartbeats.delete_apitoken",
    ],
}


def _allowed(user, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(perm))


def can_view(user) -> bool:
    return _allowed(user, "heartbeats.view_countdownpolicy")


def can_operate(user) -> bool:
    """Arm, disarm and disarm all."""
    return _allowed(user, "heartbeats.operate_policies")


def can_manage_keys(user) -> bool:
    """Add exchange accounts and rotate their keys."""
    return _allowed(user, "heartbeats.change_exchangeaccount")


def can_manage_alerts(user) -> bool:
    """Add, change, test and delete alert channels."""
    return _allowed(user, "heartbeats.change_alertchannel")


def can_manage_api_tokens(user) -> bool:
    """Create and revoke API tokens (heartbeats.api)."""
    return _allowed(user, "heartbeats.change_apitoken")


def can_manage_policies(user) -> bool:
    """Create, edit and delete policies (their symbol, countdown and interval)."""
    return _allowed(user, "heartbeats.change_countdownpolicy")


def operate_permission() -> Permission:

    content_type = ContentType.objects.get_for_model(CountdownPolicy)
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=OPERATE[0], defaults={"name": OPERATE[1]}
    )
    return permission


def ensure_groups() -> dict[str, Group]:
    """Create or repair the three groups so they hold exactly ROLE_PERMISSIONS. Idempotent."""
    operate_permission()
    wanted = {p for perms in ROLE_PERMISSIONS.values() for p in perms}
    found = _permissions(wanted)
    if len(found) < len(wanted):
        # Model permissions are made after migrations (post_migrate) and vanish with a test flush.

        for app_config in apps.get_app_configs():
            create_permissions(app_config, verbosity=0)
        found = _permissions(wanted)
    missing = wanted - set(found)
    if missing:
        raise LookupError(f"Permissions missing for the roles: {sorted(missing)}")
    groups = {}
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([found[p] for p in perms])
        groups[role] = group
    return groups


def _permissions(dotted_names) -> dict[str, Permission]:
    rows = Permission.objects.select_related("content_type").filter(
        codename__in={name.split(".", 1)[1] for name in dotted_names}
    )
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in rows}
    return {name: by_name[name] for name in dotted_names if name in by_name}


def grant(user, *roles: str):
    """Put a user in the given roles; staff status lets them open the admin, which follows the same rights."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"Unknown role(s) {sorted(unknown)}; roles are {list(ROLES)}.")
    groups = ensure_groups()
    user.groups.add(*(groups[r] for r in roles))
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    # has_perm caches per instance; a stale cache would hide the new rights until the next request.
    for cache in ("_perm_cache", "_group_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cache, None)
    return user


def role_names(user) -> list[str]:
    names = []
    if can_operate(user):
        names.append("operator")
    if can_manage_keys(user):
        names.append("key admin")
    if not names and can_view(user):
        names.append("viewer")
    return names
