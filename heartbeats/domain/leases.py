"""The one-engine-per-egress lease: a row per egress identity, taken and renewed with a conditional UPDATE
and a row-count check. No `select_for_update` (a no-op on SQLite); the UPDATE's WHERE clause is the lock.

Expiry is stamped and compared on the database's clock (`Now()`), never on each host's own: two worker hosts
whose clocks differ still agree on when a lease ran out."""

from datetime import timedelta

from django.db.models import Q
from django.db.models.functions import Now

from heartbeats.engine.sql import lease_wait
from heartbeats.models import EngineLease


class Lease:
    def __init__(self, egress: str, holder: str, ttl: float):
        self.egress = egress
        self.holder = holder
        self.ttl = timedelta(seconds=ttl)

    def ensure_row(self) -> None:
        EngineLease.objects.get_or_create(egress=self.egress)

    def wait_time(self) -> float:
        """Seconds until the lease may be taken (0: now); a cheap read before trying the UPDATE, so a waiting
        standby does not queue for the write lock, and knows how long to wait."""
        return lease_wait(self.egress, self.holder)

    def looks_free(self) -> bool:
        return self.wait_time() <= 0

    def current(self) -> EngineLease | None:
        return lease_of(self.egress)

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours."""
        taken = (
            EngineLease.objects.filter(egress=self.egress)
            .filter(
                Q(holder="") | Q(holder=self.holder) | Q(expires_at__isnull=True) | Q(expires_at__lt=Now())
            )
            .update(holder=self.holder, expires_at=Now() + self.ttl, acquired_at=Now())
        )
        return taken == 1

    def renew(self) -> bool:
        """Extend the lease; False means another engine holds it now (ours had expired)."""
        renewed = EngineLease.objects.filter(egress=self.egress, holder=self.holder).update(
            expires_at=Now() + self.ttl
        )
        return renewed == 1

    def release(self) -> bool:
        released = EngineLease.objects.filter(egress=self.egress, holder=self.holder).update(
            holder="", expires_at=None
        )
        return released == 1


def lease_of(egress: str) -> EngineLease | None:
    return EngineLease.objects.filter(egress=egress).first()
