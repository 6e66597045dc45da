"""One throttle for every rate-limited feature, counted in the database so that every process shares it:
two gunicorn workers (or two web hosts) allow 20 pings a second per URL between them, not 20 each.

Fixed windows: a name's count is kept for the current window (`period` seconds) and starts again at the next.
`allow()` counts one request against several names at once (a ping: its URL and its source address) in one
statement (an upsert that returns the counts), inside the caller's transaction, so a ping stays one lookup
and one short transaction. A request over a limit still counts, so a flood stays refused. Old windows are
deleted by `prune()` (the `prune` duty); a growing table never makes the limiter forget the names in use.
"""

import time

from django.db import connection

from heartbeats.models import Throttle


def _now() -> float:
    return time.time()


def allow(*limits: tuple[str, int], period: int = 1) -> bool:
    """Count one request against each (name, limit) and say whether it stays within every limit in this
    window of `period` seconds."""
    if not limits:
        return True
    slot = int(_now() // period * period)
    names = {name[:120]: limit for name, limit in limits}
    table = connection.ops.quote_name(Throttle._meta.db_table)
    rows = ", ".join(["(%s, %s, 1)"] * len(names))
    params = [value for name in names for value in (name, slot)]
    # One statement on PostgreSQL and SQLite (3.35+) alike: insert, or count on, or start the window again.
    sql = (
        f"INSERT INTO {table} (name, slot, hits) VALUES {rows} "  # noqa: S608 (table name from the model)
        f"ON CONFLICT (name) DO UPDATE SET "
        f"hits = CASE WHEN {table}.slot = excluded.slot THEN {table}.hits + 1 ELSE 1 END, "
        f"slot = excluded.slot "
        f"RETURNING name, hits"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        counted = dict(cursor.fetchall())
    return all(counted.get(name, 0) <= limit for name, limit in names.items())


def prune(older_than: int = 3600) -> int:
    """Forget windows that ended more than `older_than` seconds ago."""
    return Throttle.objects.filter(slot__lt=int(_now()) - older_than).delete()[0]
