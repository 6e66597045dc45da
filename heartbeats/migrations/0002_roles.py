"""The three roles as groups: viewer, operator, key admin (see heartbeats/roles.py).

A frozen copy of roles.ROLE_PERMISSIONS as it stood when written; a test checks that the live table still
matches, and roles.ensure_groups() applies later changes.
"""

from django.db import migrations

OPERATE = ("operate_policies", "Can arm and disarm countdown policies")
VIEW = [
    ("heartbeats", "view_exchangeaccount"),
    ("heartbeats", "view_countdownpolicy"),
    ("heartbeats", "view_beat"),
    ("heartbeats", "view_operation"),
    ("heartbeats", "view_enginelease"),
    ("heartbeats", "view_engineliveness"),
]
ROLES = {
    "viewer": VIEW,
    "operator": [*VIEW, ("heartbeats", "operate_policies")],
    "key admin": [
        *VIEW,
        ("heartbeats", "add_exchangeaccount"),
        ("heartbeats", "change_exchangeaccount"),
        ("heartbeats", "delete_exchangeaccount"),
        ("heartbeats", "add_countdownpolicy"),
        ("heartbeats", "change_countdownpolicy"),
        ("heartbeats", "delete_countdownpolicy"),
    ],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Model permissions normally appear after all migrations (post_migrate); the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    policy_type = ContentType.objects.get(app_label="heartbeats", model="countdownpolicy")
    Permission.objects.get_or_create(
        content_type=policy_type, codename=OPERATE[0], defaults={"name": OPERATE[1]}
    )
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            [
                Permission.objects.get(content_type__app_label=app, codename=codename)
                for app, codename in perms
            ]
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="heartbeats", codename=OPERATE[0]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("heartbeats", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
