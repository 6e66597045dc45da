"""Countdown Guard's data: exchange accounts, countdown policies, beats, operations and the engine's records.

Stored facts live here; the one computed view of a policy is `CountdownPolicy.status()`, which every consumer
(views, JSON, admin, engine, commands) calls instead of re-deriving it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from heartbeats.crypto import EncryptedTextField


class Venue(models.TextChoices):
    USDM = "usdm", "USD-M futures"  # USDⓈ-M; the Ⓢ is missing from many fonts
    COINM = "coinm", "COIN-M futures"


class Environment(models.TextChoices):
    PRODUCTION = "production", "Binance production"
    TESTNET = "testnet", "Binance testnet (demo)"
    CUSTOM = "custom", "Custom base URL"


class KeyType(models.TextChoices):
    HMAC = "hmac", "HMAC-SHA256"
    ED25519 = "ed25519", "Ed25519"
    RSA = "rsa", "RSA"


BASE_URLS = {
    (Environment.PRODUCTION, Venue.USDM): "https://fapi.binance.com",
    (Environment.PRODUCTION, Venue.COINM): "https://dapi.binance.com",
    (Environment.TESTNET, Venue.USDM): "https://demo-fapi.binance.com",
    (Environment.TESTNET, Venue.COINM): "https://demo-dapi.binance.com",
}


# The encrypted key fields of an account: written only by key admins, read only where a request is signed.
SECRET_FIELDS = ("api_key", "secret", "key_passphrase")


class AccountQuerySet(models.QuerySet):
    def without_secrets(self):
        """Accounts as pages show them: the key fields are not even read, let alone decrypted. (Reading one
        later fetches and decrypts it then: code that signs loads accounts whole.)"""
        return self.defer(*SECRET_FIELDS)


class ExchangeAccount(models.Model):
    label = models.CharField(max_length=100, unique=True)
    venue = models.CharField(max_length=8, choices=Venue.choices, default=Venue.USDM)
    environment = models.CharField(max_length=16, choices=Environment.choices, default=Environment.PRODUCTION)
    custom_base_url = models.URLField(
        blank=True, help_text="Only for the custom environment, e.g. the simulator: http://127.0.0.1:8800"
    )
    key_type = models.CharField(max_length=8, choices=KeyType.choices, default=KeyType.ED25519)
    # Write-only secrets: encrypted at rest, never rendered back. api_key_last4 is what people see.
    api_key = EncryptedTextField()
    secret = EncryptedTextField(help_text="HMAC secret, or the PEM private key for Ed25519 and RSA keys.")
    key_passphrase = EncryptedTextField(blank=True, default="")
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    # Request weight is counted per source IP: accounts sharing an egress identity share one budget and one
    # engine lease. Different identities are served by worker hosts with different egress addresses.
    egress = models.CharField(max_length=64, default="default")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["label"]

    def __str__(self):
        return self.label

    def save(self, *args, **kwargs):
        if self.api_key:
            self.api_key_last4 = self.api_key[-4:]
        super().save(*args, **kwargs)

    @property
    def base_url(self) -> str:
        if self.environment == Environment.CUSTOM:
            return self.custom_base_url.rstrip("/")
        return BASE_URLS[(self.environment, self.venue)]

    @property
    def masked_api_key(self) -> str:
        return f"…{self.api_key_last4}" if self.api_key_last4 else ""


class Outcome(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    UNCERTAIN = "uncertain", "Outcome unknown"
    TEMPORARY = "temporary", "Temporary error"
    RATE_LIMITED = "rate_limited", "Rate limited"
    FATAL = "fatal", "Fatal error"
    SKIPPED = "skipped", "Skipped (superseded)"


class Status(models.TextChoices):
    DISARMED = "disarmed", "Disarmed"
    ARMING = "arming", "Arming"
    ARMED = "armed", "Armed"
    LATE = "late", "Late"
    UNCERTAIN = "uncertain", "Uncertain"
    DISARMING = "disarming", "Disarming"
    EXPIRED = "expired", "Expired"
    FAILING = "failing", "Failing"


# Riskiest first: the board sorts by this.
STATUS_RISK = {
    Status.EXPIRED: 0,
    Status.FAILING: 1,
    Status.UNCERTAIN: 2,
    Status.LATE: 3,
    Status.DISARMING: 4,
    Status.ARMING: 5,
    Status.ARMED: 6,
    Status.DISARMED: 7,
}


@dataclass(frozen=True)
class PolicyStatus:
    state: Status
    # When the exchange's countdown runs out if no further beat is acknowledged (None when not armed there).
    expires_at: datetime | None
    remaining_ms: int | None
    # The send time of the last acknowledged arm: the conservative "armed since" the page shows.
    confirmed_at: datetime | None
    detail: str

    @property
    def risk(self) -> int:
        return STATUS_RISK[self.state]


# Desired state: written only by heartbeats.actions (arm, disarm, disarm all), never by an edit.
DESIRED_FIELDS = ("armed", "generation", "desired_changed_at")
# Facts about the exchange: written only by whoever sent the request (the engine's writer, the web's fallback
# sender), never by an edit or by people. The one list: forms, admin, engine and records all use it.
ENGINE_FACTS = (
    "last_arm_sent_at",
    "last_arm_countdown_ms",
    "last_arm_generation",
    "disarm_acked_at",
    "disarm_acked_generation",
    "final_disarm_generation",
    "last_attempt_at",
    "last_outcome",
    "last_error",
    "fatal_generation",
    "next_due_at",
)


class PolicyQuerySet(models.QuerySet):
    def with_account(self):
        """Policies with their account, without the account's secrets (AccountQuerySet.without_secrets)."""
        return self.select_related("account").defer(*(f"account__{name}" for name in SECRET_FIELDS))


