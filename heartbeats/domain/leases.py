"""The one lease: a named Duty row that one holder at a time may use, taken and renewed with a conditional
UPDATE and a row-count check. No `select_for_update` (a no-op on SQLite); the UPDATE's WHERE clause is the
lock.

Expiry is stamped and compared on the database's clock (`Now()`), never on each host's own: two hosts whose
clocks differ still agree on when a lease ran out. The engine of each egress identity, every duty of
heartbeats.duties and a process's claim on an address it sends zeros for are leases of this one kind.
"""

import contextlib
import functools
from datetime import timedelta

from django.db import IntegrityError, connection
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Now

from heartbeats.models import Duty


class Lease:
    """`Lease(name, holder, ttl)`. A holder with `patience` takes a lease that expired only once it has been
    expired that much longer (it defers to others); one with `takes_from` takes it from holders whose name
    starts with one of those prefixes even while they hold it (a preferred kind of process)."""

    def __init__(
        self,
        name: str,
        holder: str,
        ttl: float,
        *,
        patience: float = 0.0,
        takes_from: tuple[str, ...] = (),
    ):
        self.name = name[:300]
        self.holder = holder[:100]
        self.ttl = timedelta(seconds=ttl)
        self.patience = timedelta(seconds=patience)
        self.takes_from = takes_from

    def ensure_row(self) -> None:
        with contextlib.suppress(IntegrityError):  # made by another process meanwhile
            Duty.objects.get_or_create(name=self.name)

    def _free(self) -> Q:
        free = (
            Q(holder="")
            | Q(holder=self.holder)
            | Q(expires_at__isnull=True)
            | Q(expires_at__lt=Now() - self.patience)
        )
        for prefix in self.takes_from:
            free |= Q(holder__startswith=prefix)
        return free

    def acquire(self) -> bool:
        """Take the lease if it is free, expired (and patience passed), ours, or held by a kind we take from.
        `acquired_at` stays as it was when we already held it."""
        fields = {
            "holder": self.holder,
            "expires_at": Now() + self.ttl,
            "acquired_at": Case(When(holder=self.holder, then=F("acquired_at")), default=Now()),
        }
        rows = Duty.objects.filter(name=self.name)
        if rows.filter(self._free()).update(**fields):
            return True
        if not rows.exists():
            self.ensure_row()  # the first time anywhere: the row, then the lease
            return bool(rows.filter(self._free()).update(**fields))
        return False

    def renew(self) -> bool:
        """Extend the lease; False means another holder has it now (ours had expired)."""
        return renew_many([self.name], self.holder, self.ttl.total_seconds()) == 1

    def release(self) -> bool:
        released = Duty.objects.filter(name=self.name, holder=self.holder).update(holder="", expires_at=None)
        return released == 1

    def current(self) -> Duty | None:
        return Duty.objects.filter(name=self.name).first()


def renew_many(names, holder: str, ttl: float, ran_at: dict | None = None) -> int:
    """Extend every lease of `names` that `holder` still holds, in one UPDATE (one commit for all of a
    process's duties), writing each duty's last run of `ran_at` (name -> datetime) with it. Returns how many
    it still holds."""
    names, ran_at = list(names), ran_at or {}
    if not names:
        return 0
    statement = _renew_statement(connection.vendor, len(names), len(ran_at))
    if statement is None:
        fields = {"expires_at": Now() + timedelta(seconds=ttl)}
        if ran_at:
            runs = (When(name=n, then=Value(at)) for n, at in ran_at.items())
            fields["last_run_at"] = Case(*runs, default=F("last_run_at"))
        return Duty.objects.filter(name__in=names, holder=holder[:100]).update(**fields)
    # Every second per engine and every few seconds per process: a statement built once, not by the ORM.
    field = Duty._meta.get_field("last_run_at")
    runs = [v for name, at in ran_at.items() for v in (name, field.get_db_prep_save(at, connection))]
    span = int(ttl * 1_000_000) if connection.vendor == "sqlite" else ttl
    with connection.cursor() as cursor:
        cursor.execute(statement, [span, *runs, holder[:100], *names])
        return cursor.rowcount


@functools.cache
def _renew_statement(vendor: str, names: int, runs: int) -> str | None:
    """`expires_at = Now() + ttl` as the ORM writes it on each backend (on SQLite with Django's own date
    function, so the stored text is the same), and `runs` last runs; None on a backend without one here."""
    column = lambda n: connection.ops.quote_name(Duty._meta.get_field(n).column)  # noqa: E731
    if vendor == "sqlite":
        until = "django_format_dtdelta('+', STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW'), %s)"
    elif vendor == "postgresql":
        until = "STATEMENT_TIMESTAMP() + make_interval(secs => %s)"
    else:
        return None
    assignments = f"{column('expires_at')} = {until}"
    if runs:
        cases = " ".join(["WHEN %s THEN %s"] * runs)
        assignments += (
            f", {column('last_run_at')} = CASE {column('name')} {cases} ELSE {column('last_run_at')} END"
        )
    return (
        f"UPDATE {connection.ops.quote_name(Duty._meta.db_table)} SET {assignments}"  # noqa: S608
        f" WHERE {column('holder')} = %s AND {column('name')} IN ({', '.join(['%s'] * names)})"
    )


def held_by(holder: str, names) -> set[str]:
    """Which of `names` `holder` holds now, on the database's clock."""
    return set(
        Duty.objects.filter(name__in=list(names), holder=holder[:100], expires_at__gt=Now()).values_list(
            "name", flat=True
        )
    )
