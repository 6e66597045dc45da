"""Change notifications for every subject a process waits on (heartbeats.engine.wakeup), on both databases.

PostgreSQL: statement triggers NOTIFY a channel per subject (0005 and 0011 made `desired` and `lease`; this
adds maintenance windows, strategies, notifications and Cancel orders). SQLite: row triggers add one to the
subject's ChangeCount, so a process woken by a write to the database's files can tell in one small read
whether the write was about what it waits on. Each fires on what people (or a holder change) write, never on
the engine's own beat facts or lease renewals.
"""

from django.db import migrations, models

DESIRED = "countdown_guard_desired"
LEASE = "countdown_guard_lease"
MAINTENANCE = "countdown_guard_maintenance"
STRATEGIES = "countdown_guard_strategies"
NOTIFICATIONS = "countdown_guard_notifications"
ORDERS = "countdown_guard_orders"
CHANNELS = (DESIRED, LEASE, MAINTENANCE, STRATEGIES, NOTIFICATIONS, ORDERS)

# SQLite: (model, event, WHEN condition or "", channel)
SQLITE = [
    ("countdownpolicy", "INSERT", "", DESIRED),
    ("countdownpolicy", "DELETE", "", DESIRED),
    (
        "countdownpolicy",
        "UPDATE",
        "OLD.updated_at IS NOT NEW.updated_at OR OLD.desired_changed_at IS NOT NEW.desired_changed_at",
        DESIRED,
    ),
    ("exchangeaccount", "INSERT", "", DESIRED),
    ("exchangeaccount", "DELETE", "", DESIRED),
    ("exchangeaccount", "UPDATE", "OLD.updated_at IS NOT NEW.updated_at", DESIRED),
    ("duty", "UPDATE", "OLD.holder IS NOT NEW.holder", LEASE),
    ("maintenancewindow", "INSERT", "", MAINTENANCE),
    ("maintenancewindow", "DELETE", "", MAINTENANCE),
    ("maintenancewindow", "UPDATE", "", MAINTENANCE),
    ("strategy", "INSERT", "", STRATEGIES),
    ("strategy", "DELETE", "", STRATEGIES),
    ("strategy", "UPDATE", "", STRATEGIES),
    ("notification", "INSERT", "", NOTIFICATIONS),
    ("notification", "UPDATE", "", NOTIFICATIONS),
    ("ordercancel", "INSERT", "", ORDERS),
    ("ordercancel", "UPDATE", "", ORDERS),
]
# PostgreSQL: (model, trigger name, events, channel), through 0005's countdown_guard_notify().
POSTGRES = [
    ("maintenancewindow", "countdown_guard_window_changed", "INSERT OR DELETE OR UPDATE", MAINTENANCE),
    ("strategy", "countdown_guard_strategy_changed", "INSERT OR DELETE OR UPDATE", STRATEGIES),
    ("notification", "countdown_guard_notification_changed", "INSERT OR UPDATE", NOTIFICATIONS),
    ("ordercancel", "countdown_guard_cancel_changed", "INSERT OR UPDATE", ORDERS),
]


def _sqlite_name(model: str, event: str) -> str:
    return f"countdown_guard_{model}_{event.lower()}"


def create(apps, schema_editor):
    ChangeCount = apps.get_model("heartbeats", "ChangeCount")
    ChangeCount.objects.bulk_create([ChangeCount(channel=c) for c in CHANNELS], ignore_conflicts=True)
    quote = schema_editor.quote_name
    counts = quote(ChangeCount._meta.db_table)
    if schema_editor.connection.vendor == "sqlite":
        for model, event, when, channel in SQLITE:
            table = quote(apps.get_model("heartbeats", model)._meta.db_table)
            name = quote(_sqlite_name(model, event))
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
                + (f" WHEN {when}" if when else "")
                # A row emptied away (a test's flush) comes back at the next change.
                + f" BEGIN INSERT OR REPLACE INTO {counts} (channel, version) VALUES ('{channel}',"
                f" COALESCE((SELECT version FROM {counts} WHERE channel = '{channel}'), 0) + 1); END"
            )
    elif schema_editor.connection.vendor == "postgresql":
        for model, name, events, channel in POSTGRES:
            table = quote(apps.get_model("heartbeats", model)._meta.db_table)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(name)} ON {table}")
            schema_editor.execute(
                f"CREATE TRIGGER {quote(name)} AFTER {events} ON {table}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION countdown_guard_notify('{channel}')"
            )


def drop(apps, schema_editor):
    quote = schema_editor.quote_name
    if schema_editor.connection.vendor == "sqlite":
        for model, event, _when, _channel in SQLITE:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(_sqlite_name(model, event))}")
    elif schema_editor.connection.vendor == "postgresql":
        for model, name, _events, _channel in POSTGRES:
            table = quote(apps.get_model("heartbeats", model)._meta.db_table)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(name)} ON {table}")


class Migration(migrations.Migration):
    dependencies = [
        ("heartbeats", "0022_skipped_outcome_label"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChangeCount",
            fields=[
                ("channel", models.CharField(max_length=63, primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name": "change counter"},
        ),
        migrations.RunPython(create, drop),
    ]
