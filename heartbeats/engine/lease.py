"""The one-engine-per-egress lease: a row per egress identity, taken and renewed with a conditional UPDATE
and a row-count check. No `select_for_update` (a no-op on SQLite); the UPDATE's WHERE clause is the lock."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from heartbeats.engine.polling import lease_looks_free
from heartbeats.models import EngineLease


class Lease:
    def __init__(self, egress: str, holder: str, ttl: float):
        self.egress = egress
        self.holder = holder
        self.ttl = timedelta(seconds=ttl)

    def ensure_row(self) -> None:
        EngineLease.objects.get_or_create(egress=self.egress)

    def looks_free(self, now=None) -> bool:
        """A cheap read before trying the UPDATE, so a waiting standby does not queue for the write lock."""
        return lease_looks_free(self.egress, self.holder, now or timezone.now())

    def acquire(self, now=None) -> bool:
        """Take the lease if it is free, expired or already ours."""
        now = now or timezone.now()
        taken = (
            EngineLease.objects.filter(egress=self.egress)
            .filter(Q(holder="") | Q(holder=self.holder) | Q(expires_at__isnull=True) | Q(expires_at__lt=now))
            .update(holder=self.holder, expires_at=now + self.ttl, acquired_at=now)
        )
        return taken == 1

    def renew(self, now=None) -> bool:
        """Extend the lease; False means another engine holds it now (ours had expired)."""
        now = now or timezone.now()
        renewed = EngineLease.objects.filter(egress=self.egress, holder=self.holder).update(
            expires_at=now + self.ttl
        )
        return renewed == 1

    def release(self) -> bool:
        released = EngineLease.objects.filter(egress=self.egress, holder=self.holder).update(
            holder="", expires_at=None
        )
        return released == 1


def lease_of(egress: str) -> EngineLease | None:
    return EngineLease.objects.filter(egress=egress).first()