class CountdownPolicy(models.Model):
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="policies")
    symbol = models.CharField(max_length=32)
    countdown_ms = models.PositiveIntegerField(default=120_000)
    interval_s = models.PositiveIntegerField(default=30, help_text="Seconds between heartbeats.")

    # Desired state, set by people. Every arm or disarm bumps `generation` in the same UPDATE, committed
    # before anything is sent, so a beat signed for an older generation can be recognised as stale.
    armed = models.BooleanField(default=False)
    generation = models.PositiveBigIntegerField(default=0)
    desired_changed_at = models.DateTimeField(null=True, blank=True)

    # Facts the engine records. "Acknowledged" means the exchange answered 200 to that request.
    last_arm_sent_at = models.DateTimeField(null=True, blank=True)  # send time of the last acknowledged arm
    last_arm_countdown_ms = models.PositiveIntegerField(null=True, blank=True)
    last_arm_generation = models.PositiveBigIntegerField(null=True, blank=True)
    disarm_acked_at = models.DateTimeField(null=True, blank=True)
    disarm_acked_generation = models.PositiveBigIntegerField(null=True, blank=True)
    # Generation whose second, late `0` (sent after recvWindow + clock error) was acknowledged.
    final_disarm_generation = models.PositiveBigIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # Set when a fatal error stopped this generation; a new arm or disarm (new generation) clears it.
    fatal_generation = models.PositiveBigIntegerField(null=True, blank=True)
    # The engine's "what is due" query reads this indexed column only.
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The trading system that holds this switch (heartbeats.strategies): beaten only while it pings.
    strategy = models.ForeignKey(
        "heartbeats.Strategy", null=True, blank=True, on_delete=models.SET_NULL, related_name="policies"
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "countdown policies"
        ordering = ["account__label", "symbol"]
        constraints = [models.UniqueConstraint(fields=["account", "symbol"], name="one_policy_per_symbol")]
        # Declared here so the permission survives test flushes; migration 0002 gives it to the operator role.
        permissions = [("operate_policies", "Can arm and disarm countdown policies")]

    def __str__(self):
        return f"{self.account.label} {self.symbol}"

    # Disarm all acts on armed policies and on disarmed ones whose disarm the exchange has not acknowledged
    # yet. The query (for actions) and the property (for rows already loaded) say the same thing.
    @staticmethod
    def disarm_all_scope() -> Q:
        return Q(armed=True) | (
            Q(armed=False, generation__gt=0) & ~Q(disarm_acked_generation=F("generation"))
        )

    @property
    def in_disarm_all_scope(self) -> bool:
        return self.armed or (self.generation > 0 and self.disarm_acked_generation != self.generation)

    # A disarm is owed until the exchange acknowledged both of its zeros (the second one, sent once no beat
    # signed earlier can still be accepted, is what makes a disarm final), unless a fatal error stopped it.
    # The one predicate: the engine's planner (plan.owes_disarm) says the same of its working copy.
    @staticmethod
    def owes_disarm_q() -> Q:
        settled = Q(disarm_acked_generation=F("generation")) & Q(final_disarm_generation=F("generation"))
        return Q(armed=False, generation__gt=0) & ~settled & ~Q(fatal_generation=F("generation"))

    @property
    def late_after(self) -> timedelta:
        """A beat is late once this much has passed since the last acknowledged arm."""
        return timedelta(seconds=self.interval_s * 1.5 + 2)

    def status(self, now: datetime | None = None) -> PolicyStatus:
        """The one place a policy's status and expected expiry are computed, from stored facts and one clock
        reading. Expiry is conservative: send time of the last acknowledged arm + its countdown (the exchange
        may have applied it later, never earlier)."""
        now = now or timezone.now()
        expires_at = None
        if self.last_arm_sent_at is not None and self.last_arm_countdown_ms:
            expires_at = self.last_arm_sent_at + timedelta(milliseconds=self.last_arm_countdown_ms)
        # A disarm acknowledged after the last arm was sent stops the exchange's countdown.
        disarmed_since_arm = self.disarm_acked_at is not None and (
            self.last_arm_sent_at is None or self.disarm_acked_at >= self.last_arm_sent_at
        )
        live_expiry = None if disarmed_since_arm else expires_at
        remaining = None
        if live_expiry is not None:
            remaining = max(0, int((live_expiry - now).total_seconds() * 1000))
        confirmed_at = None if disarmed_since_arm else self.last_arm_sent_at

        def result(state, detail):
            return PolicyStatus(state, live_expiry, remaining, confirmed_at, detail)

        failing = self.fatal_generation is not None and self.fatal_generation == self.generation
        if not self.armed:
            if failing:
                return result(Status.FAILING, self.last_error or "The disarm was refused by the exchange.")
            if self.generation == 0 or self.disarm_acked_generation == self.generation:
                if live_expiry is not None and remaining == 0:
                    return result(Status.DISARMED, "Disarmed; the exchange countdown had already expired.")
                return result(Status.DISARMED, "Not armed on the exchange.")
            if live_expiry is not None and remaining == 0:
                return result(Status.EXPIRED, "Countdown expired before the disarm was acknowledged.")
            return result(Status.DISARMING, "Disarm sent, waiting for the exchange to acknowledge it.")

        if failing:
            return result(Status.FAILING, self.last_error or "Heartbeats stopped after a fatal error.")
        if live_expiry is not None and remaining == 0:
            return result(Status.EXPIRED, "The countdown ran out: the exchange cancelled the open orders.")
        if self.last_arm_generation != self.generation or live_expiry is None:
            if self.last_outcome == Outcome.UNCERTAIN:
                return result(Status.UNCERTAIN, "The arm's outcome is unknown; retrying.")
            return result(Status.ARMING, "Arm sent, waiting for the exchange to acknowledge it.")
        if (
            self.last_outcome == Outcome.UNCERTAIN
            and self.last_attempt_at
            and (self.last_attempt_at > self.last_arm_sent_at)
        ):
            return result(Status.UNCERTAIN, "The last heartbeat's outcome is unknown; retrying.")
        if now - self.last_arm_sent_at > self.late_after:
            return result(Status.LATE, "Heartbeats are late; the countdown is still running.")
        return result(Status.ARMED, "Armed; heartbeats on time.")


class BeatKind(models.TextChoices):
    ARM = "arm", "Arm"
    DISARM = "disarm", "Disarm"


class Beat(models.Model):
    """One request to countdownCancelAll and what came of it. Pruned after settings.BEAT_RETENTION_DAYS."""

    policy = models.ForeignKey(CountdownPolicy, on_delete=models.CASCADE, related_name="beats")
    generation = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=8, choices=BeatKind.choices)
    countdown_ms = models.PositiveIntegerField()
    due_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(db_index=True)
    latency_ms = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    message = models.CharField(max_length=300, blank=True)
    server_time = models.DateTimeField(null=True, blank=True)
    used_weight = models.PositiveIntegerField(null=True, blank=True)
    sender = models.CharField(
        max_length=100, blank=True, help_text="Engine identity, or 'web' for direct sends."
    )

    class Meta:
        ordering = ["-sent_at"]
        indexes = [models.Index(fields=["policy", "-sent_at"])]

    def __str__(self):
        return f"{self.kind} {self.policy_id} @ {self.sent_at:%H:%M:%S.%f}"


