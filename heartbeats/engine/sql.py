"""The few queries the engine runs often, as plain SQL.

A standby looks at the lease and the watcher looks for changes whenever the database changes (wakeup.py),
several times a second on a busy SQLite file; through the ORM each of those costs 0.6-2 ms of CPU, as plain
SQL under 0.2 ms. Table and column names come from the models (the
only text put into the statements: hence the S608 exemptions), values are parameters adapted by the backend,
so the same statements run on SQLite and PostgreSQL.
"""

import functools
import time
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from heartbeats.domain.holds import hold_reason
from heartbeats.models import CountdownPolicy, Duty, ExchangeAccount, Strategy


@functools.cache
def _statements(vendor: str) -> dict[str, str]:
    """Every statement of this module, built once per database vendor: they run many times a second, and
    building one (model metadata, quoting) costs more than running it."""
    q = connection.ops.quote_name
    table = lambda model: q(model._meta.db_table)  # noqa: E731
    p = lambda n: "p." + q(CountdownPolicy._meta.get_field(n).column)  # noqa: E731
    a = lambda n: "a." + q(ExchangeAccount._meta.get_field(n).column)  # noqa: E731
    e = lambda n: q(Duty._meta.get_field(n).column)  # noqa: E731
    s = lambda n: "s." + q(Strategy._meta.get_field(n).column)  # noqa: E731
    if vendor == "sqlite":
        left = f"(JULIANDAY({e('expires_at')}) - JULIANDAY('now')) * 86400.0"
    else:
        left = f"EXTRACT(EPOCH FROM ({e('expires_at')} - CURRENT_TIMESTAMP))"
    return {
        "lease_wait": (
            f"SELECT MAX({left}) FROM {table(Duty)} WHERE {e('name')} = %s"  # noqa: S608
            f" AND {e('holder')} <> '' AND {e('holder')} <> %s AND {e('expires_at')} IS NOT NULL"
        ),
        # Times as text: comparing them needs no parsing, and most polls only compare.
        "changed_since": (
            f"SELECT {p('id')}, {p('generation')}, {p('armed')}, CAST({p('updated_at')} AS TEXT),"  # noqa: S608
            f" CAST({p('desired_changed_at')} AS TEXT), {a('enabled')}"
            f" FROM {table(CountdownPolicy)} p JOIN {table(ExchangeAccount)} a ON {a('id')} = {p('account')}"
            f" WHERE {a('egress')} = %s AND ({p('updated_at')} >= %s OR {p('desired_changed_at')} >= %s)"
        ),
        # With the policy's strategy, if any: its hold is part of the last check before signing.
        "desired": (
            f"SELECT {p('armed')}, {p('generation')}, {s('id')}, CAST({s('last_ping_at')} AS TEXT),"  # noqa: S608
            f" {s('grace_s')}, {s('held_reason')} FROM {table(CountdownPolicy)} p"
            f" LEFT JOIN {table(Strategy)} s ON {s('id')} = {p('strategy')} WHERE {p('id')} = %s"
        ),
        # The same for several policies (one heartbeat's switches): the id first, `IN ({marks})` filled in.
        "desired_many": (
            f"SELECT {p('id')}, {p('armed')}, {p('generation')}, {s('id')},"  # noqa: S608
            f" CAST({s('last_ping_at')} AS TEXT), {s('grace_s')}, {s('held_reason')}"
            f" FROM {table(CountdownPolicy)} p LEFT JOIN {table(Strategy)} s ON {s('id')} = {p('strategy')}"
            f" WHERE {p('id')} IN ({{marks}})"
        ),
        "accounts_version": (
            f"SELECT CAST(MAX({a('updated_at')}) AS TEXT), COUNT(*) FROM {table(ExchangeAccount)} a"  # noqa: S608
            f" WHERE {a('egress')} = %s"
        ),
    }


def _run(name: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)[name], params)
        return cursor.fetchall()


def epoch(value) -> float | None:
    """A datetime column as read by the backend (SQLite: naive UTC, PostgreSQL: aware) in epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def lease_wait(name: str, holder: str) -> float:
    """Seconds until the lease `name` can be taken, on the database's clock: 0 when it is free, expired or
    ours."""
    left = _run("lease_wait", [name, holder])[0][0]
    return max(0.0, float(left)) if left is not None else 0.0


def changed_since(egress: str, since: datetime) -> list[tuple]:
    """(id, generation, armed, updated_at, desired_changed_at, account enabled) of the egress's policies
    changed by people since `since`; the two times as text (see epoch())."""
    when = connection.ops.adapt_datetimefield_value(since)
    rows = _run("changed_since", [egress, when, when])
    return [(int(r[0]), int(r[1]), bool(r[2]), r[3], r[4], bool(r[5])) for r in rows]


def desired(policy_id: int) -> tuple[bool, int, str] | None:
    """(armed, generation, why its strategy holds heartbeats back or ""), or None when the policy no longer
    exists. The hold is judged on this host's clock, now."""
    rows = _run("desired", [policy_id])
    if not rows:
        return None
    armed, generation, strategy, last_ping, grace, held = rows[0]
    hold = hold_reason(strategy is not None, epoch(last_ping), grace, held or "", time.time())
    return bool(armed), int(generation), hold


def desired_many(policy_ids: list[int]) -> dict[int, tuple[bool, int, str]]:
    """desired() of several policies in one query; a policy no longer there is left out."""
    marks = ", ".join(["%s"] * len(policy_ids))
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["desired_many"].format(marks=marks), list(policy_ids))
        rows = cursor.fetchall()
    now = time.time()
    found = {}
    for policy_id, armed, generation, strategy, last_ping, grace, held in rows:
        hold = hold_reason(strategy is not None, epoch(last_ping), grace, held or "", now)
        found[int(policy_id)] = (bool(armed), int(generation), hold)
    return found


def accounts_version(egress: str) -> tuple:
    """Changes when an account of the egress is added, removed or edited (its latest `updated_at` as text,
    and how many there are)."""
    return tuple(_run("accounts_version", [egress])[0])
