"""The three roles and the helpers views call."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from heartbeats.domain import roles

pytestmark = pytest.mark.django_db


def group_permissions():
    return {
        group.name: sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
        for group in Group.objects.filter(name__in=roles.ROLES).prefetch_related("permissions__content_type")
    }


def test_it_creates_the_groups_in_the_migration_as_roles_defines_them():
    Group.objects.filter(name__in=roles.ROLES).delete()
    migration = MigrationLoader(connection).get_migration("heartbeats", "0002_roles")
    state_apps = MigrationLoader(connection).project_state(("heartbeats", "0002_roles")).apps
    module = __import__(migration.__module__, fromlist=["create_roles"])
    module.create_roles(state_apps, None)
    # Later migrations add what later models brought.
    alerts = MigrationLoader(connection).get_migration("heartbeats", "0008_alerts")
    __import__(alerts.__module__, fromlist=["add_to_roles"]).add_to_roles(state_apps, None)
    api_tokens = MigrationLoader(connection).get_migration("heartbeats", "0009_api_tokens")
    __import__(api_tokens.__module__, fromlist=["add_to_roles"]).add_to_roles(state_apps, None)
    strategies = MigrationLoader(connection).get_migration(
        "heartbeats", "0010_strategies_kill_switch_and_orders_at_stake"
    )
    __import__(strategies.__module__, fromlist=["add_to_roles"]).add_to_roles(state_apps, None)
    duties = MigrationLoader(connection).get_migration("heartbeats", "0011_duties_hold_every_lease")
    __import__(duties.__module__, fromlist=["add_to_roles"]).add_to_roles(state_apps, None)
    assert group_permissions() == {role: sorted(perms) for role, perms in roles.ROLE_PERMISSIONS.items()}


def test_it_repairs_the_groups_idempotently():
    roles.ensure_groups()
    Group.objects.get(name=roles.VIEWER).permissions.clear()
    roles.ensure_groups()
    roles.ensure_groups()
    assert group_permissions() == {role: sorted(perms) for role, perms in roles.ROLE_PERMISSIONS.items()}


@pytest.mark.parametrize(
    ("who", "view", "operate", "keys", "policies"),
    [
        ("viewer", True, False, False, False),
        ("operator", True, True, False, False),
        ("key_admin", True, False, True, True),
        ("outsider", False, False, False, False),
        ("superuser", True, True, True, True),
    ],
)
def test_it_grants_each_role_its_rights_only(cast, who, view, operate, keys, policies):
    user = getattr(cast, who)
    assert roles.can_view(user) is view
    assert roles.can_operate(user) is operate
    assert roles.can_manage_keys(user) is keys
    assert roles.can_manage_policies(user) is policies


def test_it_grants_nothing_to_anonymous_or_deactivated_users(cast):
    for user in (AnonymousUser(), None):
        assert not roles.can_view(user)
        assert not roles.can_operate(user)
    cast.operator.is_active = False
    cast.operator.save()
    assert not roles.can_operate(cast.operator)
    assert not roles.can_view(cast.operator)


def test_it_lets_one_person_hold_several_roles(cast):
    roles.grant(cast.key_admin, roles.OPERATOR)
    assert roles.can_operate(cast.key_admin)
    assert roles.can_manage_keys(cast.key_admin)


def test_it_refuses_unknown_roles(cast):
    with pytest.raises(ValueError, match="Unknown role"):
        roles.grant(cast.outsider, "admin")
