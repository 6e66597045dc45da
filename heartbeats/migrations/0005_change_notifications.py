"""PostgreSQL triggers that wake the engine (heartbeats.engine.wakeup) instead of it polling: a statement
that changes what people set on policies or accounts notifies `countdown_guard_desired`, one that hands a
lease over notifies `countdown_guard_lease`. Each fires on the same columns the engine's queries look at
(`updated_at`, `desired_changed_at`, a lease's `holder`), so the engine's own writes (beat facts, lease
renewals) wake nobody. Nothing to do on SQLite, where the engine reads `PRAGMA data_version`."""

from django.db import migrations

FUNCTION = "countdown_guard_notify"

# (model, trigger name, events, channel)
TRIGGERS = [
    (
        "countdownpolicy",
        "countdown_guard_policy_changed",
        "INSERT OR DELETE OR UPDATE OF updated_at, desired_changed_at",
        "countdown_guard_desired",
    ),
    (
        "exchangeaccount",
        "countdown_guard_account_changed",
        "INSERT OR DELETE OR UPDATE OF updated_at",
        "countdown_guard_desired",
    ),
    ("enginelease", "countdown_guard_lease_changed", "UPDATE OF holder", "countdown_guard_lease"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    schema_editor.execute(
        f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM pg_notify(TG_ARGV[0], ''); RETURN NULL; END $$"
    )
    for model, name, events, channel in TRIGGERS:
        table = quote(apps.get_model("heartbeats", model)._meta.db_table)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(name)} ON {table}")
        schema_editor.execute(
            f"CREATE TRIGGER {quote(name)} AFTER {events} ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}('{channel}')"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for model, name, _events, _channel in TRIGGERS:
        table = quote(apps.get_model("heartbeats", model)._meta.db_table)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(name)} ON {table}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [
        ("heartbeats", "0004_second_factor_actions"),
    ]

    operations = [migrations.RunPython(create, drop)]
