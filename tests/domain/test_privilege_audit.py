"""Every privilege change is an Operation a viewer can read, whatever path makes it: the admin's user and
group forms, its bulk delete, `user.groups`, `group.user_set`, `group.permissions`, a shell."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from heartbeats.domain import roles
from heartbeats.models import Action, Operation

PASSWORD = "a long test password 1"


def rows(action):
    return list(Operation.objects.filter(action=action).order_by("id"))


@pytest.fixture
def admin_client(client, django_user_model, db):
    superuser = django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD)
    client.force_login(superuser)
    return client


@pytest.fixture
def victor(django_user_model, db):
    return django_user_model.objects.create_user("victor", password=PASSWORD)


def operate():
    roles.ensure_groups()
    return Permission.objects.get(codename="operate_policies")


class TestInTheAdmin:
    def test_adding_a_permission_to_a_group_is_audited_with_who_and_where(self, admin_client):
        viewers = roles.ensure_groups()[roles.VIEWER]
        granted = list(viewers.permissions.values_list("pk", flat=True))
        response = admin_client.post(
            reverse("admin:auth_group_change", args=[viewers.pk]),
            {"name": viewers.name, "permissions": [*granted, operate().pk]},
            REMOTE_ADDR="192.0.2.44",
        )
        assert response.status_code == 302
        (op,) = rows(Action.GROUP_PERMISSIONS)[-1:]
        assert op.username == "sue" and op.user.username == "sue" and op.ip == "192.0.2.44"
        assert op.changes == {"group": "viewer", "permissions added": ["heartbeats.operate_policies"]}
        assert "viewer" in op.reason and "heartbeats.operate_policies" in op.reason

    def test_a_user_form_audits_groups_and_flags(self, admin_client, victor):
        groups = roles.ensure_groups()
        before = Operation.objects.count()
        response = admin_client.post(
            reverse("admin:auth_user_change", args=[victor.pk]),
            {
                "username": "victor",
                "is_active": "on",
                "is_staff": "on",
                "is_superuser": "on",
                "groups": [groups[roles.OPERATOR].pk],
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        new = Operation.objects.filter(id__gt=0).order_by("id")[before:]
        by_action = {op.action: op for op in new}
        assert by_action[Action.USER_FLAGS].changes == {
            "user": "victor",
            "is_staff": [False, True],
            "is_superuser": [False, True],
        }
        assert by_action[Action.GROUP_MEMBERS].changes == {"user": "victor", "groups added": ["operator"]}
        assert all(op.username == "sue" for op in new)

    def test_deleting_users_one_by_one_or_in_bulk_is_audited(self, admin_client, django_user_model):
        roles.grant(django_user_model.objects.create_user("ann", password=PASSWORD), roles.OPERATOR)
        bob = django_user_model.objects.create_user("bob", password=PASSWORD)
        carl = django_user_model.objects.create_user("carl", password=PASSWORD)
        ann = django_user_model.objects.get(username="ann")
        response = admin_client.post(reverse("admin:auth_user_delete", args=[ann.pk]), {"post": "yes"})
        assert response.status_code == 302
        response = admin_client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "delete_selected", "_selected_action": [bob.pk, carl.pk], "post": "yes"},
        )
        assert response.status_code == 302
        deleted = {op.changes["user"]: op for op in rows(Action.USER_DELETE)}
        assert set(deleted) == {"ann", "bob", "carl"}
        assert deleted["ann"].changes["groups"] == [["operator"], None]
        assert deleted["ann"].username == "sue"

    def test_a_viewer_reads_them_in_the_admin(self, client, victor):
        roles.grant(victor, roles.VIEWER)
        client.force_login(victor)
        page = client.get(
            reverse("admin:heartbeats_operation_changelist"), {"action__exact": "group_members"}
        )
        assert page.status_code == 200
        assert "Group membership changed" in page.content.decode()


class TestEveryOtherPath:
    def test_membership_from_either_side(self, victor):
        group = Group.objects.create(name="night desk")
        victor.groups.add(group)
        group.user_set.remove(victor)
        group.user_set.add(victor)
        victor.groups.clear()
        changes = [op.changes for op in rows(Action.GROUP_MEMBERS)]
        assert changes == [
            {"user": "victor", "groups added": ["night desk"]},
            {"user": "victor", "groups removed": ["night desk"]},
            {"user": "victor", "groups added": ["night desk"]},
            {"user": "victor", "groups removed": ["night desk"]},
        ]
        assert all(op.username == "(system)" and op.user is None for op in rows(Action.GROUP_MEMBERS))

    def test_adding_what_is_there_already_is_not_a_change(self, victor):
        group = Group.objects.create(name="night desk")
        victor.groups.add(group)
        victor.groups.add(group)
        assert len(rows(Action.GROUP_MEMBERS)) == 1

    def test_group_and_user_permissions(self, victor):
        group = Group.objects.create(name="night desk")
        permission = operate()
        group.permissions.add(permission)
        permission.group_set.remove(group)
        victor.user_permissions.add(permission)
        assert [op.changes for op in rows(Action.GROUP_PERMISSIONS)][-2:] == [
            {"group": "night desk", "permissions added": ["heartbeats.operate_policies"]},
            {"group": "night desk", "permissions removed": ["heartbeats.operate_policies"]},
        ]
        assert rows(Action.USER_PERMISSIONS)[-1].changes == {
            "user": "victor",
            "permissions added": ["heartbeats.operate_policies"],
        }

    def test_users_created_flagged_and_deleted(self, django_user_model):
        user = django_user_model.objects.create_user("zoe", password=PASSWORD)
        assert rows(Action.USER_CREATE)[-1].changes == {
            "user": "zoe",
            "is_active": [None, True],
            "is_staff": [None, False],
            "is_superuser": [None, False],
        }
        user.is_active = False
        user.save()
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
        user.save(update_fields=["last_login"])  # a sign-in: not a privilege change
        assert [op.changes for op in rows(Action.USER_FLAGS)] == [
            {"user": "zoe", "is_active": [True, False]},
            {"user": "zoe", "is_superuser": [False, True]},
        ]
        django_user_model.objects.filter(pk=user.pk).delete()
        assert rows(Action.USER_DELETE)[-1].changes["user"] == "zoe"

    def test_groups_created_renamed_and_deleted_with_what_they_granted(self, victor):
        group = Group.objects.create(name="night desk")
        group.permissions.add(operate())
        victor.groups.add(group)
        group.name = "late desk"
        group.save()
        group.delete()
        assert rows(Action.GROUP_CREATE)[-1].changes == {"name": [None, "night desk"]}
        assert rows(Action.GROUP_CHANGE)[-1].changes == {"name": ["night desk", "late desk"]}
        assert rows(Action.GROUP_DELETE)[-1].changes == {
            "group": "late desk",
            "members": [["victor"], None],
            "permissions": [["heartbeats.operate_policies"], None],
        }
