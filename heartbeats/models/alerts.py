"""What alerting stores: channels (where to tell people), conditions (what is wrong now) and notifications
(who was told what, append-only), plus the one row that elects the process doing it."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from heartbeats import text
from heartbeats.crypto import EncryptedTextField


class AlertEvent(models.TextChoices):
    POLICY_LATE = "policy_late", "Policy late"
    POLICY_UNCERTAIN = "policy_uncertain", "Policy outcome unknown"
    POLICY_FAILING = "policy_failing", "Policy failing"
    COUNTDOWN_EXPIRED = "countdown_expired", "Countdown expired (orders cancelled)"
    ENGINE_DOWN = "engine_down", "Engine down"
    RATE_LIMITED = "rate_limited", "Rate limited (429)"
    BANNED = "banned", "Banned (418)"
    CLOCK_SKEW = "clock_skew", "Clock skew"
    WEIGHT_NEAR_LIMIT = "weight_near_limit", "Weight budget near its limit"
    KEY_CHECK_FAILED = "key_check_failed", "Key check failed"
    STRATEGY_HELD = "strategy_held", "Strategy silent or failed (heartbeats held back)"
    KILL_ACTION = "kill_action", "Disarm all and other kill actions"
    MAINTENANCE = "maintenance", "Maintenance window started or ended"
    DUTY_FAILING = "duty_failing", "A background duty failing"


class AlertChannel(models.Model):
    """One place alerts go, as an apprise URL (json://, mailto://, slack://, tgram://, pagerduty://...)."""

    name = models.CharField(max_length=100, unique=True, validators=[text.one_line])
    # Holds the service's token: encrypted at rest, write-only, never rendered or logged. `url_hint` (the
    # scheme and nothing else) is what people see.
    url = EncryptedTextField()
    url_hint = models.CharField(max_length=40, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    # Empty: every event / every account.
    events = models.JSONField(default=list, blank=True)
    accounts = models.ManyToManyField("heartbeats.ExchangeAccount", blank=True, related_name="alert_channels")
    repeat_minutes = models.PositiveIntegerField(
        default=30, help_text="Remind every this many minutes while a problem lasts; 0: never."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.url_hint = scheme_of(self.url)
        super().save(*args, **kwargs)

    def wants(self, event: str, account_ids) -> bool:
        """Whether an event about these accounts (empty: about no account, e.g. the whole engine) is for this
        channel. `account_filter` is the set of account ids the channel is limited to (empty: all)."""
        if self.events and event not in self.events:
            return False
        limited = self.account_filter
        return not limited or not account_ids or bool(limited & set(account_ids))

    @property
    def account_filter(self) -> set[int]:
        cached = getattr(self, "_account_filter", None)
        if cached is None:
            cached = self._account_filter = set(self.accounts.values_list("id", flat=True))
        return cached

    @property
    def event_labels(self) -> list[str]:
        return [AlertEvent(e).label for e in self.events if e in AlertEvent.values] or ["Every event"]


def scheme_of(url: str) -> str:
    scheme, sep, _rest = (url or "").partition("://")
    return f"{scheme[:30]}://…" if sep else ""


class AlertCondition(models.Model):
    """A problem that lasts (a policy failing, the engine down, a ban). Opened when first seen, announced
    once it has lasted its hold, announced again when it changes (late → failing), closed with a recovery
    notice. At most one active row per key.

    Problems with one cause are one incident (`group`): told together in one message after a short wait,
    reminded together and recovered once, when the last of them clears. A problem another one explains
    (policies late while their engine is down) is `inhibited_by` it: listed in that one's message, never told
    on its own while the cause lasts, and given a hold of its own once the cause clears (`held_until`)."""

    key = models.CharField(max_length=120)
    event = models.CharField(max_length=24, choices=AlertEvent.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    account_ids = models.JSONField(default=list, blank=True)
    policy = models.ForeignKey(
        "heartbeats.CountdownPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    since = models.DateTimeField()  # when the problem began (may be before it was first seen)
    opened_at = models.DateTimeField(default=timezone.now)
    alerted_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True, db_index=True)
    group = models.CharField(max_length=250, blank=True)
    inhibited_by = models.CharField(max_length=120, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)
    # When it was first seen past its hold: its incident's message waits ALERT_GROUP_WAIT_SECONDS from the
    # first of these, so a burst becomes one message.
    ready_at = models.DateTimeField(null=True, blank=True)
    # The condition whose message told this one (itself, or its incident's first): who heard of it.
    told_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(active=True), name="one_active_condition")
        ]

    def __str__(self):
        return self.title


class NotificationKind(models.TextChoices):
    ALERT = "alert", "Alert"
    UPDATE = "update", "Changed"
    REPEAT = "repeat", "Reminder"
    RECOVERY = "recovery", "Recovered"
    EVENT = "event", "Event"
    TEST = "test", "Test"


class Delivery(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Retrying"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One message to one channel: who was told what, and whether it got there. Never deleted; only its
    delivery columns move (pending → sent, or retrying → ... → sent / failed)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    channel = models.ForeignKey(
        AlertChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    channel_name = models.CharField(max_length=100)  # kept if the channel is deleted
    condition = models.ForeignKey(
        AlertCondition, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    event = models.CharField(max_length=24, choices=AlertEvent.choices, blank=True)
    kind = models.CharField(max_length=12, choices=NotificationKind.choices)
    severity = models.CharField(
        max_length=12, default="warning"
    )  # apprise's info / success / warning / failure
    title = models.CharField(max_length=250)
    body = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)  # for a test sent from the pages
    status = models.CharField(
        max_length=12, choices=Delivery.choices, default=Delivery.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.channel_name}: {self.title}"


__all__ = [
    "AlertChannel",
    "AlertCondition",
    "AlertEvent",
    "Delivery",
    "Notification",
    "NotificationKind",
]
