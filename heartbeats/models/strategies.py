"""Strategies: the trading systems that hold their policies' switches by pinging (heartbeats.strategies)."""

from django.db import models
from django.utils import timezone

from heartbeats import text


class HoldReason(models.TextChoices):
    NONE = "", "Not held"
    SILENT = "silent", "Silent (pings stopped)"
    FAILED = "failed", "Reported a failure"


class Strategy(models.Model):
    """A trading system that proves it is alive by calling its ping URL. Its policies are beaten only while
    its last ping is within `grace_s` (and no hold is latched): when it hangs, the guard stops beating and the
    exchange cancels the orders at expiry."""

    name = models.CharField(max_length=100, unique=True, validators=[text.one_line])
    owner = models.CharField(
        max_length=150, blank=True, help_text="Who runs it: a person or a team.", validators=[text.one_line]
    )
    grace_s = models.PositiveIntegerField(
        default=30, help_text="Seconds without a ping after which its policies are no longer beaten."
    )
    # The ping URL's key, stored as its SHA-256: the URL is shown once, when made.
    ping_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    ping_key_hint = models.CharField(max_length=8, blank=True, editable=False)
    rearm_on_return = models.BooleanField(
        default=False, help_text="A ping after silence (or after /fail) resumes heartbeats by itself."
    )
    cancel_when_silent = models.BooleanField(
        default=False,
        help_text="When the grace runs out, cancel the open orders at once instead of waiting for expiry.",
    )
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_ping_ip = models.GenericIPAddressField(null=True, blank=True)
    ping_count = models.PositiveBigIntegerField(default=0)
    # Latched when the grace ran out or /fail came; cleared by a returning ping (rearm_on_return) or by an
    # operator's release.
    held_reason = models.CharField(max_length=8, choices=HoldReason.choices, blank=True, default="")
    held_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "strategies"

    def __str__(self):
        return self.name


class PingKind(models.TextChoices):
    PING = "ping", "Ping"
    FAIL = "fail", "Fail"


class StrategyPing(models.Model):
    """The recent pings of a strategy, with their source address (pruned to the last PINGS_KEPT)."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="pings")
    at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    kind = models.CharField(max_length=4, choices=PingKind.choices, default=PingKind.PING)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["strategy", "-at"], name="ping_by_strategy")]

    def __str__(self):
        return f"{self.strategy_id} {self.kind} {self.at:%H:%M:%S}"
