"""What engines and addresses share through the database: the lease per egress identity, each engine's
liveness record, and the exchange's limits per source address."""

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone


class EngineLiveness(models.Model):
    """Written about every second by each running engine; read by the pages and commands."""

    engine_id = models.CharField(max_length=100, primary_key=True)
    egress = models.CharField(max_length=64, default="default")
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    holds_lease = models.BooleanField(default=False)
    clock_offset_ms = models.IntegerField(null=True, blank=True)
    used_weight = models.PositiveIntegerField(null=True, blank=True)
    weight_limit = models.PositiveIntegerField(null=True, blank=True)
    rate_limited_until = models.DateTimeField(null=True, blank=True)
    banned_until = models.DateTimeField(null=True, blank=True)
    stopping = models.BooleanField(default=False)
    last_error = models.CharField(max_length=300, blank=True)
    # The engine's last successful read of desired state (policy changes). An engine that cannot read it
    # cannot see a disarm: past DEAF_AFTER the web no longer counts on it for disarms (is_sending()).
    desired_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "engine liveness record"

    # The page raises its engine-down banner when the newest record is older than this.
    STALE_AFTER = timedelta(seconds=2)
    # A standby writes its record every few seconds (EngineConfig.standby_publish_every): gone after this.
    STANDBY_STALE_AFTER = timedelta(seconds=12)
    # An engine stops arming from memory this long after its last read of desired state (engine config
    # `desired_stale_after`, 3 s by default) and the web sends the zeros itself from this long on: later
    # than the engine's last possible arm, so the second zero (recvWindow + clock error after the first)
    # undoes any such arm.
    DEAF_AFTER = timedelta(seconds=4)

    def __str__(self):
        return self.engine_id

    def is_stale(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) - self.seen_at > self.STALE_AFTER

    def is_gone(self, now: datetime | None = None) -> bool:
        """No longer reporting, by the pace of its role: an active engine writes every second, a standby
        every few seconds."""
        if self.holds_lease:
            return self.is_stale(now)
        return (now or timezone.now()) - self.seen_at > self.STANDBY_STALE_AFTER

    def is_deaf(self, now: datetime | None = None) -> bool:
        """Cannot read desired state (its database reads fail): it would not see a disarm."""
        now = now or timezone.now()
        return self.desired_read_at is not None and now - self.desired_read_at > self.DEAF_AFTER

    def is_sending(self, now: datetime | None = None) -> bool:
        """The one rule for "an engine is alive" for this record's egress identity: a fresh record from an
        engine that holds the lease, is not stopping and can read desired state."""
        return self.holds_lease and not self.stopping and not self.is_stale(now) and not self.is_deaf(now)


class AddressLimits(models.Model):
    """What the exchange counts per source address (one egress identity talking to one base URL): the weight
    used in the current minute, a 429 pause and a 418 ban. Shared by every process and engine that sends from
    that address, so it survives hand-overs and restarts; every request obeys it
    (heartbeats.domain.ratelimits)."""

    egress = models.CharField(max_length=64)
    base_url = models.CharField(max_length=200)
    # The exchange's minute (epoch ms // 60000 on its clock) that `used_weight` belongs to.
    minute = models.BigIntegerField(default=0)
    used_weight = models.PositiveIntegerField(default=0)
    weight_limit = models.PositiveIntegerField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    banned_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "address rate limit"
        constraints = [models.UniqueConstraint(fields=["egress", "base_url"], name="one_row_per_address")]

    def __str__(self):
        return f"{self.egress} → {self.base_url}"
