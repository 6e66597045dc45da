"""Privilege changes in the audit trail: users created, deleted, activated or deactivated, made staff or
superuser; group membership; the permissions of groups and of single users; groups created, renamed and
deleted. Each is an Operation a viewer can read (heartbeats.domain.audit.record), however it was made.

Django's signals are the one place every path passes: the admin's forms and bulk actions, `user.groups`
and `group.user_set` (add, remove, set, clear), `group.permissions`, deletes (one by one or a queryset), a
shell or a management command. The actor is the person of the admin request around the change
(heartbeats.domain.audit.acting, set by heartbeats.admin_site); without one the row says "(system)".

Not seen: QuerySet.update() of the flag columns and raw SQL, which no code here uses for users.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_save, pre_delete, pre_save
from django.dispatch import receiver

from heartbeats.domain import audit
from heartbeats.models import Action

User = get_user_model()
FLAGS = ("is_active", "is_staff", "is_superuser")
ACTIONS = frozenset(
    {
        Action.USER_CREATE,
        Action.USER_DELETE,
        Action.USER_FLAGS,
        Action.USER_PERMISSIONS,
        Action.GROUP_MEMBERS,
        Action.GROUP_PERMISSIONS,
        Action.GROUP_CREATE,
        Action.GROUP_CHANGE,
        Action.GROUP_DELETE,
    }
)
NO_ACTOR = "(system)"


def _record(action: str, *, reason: str, changes: dict) -> None:
    user, ip = audit.current_actor()
    known = user if getattr(user, "is_authenticated", False) else None
    audit.record(
        action,
        user=known,
        ip=ip,
        username=None if known else NO_ACTOR,
        reason=reason,
        changes=changes,
    )


def _names(model, pks) -> list[str]:
    if model is Permission:
        rows = Permission.objects.filter(pk__in=pks).select_related("content_type")
        return sorted(f"{p.content_type.app_label}.{p.codename}" for p in rows)
    if model is Group:
        return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
    return sorted(str(u.get_username()) for u in model.objects.filter(pk__in=pks))


# -- Users: created, flags, deleted ------------------------------------------------------------------------


@receiver(pre_save, sender=User, dispatch_uid="countdown_guard_user_flags_before")
def _flags_before(sender, instance, raw=False, update_fields=None, **kwargs):
    instance._cg_flags_before = None
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(FLAGS):
        return  # a sign-in stamping last_login, a password rehash: no privilege in play, no extra query
    instance._cg_flags_before = sender.objects.filter(pk=instance.pk).values(*FLAGS).first()


@receiver(post_save, sender=User, dispatch_uid="countdown_guard_user_saved")
def _user_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    name = instance.get_username()
    if created:
        _record(
            Action.USER_CREATE,
            reason=f"user {name} created",
            changes={"user": name, **{flag: [None, getattr(instance, flag)] for flag in FLAGS}},
        )
        return
    before = instance.__dict__.pop("_cg_flags_before", None)
    if not before:
        return
    changed = {f: [before[f], getattr(instance, f)] for f in FLAGS if before[f] != getattr(instance, f)}
    if changed:
        what = ", ".join(f"{flag} {new}" for flag, (_old, new) in changed.items())
        _record(Action.USER_FLAGS, reason=f"user {name}: {what}", changes={"user": name, **changed})


@receiver(pre_delete, sender=User, dispatch_uid="countdown_guard_user_deleted")
def _user_deleted(sender, instance, **kwargs):
    name = instance.get_username()
    _record(
        Action.USER_DELETE,
        reason=f"user {name} deleted",
        changes={
            "user": name,
            "groups": [sorted(instance.groups.values_list("name", flat=True)), None],
            **{flag: [getattr(instance, flag), None] for flag in FLAGS},
        },
    )


# -- Membership and permissions (many-to-many) --------------------------------------------------------------


def _m2m(*, instance, action, reverse, model, pk_set, what: str, audit_action: str, owner_key: str):
    """One record per owner (the user or group whose rights change) for an add, a remove or a clear, from
    either side of the relation."""
    if action in ("post_add", "post_remove"):
        if not pk_set:
            return  # add() of what was there already, remove() of what was not
        verb = "added" if action == "post_add" else "removed"
        if reverse:
            owners = list(model.objects.filter(pk__in=pk_set))
            items = {owner: [_label(instance)] for owner in owners}
        else:
            items = {instance: _names(model, pk_set)}
    elif action == "pre_clear":
        verb = "removed"
        if reverse:
            accessor = _accessor(instance, model)
            items = {owner: [_label(instance)] for owner in accessor.all()}
        else:
            current = list(getattr(instance, _forward_name(audit_action)).values_list("pk", flat=True))
            if not current:
                return
            items = {instance: _names(model, current)}
    else:
        return
    for owner, names in items.items():
        label = _label(owner)
        _record(
            audit_action,
            reason=f"{owner_key} {label}: {what} {verb}: {', '.join(names)}",
            changes={owner_key: label, f"{what} {verb}": names},
        )


def _label(obj) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, Group):
        return obj.name
    return str(obj.get_username())


def _forward_name(audit_action: str) -> str:
    return {
        Action.GROUP_MEMBERS: "groups",
        Action.USER_PERMISSIONS: "user_permissions",
        Action.GROUP_PERMISSIONS: "permissions",
    }[audit_action]


def _accessor(instance, owner_model):
    """The reverse side's manager: a group's users, a permission's groups or users."""
    if isinstance(instance, Group):
        return instance.user_set
    return instance.group_set if owner_model is Group else instance.user_set