class Action(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT = "sign_out", "Signed out"
    ARM = "arm", "Arm"
    DISARM = "disarm", "Disarm"
    DISARM_ALL = "disarm_all", "Disarm all"
    REARM = "rearm", "Re-arm"
    ARM_SELECTED = "arm_selected", "Arm selected"
    DISARM_SELECTED = "disarm_selected", "Disarm selected"
    POLICY_CREATE = "policy_create", "Policy created"
    POLICY_CHANGE = "policy_change", "Policy changed"
    POLICY_DELETE = "policy_delete", "Policy deleted"
    ACCOUNT_CREATE = "account_create", "Account created"
    ACCOUNT_CHANGE = "account_change", "Account changed"
    ACCOUNT_DELETE = "account_delete", "Account deleted"
    KEY_ROTATE = "key_rotate", "API key rotated"
    ENGINE_START = "engine_start", "Engine started"
    ENGINE_STOP = "engine_stop", "Engine stopped"
    SECOND_FACTOR_ADDED = "2fa_added", "Second factor added"
    SECOND_FACTOR_REMOVED = "2fa_removed", "Second factor removed"
    SECOND_FACTOR_PASSED = "2fa_passed", "Second factor passed"
    SECOND_FACTOR_FAILED = "2fa_failed", "Failed second factor"
    SECOND_FACTOR_RESET = "2fa_reset", "Second factor reset"
    RECOVERY_CODES = "recovery_codes", "Recovery codes issued"
    WINDOW_CREATE = "window_create", "Maintenance window created"
    WINDOW_START = "window_start", "Maintenance window started"
    WINDOW_END = "window_end", "Maintenance window ended"
    WINDOW_END_EARLY = "window_end_early", "Maintenance window ended early"
    WINDOW_EXTEND = "window_extend", "Maintenance window extended"
    CHANNEL_CREATE = "channel_create", "Alert channel created"
    CHANNEL_CHANGE = "channel_change", "Alert channel changed"
    CHANNEL_DELETE = "channel_delete", "Alert channel deleted"
    CHANNEL_TEST = "channel_test", "Alert channel tested"
    STRATEGY_CREATE = "strategy_create", "Strategy created"
    STRATEGY_CHANGE = "strategy_change", "Strategy changed"
    STRATEGY_DELETE = "strategy_delete", "Strategy deleted"
    STRATEGY_KEY = "strategy_key", "Strategy ping URL replaced"
    STRATEGY_SILENT = "strategy_silent", "Strategy went silent"
    STRATEGY_FAILED = "strategy_failed", "Strategy reported a failure"
    STRATEGY_RESUMED = "strategy_resumed", "Strategy resumed"
    STRATEGY_RELEASE = "strategy_release", "Strategy hold released"
    CANCEL_ORDERS = "cancel_orders", "Cancel orders now"
    TOKEN_CREATE = "token_create", "API token created"
    TOKEN_REVOKE = "token_revoke", "API token revoked"


class AppendOnlyError(Exception):
    pass


class Operation(models.Model):
    """Append-only record of a human action: who, when, from where, what changed. Never updated or deleted."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=24, choices=Action.choices, db_index=True)
    account = models.ForeignKey(ExchangeAccount, null=True, blank=True, on_delete=models.SET_NULL)
    policy = models.ForeignKey(CountdownPolicy, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    # What changed ({"field": [old, new]}); never holds secrets.
    changes = models.JSONField(default=dict, blank=True)
    # For arm/disarm/disarm all/re-arm/selections: [{"policy": id, "account": label, "symbol": s,
    # "generation": g, "changed": whether this operation gave it that generation}, ...].
    # Per-policy results are read from the beats of those generations, so this row never needs updating.
    targets = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("Operations are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Operations are append-only.")


class WindowState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    ENDED = "ended", "Ended"
    CANCELLED = "cancelled", "Cancelled before it started"


class MaintenanceWindow(models.Model):
    """Planned time without dead man's switches: its policies (and every policy of its accounts) are disarmed
    at `starts_at` and re-armed at `ends_at` by heartbeats.maintenance, run by the worker. Everything it needs
    is in this row, so a restart in between loses nothing."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_by_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    created_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    accounts = models.ManyToManyField(ExchangeAccount, blank=True, related_name="maintenance_windows")
    policies = models.ManyToManyField(CountdownPolicy, blank=True, related_name="maintenance_windows")
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField(db_index=True)
    state = models.CharField(
        max_length=16, choices=WindowState.choices, default=WindowState.SCHEDULED, db_index=True
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # What the start disarmed: {"policy id": generation its disarm gave it}. The end re-arms a policy only if
    # it is still disarmed at exactly that generation: nobody touched it by hand meanwhile.
    disarmed = models.JSONField(default=dict, blank=True)
    start_operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self):
        return f"Maintenance #{self.pk} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M} UTC"

    @property
    def open(self) -> bool:
        return self.state in (WindowState.SCHEDULED, WindowState.RUNNING)


class EngineLease(models.Model):
    """One row per egress identity. Only the engine whose `holder` matches and whose lease has not expired
    may send for that identity; leases are taken and renewed with a conditional UPDATE."""

    egress = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.egress}: {self.holder or 'free'}"


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
    # An engine stops arming from memory this long after its last read of desired state (engine config
    # `desired_stale_after`, 3 s by default) and the web sends the zeros itself from this long on: later
    # than the engine's last possible arm, so the second zero (recvWindow + clock error after the first)
    # undoes any such arm.
    DEAF_AFTER = timedelta(seconds=4)

    def __str__(self):
        return self.engine_id

    def is_stale(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) - self.seen_at > self.STALE_AFTER

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
    used in the current minute, a 429 pause and a 418 ban. Shared by every process and shift that sends from
    that address, so it survives hand-overs and restarts; every request obeys it (heartbeats.ratelimits).
    Also the claim of the web's fallback sender, so one process at a time sends for the address."""

    egress = models.CharField(max_length=64)
    base_url = models.CharField(max_length=200)
    # The exchange's minute (epoch ms // 60000 on its clock) that `used_weight` belongs to.
    minute = models.BigIntegerField(default=0)
    used_weight = models.PositiveIntegerField(default=0)
    weight_limit = models.PositiveIntegerField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    banned_until = models.DateTimeField(null=True, blank=True)
    fallback_holder = models.CharField(max_length=100, blank=True)
    fallback_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "address rate limit"
        constraints = [models.UniqueConstraint(fields=["egress", "base_url"], name="one_row_per_address")]

    def __str__(self):
        return f"{self.egress} → {self.base_url}"


# Alerting's models live with the rest of alerting; Django finds them through this module.
from heartbeats.alerts.models import (  # noqa: E402, F401
    AlertChannel,
    AlertCondition,
    AlertEvent,
    Delivery,
    Duty,
    Notification,
    NotificationKind,
)

# The token API's model lives with the API; Django finds it through this module.
from heartbeats.api.models import ApiToken  # noqa: E402, F401
from heartbeats.killswitch.models import CancelState, OrderCancel, OrderKind, OrdersAtStake  # noqa: E402, F401
from heartbeats.strategies.models import HoldReason, PingKind, Strategy, StrategyPing  # noqa: E402, F401
