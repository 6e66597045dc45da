"""Every lease is a Duty row (heartbeats.domain.leases): the engine's (`engine:<egress>`, which took over
from the EngineLease table), the duties' and a web process's claim on an address (`send:...`, which took
over from AddressLimits.fallback_*). A duty's row also keeps its last run and its failures.

On PostgreSQL the trigger that wakes a standby engine when a lease changes hands moves to the duty table.
The worker no longer runs shift tasks or schedules (heartbeats.duties): the project's two schedules go, and
the duty rows named after the old threads."""

from django.db import migrations, models

OLD_SCHEDULES = ("heartbeats.tasks.keeper", "heartbeats.tasks.prune", "heartbeats.tasks.run_shift")
OLD_DUTIES = ("healthcheck", "stake")
TRIGGER = "countdown_guard_lease_changed"


def lease_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    table = quote(apps.get_model("heartbeats", "Duty")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(TRIGGER)} ON {table}")
    # The function made by migration 0005 notifies the channel it is given.
    schema_editor.execute(
        f"CREATE TRIGGER {quote(TRIGGER)} AFTER UPDATE OF holder ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION countdown_guard_notify('countdown_guard_lease')"
    )


def no_lease_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    table = quote(apps.get_model("heartbeats", "Duty")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(TRIGGER)} ON {table}")


def add_to_roles(apps, schema_editor):
    """Every role reads the duties (the engines' leases among them); the lease table and django-auditlog's
    log, both gone, leave the roles."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    view_duty = Permission.objects.get(content_type__app_label="heartbeats", codename="view_duty")
    gone = Permission.objects.filter(content_type__app_label="heartbeats", codename="view_enginelease") | (
        Permission.objects.filter(content_type__app_label="auditlog")
    )
    for group in apps.get_model("auth", "Group").objects.filter(name__in=["viewer", "operator", "key admin"]):
        group.permissions.add(view_duty)
        group.permissions.remove(*gone)


def forget_shift_tasks(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func__in=OLD_SCHEDULES).delete()
    apps.get_model("django_q", "OrmQ").objects.all().delete()  # shifts enqueued by the old worker
    apps.get_model("heartbeats", "Duty").objects.filter(name__in=OLD_DUTIES).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('heartbeats', '0010_strategies_kill_switch_and_orders_at_stake'),
        ('django_q', '0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more'),
    ]

    operations = [
        migrations.DeleteModel(
            name='EngineLease',
        ),
        migrations.AlterModelOptions(
            name='duty',
            options={'ordering': ['name'], 'verbose_name_plural': 'duties'},
        ),
        migrations.RemoveField(
            model_name='addresslimits',
            name='fallback_holder',
        ),
        migrations.RemoveField(
            model_name='addresslimits',
            name='fallback_until',
        ),
        migrations.AddField(
            model_name='duty',
            name='acquired_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='duty',
            name='failing_since',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='duty',
            name='failures',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='duty',
            name='last_error',
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name='duty',
            name='last_error_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='duty',
            name='last_run_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='alertcondition',
            name='event',
            field=models.CharField(choices=[('policy_late', 'Policy late'), ('policy_uncertain', 'Policy outcome unknown'), ('policy_failing', 'Policy failing'), ('countdown_expired', 'Countdown expired (orders cancelled)'), ('engine_down', 'Engine down'), ('rate_limited', 'Rate limited (429)'), ('banned', 'Banned (418)'), ('clock_skew', 'Clock skew'), ('weight_near_limit', 'Weight budget near its limit'), ('key_check_failed', 'Key check failed'), ('strategy_held', 'Strategy silent or failed (heartbeats held back)'), ('kill_action', 'Disarm all and other kill actions'), ('maintenance', 'Maintenance window started or ended'), ('duty_failing', 'A background duty failing')], max_length=24),
        ),
        migrations.AlterField(
            model_name='duty',
            name='name',
            field=models.CharField(max_length=300, primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name='notification',
            name='event',
            field=models.CharField(blank=True, choices=[('policy_late', 'Policy late'), ('policy_uncertain', 'Policy outcome unknown'), ('policy_failing', 'Policy failing'), ('countdown_expired', 'Countdown expired (orders cancelled)'), ('engine_down', 'Engine down'), ('rate_limited', 'Rate limited (429)'), ('banned', 'Banned (418)'), ('clock_skew', 'Clock skew'), ('weight_near_limit', 'Weight budget near its limit'), ('key_check_failed', 'Key check failed'), ('strategy_held', 'Strategy silent or failed (heartbeats held back)'), ('kill_action', 'Disarm all and other kill actions'), ('maintenance', 'Maintenance window started or ended'), ('duty_failing', 'A background duty failing')], max_length=24),
        ),
        migrations.RunPython(lease_trigger, no_lease_trigger),
        migrations.RunPython(forget_shift_tasks, migrations.RunPython.noop),
        migrations.RunPython(add_to_roles, migrations.RunPython.noop),
    ]
