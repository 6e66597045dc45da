"""The audit trail: append-only operations, written only through heartbeats.domain.audit.record()."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from heartbeats.models.accounts import ExchangeAccount
from heartbeats.models.policies import CountdownPolicy


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
    # Privileges (heartbeats.domain.privileges): who may do what is itself audited, whatever path changed it.
    USER_CREATE = "user_create", "User created"
    USER_DELETE = "user_delete", "User deleted"
    USER_FLAGS = "user_flags", "User activated, deactivated, staff or superuser"
    USER_PERMISSIONS = "user_permissions", "User's own permissions changed"
    GROUP_MEMBERS = "group_members", "Group membership changed"
    GROUP_PERMISSIONS = "group_permissions", "Group permissions changed"
    GROUP_CREATE = "group_create", "Group created"
    GROUP_CHANGE = "group_change", "Group renamed"
    GROUP_DELETE = "group_delete", "Group deleted"


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
    # The policies it acted on are OperationTarget rows (`operation.targets`). This column held them as a
    # JSON list until migration 0013 made them rows; it is no longer written or read, and stays one release
    # so that processes of the previous release can still write their operations during a rolling deploy.
    # The next release converts what they wrote and drops it.
    legacy_targets = models.JSONField(default=list, blank=True, editable=False, db_column="targets")

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


class Effect(models.TextChoices):
    """What an operation did to one of its policies."""

    ARMED = "armed", "Armed"
    DISARMED = "disarmed", "Disarmed"
    UNCHANGED = "unchanged", "Listed, unchanged"
    ORDERS_CANCELLED = "orders_cancelled", "Orders cancelled"
    HELD = "held", "Held back"
    RELEASED = "released", "Released"
    CREATED = "created", "Created"
    EDITED = "edited", "Edited"
    DELETED = "deleted", "Deleted"
    # A maintenance window scheduled, extended or called off that covers it (its start and end arm and
    # disarm, and say so).
    COVERED = "covered", "Covered by a maintenance window"


# The effects that give a policy a new generation (heartbeats.domain.desired.set_desired).
GENERATION_EFFECTS = (Effect.ARMED, Effect.DISARMED)


class OperationTarget(models.Model):
    """One policy an operation acted on, and what it did to it; written with its operation by
    heartbeats.domain.audit.record(), never updated or deleted. Per-policy results (did the exchange
    confirm?) are read from the beats of `generation`, so these rows never need updating either."""

    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="targets")
    # Kept when the policy is deleted, with its account and symbol as they were.
    policy = models.ForeignKey(
        CountdownPolicy,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="operation_targets",
        db_index=False,  # target_by_policy starts with it
    )
    account_label = models.CharField(max_length=100)
    symbol = models.CharField(max_length=32)
    # The generation this operation gave the policy or found on it (None only on rows converted from
    # operations that did not note one).
    generation = models.PositiveBigIntegerField(null=True, blank=True)
    # Whether this operation gave the policy `generation` (an arm or a disarm), or only listed it: e.g. a
    # policy already disarming that Disarm all includes. Re-arm acts only on what an operation changed.
    changed = models.BooleanField(default=False)
    effect = models.CharField(max_length=16, choices=Effect.choices)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The policy page: "the operations that touched policy X, newest first".
            models.Index(fields=["policy", "operation"], name="target_by_policy"),
        ]

    def __str__(self):
        return f"#{self.operation_id} {self.account_label} {self.symbol}: {self.get_effect_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("Operation targets are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Operation targets are append-only.")
