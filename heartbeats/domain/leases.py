"""The one lease: a named Duty row that one holder at a time may use, taken and renewed with a conditional
UPDATE and a row-count check. No `select_for_update` (a no-op on SQLite); the UPDATE's WHERE clause is the
lock.

Expiry is stamped and compared on the database's clock (`Now()`), never on each host's own: two hosts whose
clocks differ still agree on when a lease ran out. The engine of each egress identity, every duty of
heartbeats.duties and a process's claim on an address it sends zeros for are leases of this one kind.
"""

import contextlib
from datetime import timedelta

from django.db import IntegrityError
from django.db.models import Case, F, Q, When
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


def renew_many(names, holder: str, ttl: float, **record) -> int:
    """Extend every lease of `names` that `holder` still holds, in one UPDATE (one commit for all of a
    process's duties), writing `record` (e.g. last_run_at) with it. Returns how many it still holds."""
    fields = {"expires_at": Now() + timedelta(seconds=ttl), **record}
    return Duty.objects.filter(name__in=list(names), holder=holder[:100]).update(**fields)


def held_by(holder: str, names) -> set[str]:
    """Which of `names` `holder` holds now, on the database's clock."""
    return set(
        Duty.objects.filter(name__in=list(names), holder=holder[:100], expires_at__gt=Now()).values_list(
            "name", flat=True
        )
    )
