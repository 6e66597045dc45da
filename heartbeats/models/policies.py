"""Countdown policies (desired state and the engine's facts, and the one status computation) and beats, one
per request sent for a policy."""

from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from heartbeats.exchange import venues
from heartbeats.models.accounts import SECRET_FIELDS, ExchangeAccount

# How every reason a strategy holds heartbeats back begins (domain.holds.hold_reason): a skipped beat with
# such a message was held, not superseded.
HELD_PREFIX = "Held: "


class Outcome(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    UNCERTAIN = "uncertain", "Outcome unknown"
    TEMPORARY = "temporary", "Temporary error"
    RATE_LIMITED = "rate_limited", "Rate limited"
    FATAL = "fatal", "Fatal error"
    SKIPPED = "skipped", "Skipped (held back or superseded)"


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


class PolicyStatus(NamedTuple):
    """A tuple, not a frozen dataclass: the board makes one per policy on every poll, and a tuple is the
    cheapest immutable object to build."""

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


# Desired state: written only by heartbeats.desk.actions (arm, disarm, disarm all), never by an edit.
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


# Venues whose switch covers a whole account (exchange.venues: covers ACCOUNT).
_ACCOUNT_VENUES = frozenset(v.key for v in venues.VENUES.values() if v.covers == venues.ACCOUNT)


def switch_label(symbol: str, venue: str | None = None) -> str:
    """What a switch covers, as people read it, from its stored symbol: the symbol or underlying; on a venue
    whose switch covers the account, "whole account" (or "tag X"). Without the venue (a record kept after its
    policy, such as an operation's target), a blank symbol is the whole account: no other venue has one."""
    if not symbol:
        return "whole account"
    return f"tag {symbol}" if venue in _ACCOUNT_VENUES else symbol


def switch_title(symbol: str, venue: str | None = None) -> str:
    """switch_label with the venue beside an account-wide switch, for lines that show no venue column:
    "whole account (OKX)", "tag mm1 (OKX)", "BTCUSDT"."""
    name = switch_label(symbol, venue)
    if venue in _ACCOUNT_VENUES:
        return f"{name} ({venues.VENUES[venue].short})"
    return name


def covered_orders(symbol: str, venue: str | None = None) -> str:
    """The orders a lapse of the switch cancels, as a sentence names them."""
    if venue in _ACCOUNT_VENUES or not symbol:
        return f"the open orders of tag {symbol}" if symbol else "every open order of the account"
    if venue == venues.OPTIONS.key:
        return f"every open order of every option on {symbol}"
    return f"every open order of {symbol}"


class CountdownPolicy(models.Model):
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="policies")
    # What the switch covers: a symbol (futures), an underlying (Binance Options); on a venue whose switch
    # covers the whole account, "" (or one order tag, where the venue offers it).
    symbol = models.CharField(max_length=32, blank=True)
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
        return f"{self.account.label} {self.switch_title}"

    @property
    def switch_name(self) -> str:
        """What the switch covers, as people read it: the symbol or underlying, or on a venue whose switch
        covers the account, "whole account" (or "tag X")."""
        return switch_label(self.symbol, self.account.venue)

    @property
    def switch_title(self) -> str:
        """switch_name, with the venue beside an account-wide switch ("whole account (OKX)")."""
        return switch_title(self.symbol, self.account.venue)

    @property
    def covered_orders(self) -> str:
        """What a lapse cancels: "every open order of BTCUSDT", "every open order of the account"."""
        return covered_orders(self.symbol, self.account.venue)

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
        return _late_after(self.interval_s)

    def status(self, now: datetime | None = None) -> PolicyStatus:
        """The one place a policy's status and expected expiry are computed, from stored facts and one clock
        reading. Expiry is conservative: send time of the last acknowledged arm + its countdown (the exchange
        may have applied it later, never earlier)."""
        now = now or timezone.now()
        sent = self.last_arm_sent_at
        acked = self.disarm_acked_at
        live_expiry = remaining = None
        # A disarm acknowledged after the last arm was sent stops the exchange's countdown.
        if acked is not None and (sent is None or acked >= sent):
            confirmed_at = None
        else:
            confirmed_at = sent
            if sent is not None and self.last_arm_countdown_ms:
                live_expiry = sent + _milliseconds(self.last_arm_countdown_ms)
                remaining = max(0, int((live_expiry - now).total_seconds() * 1000))
        ran_out = remaining == 0
        generation = self.generation
        failing = self.fatal_generation is not None and self.fatal_generation == generation
        # One state and detail, then one PolicyStatus: the board asks a thousand policies on every poll.
        if not self.armed:
            if failing:
                state, detail = Status.FAILING, self.last_error or "The disarm was refused by the exchange."
            elif generation == 0 or self.disarm_acked_generation == generation:
                if ran_out:
                    state, detail = Status.DISARMED, "Disarmed; the exchange countdown had already expired."
                else:
                    state, detail = Status.DISARMED, "Not armed on the exchange."
            elif ran_out:
                state, detail = Status.EXPIRED, "Countdown expired before the disarm was acknowledged."
            else:
                state, detail = Status.DISARMING, "Disarm sent, waiting for the exchange to acknowledge it."
        elif failing:
            state, detail = Status.FAILING, self.last_error or "Heartbeats stopped after a fatal error."
        elif ran_out:
            state, detail = Status.EXPIRED, "The countdown ran out: the exchange cancelled the open orders."
        elif self.last_arm_generation != generation or live_expiry is None:
            if self.last_outcome == Outcome.UNCERTAIN:
                state, detail = Status.UNCERTAIN, "The arm's outcome is unknown; retrying."
            else:
                state, detail = Status.ARMING, "Arm sent, waiting for the exchange to acknowledge it."
        elif self.last_outcome == Outcome.UNCERTAIN and self.last_attempt_at and self.last_attempt_at > sent:
            state, detail = Status.UNCERTAIN, "The last heartbeat's outcome is unknown; retrying."
        elif now - sent > self.late_after:
            state, detail = Status.LATE, "Heartbeats are late; the countdown is still running."
        else:
            state, detail = Status.ARMED, "Armed; heartbeats on time."
        return PolicyStatus(state, live_expiry, remaining, confirmed_at, detail)


# The spans status() adds, made once per value: the board computes every policy's status on each poll, and a
# desk's policies share a few intervals and countdowns. Bounded: a shortened first arm may send any length.
@lru_cache(maxsize=1024)
def _late_after(interval_s: int) -> timedelta:
    return timedelta(seconds=interval_s * 1.5 + 2)


@lru_cache(maxsize=1024)
def _milliseconds(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)


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

    @property
    def outcome_text(self) -> str:
        """The outcome as people read it: an arm a strategy held back says so in the hold's own words
        (domain.holds), not the plain "Skipped", which is for an arm a later change made pointless."""
        if self.outcome == Outcome.SKIPPED and self.message.startswith(HELD_PREFIX):
            return self.message.rstrip(".")
        return self.get_outcome_display()