def _watch_m2m(through, *, what: str, audit_action: str, owner_key: str, uid: str) -> None:
    def changed(sender, instance, action, reverse, model, pk_set, **kwargs):
        _m2m(
            instance=instance,
            action=action,
            reverse=reverse,
            model=model,
            pk_set=pk_set,
            what=what,
            audit_action=audit_action,
            owner_key=owner_key,
        )

    m2m_changed.connect(changed, sender=through, weak=False, dispatch_uid=uid)


_watch_m2m(
    User.groups.through,
    what="groups",
    audit_action=Action.GROUP_MEMBERS,
    owner_key="user",
    uid="countdown_guard_group_members",
)
_watch_m2m(
    User.user_permissions.through,
    what="permissions",
    audit_action=Action.USER_PERMISSIONS,
    owner_key="user",
    uid="countdown_guard_user_perms",
)
_watch_m2m(
    Group.permissions.through,
    what="permissions",
    audit_action=Action.GROUP_PERMISSIONS,
    owner_key="group",
    uid="countdown_guard_group_perms",
)


# -- Groups: created, renamed, deleted ----------------------------------------------------------------------


@receiver(pre_save, sender=Group, dispatch_uid="countdown_guard_group_name_before")
def _group_name_before(sender, instance, raw=False, **kwargs):
    instance._cg_name_before = None
    if not raw and instance.pk is not None:
        instance._cg_name_before = (
            sender.objects.filter(pk=instance.pk).values_list("name", flat=True).first()
        )


@receiver(post_save, sender=Group, dispatch_uid="countdown_guard_group_saved")
def _group_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if created:
        _record(
            Action.GROUP_CREATE,
            reason=f"group {instance.name} created",
            changes={"name": [None, instance.name]},
        )
        return
    before = instance.__dict__.pop("_cg_name_before", None)
    if before is not None and before != instance.name:
        _record(
            Action.GROUP_CHANGE,
            reason=f"group {before} renamed {instance.name}",
            changes={"name": [before, instance.name]},
        )


@receiver(pre_delete, sender=Group, dispatch_uid="countdown_guard_group_deleted")
def _group_deleted(sender, instance, **kwargs):
    # Deleting a group drops its memberships and permissions with it, without m2m signals: listed here.
    _record(
        Action.GROUP_DELETE,
        reason=f"group {instance.name} deleted",
        changes={
            "group": instance.name,
            "members": [sorted(str(u.get_username()) for u in instance.user_set.all()), None],
            "permissions": [_names(Permission, instance.permissions.values_list("pk", flat=True)), None],
        },
    )
