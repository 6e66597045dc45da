"""The few queries the engine runs many times a second, as plain SQL.

A standby looks at the lease and the watcher looks for changes every 20 ms; through the ORM each
of those costs 0.6-2 ms of CPU, as plain SQL under 0.2 ms. Table and column names come from the models (the
only text put into the statements: hence the S608 exemptions), values are parameters adapted by the backend,
so the same statements run on SQLite and PostgreSQL.
"""

from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from heartbeats.models import CountdownPolicy, EngineLease, ExchangeAccount


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _when(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def epoch(value) -> float | None:
    """A datetime column as read by the backend (SQLite: naive UTC, PostgreSQL: aware) in epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _db_now() -> str:
    """The database's clock in SQL, as Django's Now() writes it (SQLite: text that sorts like its dates)."""
    if connection.vendor == "sqlite":
        return "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')"
    return "CURRENT_TIMESTAMP"


def lease_looks_free(egress: str, holder: str) -> bool:
    """Not held by another engine whose lease is still running on the database's clock (the opposite of
    what Lease.acquire needs)."""
    e = lambda name: _column(EngineLease, name)  # noqa: E731
    sql = (
        f"SELECT COUNT(*) FROM {_table(EngineLease)} WHERE {e('egress')} = %s AND {e('holder')} <> ''"  # noqa: S608
        f" AND {e('holder')} <> %s AND {e('expires_at')} IS NOT NULL AND {e('expires_at')} >= {_db_now()}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [egress, holder])
        return cursor.fetchone()[0] == 0


def changed_since(egress: str, since: datetime) -> list[tuple]:
    """(id, generation, armed, updated_at, desired_changed_at, account enabled) of the egress's policies
    changed by people since `since`; the two times as text (see epoch())."""
    p, a = (lambda n: "p." + _column(CountdownPolicy, n)), (lambda n: "a." + _column(ExchangeAccount, n))
    # Times as text: comparing them needs no parsing, and most polls only compare.
    sql = (
        f"SELECT {p('id')}, {p('generation')}, {p('armed')}, CAST({p('updated_at')} AS TEXT),"  # noqa: S608
        f" CAST({p('desired_changed_at')} AS TEXT), {a('enabled')}"
        f" FROM {_table(CountdownPolicy)} p JOIN {_table(ExchangeAccount)} a"
        f" ON a.{_column(ExchangeAccount, 'id')} = {p('account')}"
        f" WHERE {a('egress')} = %s AND ({p('updated_at')} >= %s OR {p('desired_changed_at')} >= %s)"
    )
    when = _when(since)
    with connection.cursor() as cursor:
        cursor.execute(sql, [egress, when, when])
        return [(int(r[0]), int(r[1]), bool(r[2]), r[3], r[4], bool(r[5])) for r in cursor.fetchall()]


def desired(policy_id: int) -> tuple[bool, int] | None:
    """(armed, generation), or None when the policy no longer exists."""
    sql = (
        f"SELECT {_column(CountdownPolicy, 'armed')}, {_column(CountdownPolicy, 'generation')}"  # noqa: S608
        f" FROM {_table(CountdownPolicy)} WHERE {_column(CountdownPolicy, 'id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [policy_id])
        row = cursor.fetchone()
    return (bool(row[0]), int(row[1])) if row else None
