"""The one write of desired state: arm or disarm policies, each with a new generation, in one UPDATE.

Every change people make (heartbeats.desk.actions) and every maintenance window's start and end
(heartbeats.desk.maintenance) goes through `set_desired`, inside the caller's transaction with the rows
locked, and is committed before anything is sent: a beat signed for an older generation is then recognised as
stale by the engine's last check (engine/plan.vet), and a disarm wins.
"""

from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from heartbeats.models import CountdownPolicy


def set_desired(rows, *, armed: bool) -> set[int]:
    """Desire `rows` (a queryset or ids of policies the caller has locked) armed or disarmed, each with a new
    generation. Returns the ids changed."""
    if not hasattr(rows, "values_list"):
        rows = CountdownPolicy.objects.filter(pk__in=list(rows))
    ids = set(rows.values_list("pk", flat=True))
    now = timezone.now()  # once the locks are held: a wait for them must not backdate the change
    CountdownPolicy.objects.filter(pk__in=ids).update(
        armed=armed,
        generation=F("generation") + 1,
        desired_changed_at=now,
        updated_at=now,
        next_due_at=now if armed else None,
    )
    return ids


@contextmanager
def waiting_briefly_for_locks(seconds: float):
    """A transaction that waits at most `seconds` for the locks it needs (SQLite's write lock, PostgreSQL's
    row locks) and then fails with a DatabaseError that `held_by_another` recognises, instead of waiting
    for as long as another process holds them (a stopped one holds them until it runs again)."""
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        connection.ensure_connection()
        raw = connection.connection
        before = raw.execute("PRAGMA busy_timeout").fetchone()[0]
        raw.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{int(seconds * 1000)}ms'")
            yield
    finally:
        if sqlite and connection.connection is raw:
            raw.execute(f"PRAGMA busy_timeout = {before}")


def held_by_another(exc: DatabaseError) -> bool:
    """A lock another process holds, not another trouble: SQLite's "database is locked", PostgreSQL's
    lock_not_available (SQLSTATE 55P03)."""
    cause = exc.__cause__ or exc
    return "database is locked" in str(exc) or getattr(cause, "sqlstate", None) == "55P03"
