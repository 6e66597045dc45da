"""The Django admin: accounts with write-only keys, policies with their live status, and read-only beats,
operations and engine records. Rights follow the roles (heartbeats.domain.roles) through model permissions.

Operations are the audit trail: nobody, superuser included, can add, change or delete them here. Account and
policy edits made here write Operations of their own (audit.record).
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation, IncorrectLookupParameters, csrf_protect_m
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import Failure, OrmQ, Schedule, Success

from heartbeats import text, twofactor
from heartbeats.desk.alerts import delivery
from heartbeats.domain import audit
from heartbeats.domain.validation import VENUE_NAMES
from heartbeats.exchange import venues
from heartbeats.formats.durations import duration
from heartbeats.forms import AccountForm, PolicyForm
from heartbeats.forms.alerts import ChannelForm, describe
from heartbeats.models import (
    DESIRED_FIELDS,
    ENGINE_FACTS,
    Action,
    AddressLimits,
    Beat,
    CountdownPolicy,
    Duty,
    Effect,
    EngineLiveness,
    ExchangeAccount,
    MaintenanceWindow,
    Operation,
    OperationTarget,
    Status,
)
from heartbeats.models.alerts import AlertChannel, AlertCondition, Notification
from heartbeats.models.orders import OrderCancel, OrdersAtStake
from heartbeats.models.policies import switch_label
from heartbeats.models.strategies import Strategy
from heartbeats.models.tokens import ApiToken


class SafeChangeList(ChangeList):
    """A hand-written list URL can make Django's admin overflow: a year past 9998 in the date drill-down
    (datetime raises) or a 30-digit id in an `__in` filter (the SQLite driver raises). Both are bad filters,
    so they get the admin's own answer to one (the unfiltered list, flagged ?e=1), not a server error."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request):
        try:
            return super().get_results(request)
        except OverflowError as exc:
            raise IncorrectLookupParameters(exc) from exc


class SafeChangeListMixin:
    def get_changelist(self, request, **kwargs):
        return SafeChangeList


class _SaveRefused(Exception):
    def __init__(self, form):
        self.form = form


class ChecksOutsideTransactionMixin:
    """Django wraps the whole add/change view in a transaction; our forms call the exchange while validating,
    and no transaction may span a network call (on SQLite it would hold the write lock the engine needs).
    So validation runs in autocommit and only the save is atomic (see save_model).

    The save re-checks the stored row under a lock and may refuse (e.g. a policy armed meanwhile): the page
    then shows the posted form again with the refusal as its error, as for any invalid form."""

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except _SaveRefused as refused:
            # The form caches its errors, so this second pass renders it without validating it again.
            request._refused_form = refused.form
            return self._changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        refused = getattr(request, "_refused_form", None)
        if refused is not None:
            return lambda *args, **kwargs: refused
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        # obj is form.instance: the same audited save the pages use (one transaction, no network).
        try:
            form.save_audited(user=request.user, ip=audit.client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
            raise _SaveRefused(form) from None

    def save_related(self, request, form, formsets, change):
        # save_audited() wrote the form's many-to-many fields with the row, under its lock: not again here.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        # Bulk delete would skip delete_model and its audit record: delete one at a time.
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions


class ReadOnlyMixin:
    """Nothing added, changed or deleted here, and no bulk action."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        return {}


class ReadOnlyAdmin(ReadOnlyMixin, SafeChangeListMixin, admin.ModelAdmin):
    pass


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(SafeChangeListMixin, ChecksOutsideTransactionMixin, admin.ModelAdmin):
    form = AccountForm
    step_up_what = "Changing an exchange account or its key"
    list_display = [
        "label",
        "venue",
        "environment",
        "key_type",
        "api_key_shown",
        "egress",
        "enabled",
        "policies",
    ]
    list_filter = ["venue", "environment", "key_type", "egress", "enabled"]
    # Never search encrypted columns: they hold ciphertext, and a search box is no place for a key.
    search_fields = ["label", "egress", "api_key_last4"]
    readonly_fields = ["api_key_shown", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["label", "venue", "environment", "custom_base_url", "egress", "enabled"]}),
        (
            "API key (write-only)",
            {
                "fields": ["key_type", "api_key_shown", *AccountForm.KEY_FIELDS],
                "description": "Keys are never shown again after saving; only the last 4 characters of the "
                "API key. A new or changed key is checked against the exchange before it is saved.",
            },
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]

    # Error reports (the 500 page with DEBUG off, mails to ADMINS) must not carry the posted key or any local
    # variable below this view: Django's own frames hold the plaintext while it is being encrypted.
    @method_decorator(sensitive_variables())
    @method_decorator(sensitive_post_parameters(*AccountForm.KEY_FIELDS))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            # A new account has no stored key and no record dates yet: "-" under them only adds noise.
            return [
                (name, {**opts, "fields": [f for f in opts["fields"] if f != "api_key_shown"]})
                for name, opts in fieldsets
                if name != "Record"
            ]
        if not self.has_change_permission(request, obj):
            # View-only: no key inputs at all, only the masked key.
            return [
                (name, {**opts, "fields": [f for f in opts["fields"] if f not in AccountForm.KEY_FIELDS]})
                for name, opts in fieldsets
            ]
        return fieldsets

    @admin.display(description="Stored API key")
    def api_key_shown(self, obj):
        return obj.masked_api_key or "-"

    @admin.display(description="Policies")
    def policies(self, obj):
        return obj.policies.count()

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit.record(
                Action.ACCOUNT_DELETE,
                user=request.user,
                ip=audit.client_ip(request),
                account=obj,
                changes={"label": [obj.label, None], "api_key": [obj.masked_api_key, None]},
            )
            super().delete_model(request, obj)


class StatusFilter(admin.SimpleListFilter):
    """Filter on the computed status (CountdownPolicy.status), not on a stored column."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Status.choices

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        matching = [p.pk for p in queryset.with_account() if p.status().state == self.value()]
        return queryset.filter(pk__in=matching)


@admin.register(CountdownPolicy)
class CountdownPolicyAdmin(SafeChangeListMixin, ChecksOutsideTransactionMixin, admin.ModelAdmin):
    form = PolicyForm
    list_display = [
        "symbol_shown",
        "account",
        "venue_shown",
        "status_shown",
        "armed",
        "countdown_ms",
        "interval_s",
        "last_attempt_at",
        "last_outcome",
    ]
    list_filter = [StatusFilter, "armed", "account", "account__venue", "last_outcome"]
    list_select_related = ["account"]
    search_fields = ["symbol", "account__label"]
    # Arm and disarm go through the board (heartbeats.desk.actions); the engine's facts are its own.
    STATE_FIELDS = [
        "status_shown",
        "expires_shown",
        *DESIRED_FIELDS,
        *ENGINE_FACTS,
        "created_at",
        "updated_at",
    ]
    readonly_fields = STATE_FIELDS
    fieldsets = [
        (None, {"fields": ["account", "symbol", "countdown_ms", "interval_s"]}),
        (
            "State (arm and disarm from the board; read-only here)",
            {"fields": STATE_FIELDS},
        ),
    ]

    @admin.display(description="Symbol / underlying", ordering="symbol")
    def symbol_shown(self, obj):
        # On Options the switch covers an underlying, every option on it; on OKX and Kraken Futures the whole
        # account (or, on OKX, one order tag).
        if venues.VENUES.get(obj.account.venue, venues.USDM).covers == venues.UNDERLYING:
            return f"{obj.symbol} (underlying)"
        return obj.switch_name

    @admin.display(description="Venue", ordering="account__venue")
    def venue_shown(self, obj):
        return VENUE_NAMES.get(obj.account.venue, obj.account.venue)

    @admin.display(description="Status")
    def status_shown(self, obj):
        if obj.pk is None:
            return "-"
        status = obj.status()
        return format_html('<span title="{}">{}</span>', status.detail, status.state.label)

    @admin.display(description="Expires at")
    def expires_shown(self, obj):
        if obj.pk is None:
            return "-"
        return obj.status().expires_at or "-"

    def has_delete_permission(self, request, obj=None):
        # An armed policy's countdown keeps running on the exchange: disarm it before deleting it.
        if obj is not None and (obj.armed or obj.status().state != Status.DISARMED):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit.record(
                Action.POLICY_DELETE,
                user=request.user,
                ip=audit.client_ip(request),
                policy=obj,
                changes={"symbol": [obj.symbol, None], "account": [obj.account.label, None]},
                targets=[audit.target(obj, Effect.DELETED)],
            )
            super().delete_model(request, obj)


@admin.register(Beat)
class BeatAdmin(ReadOnlyAdmin):
    list_display = [
        "sent_at",
        "policy",
        "kind",
        "generation",
        "outcome_shown",
        "countdown",
        "latency",
        "http_status",
        "error_code",
        "used_weight",
        "sender",
    ]
    list_filter = ["outcome", "kind", "policy__account", "sender"]
    list_select_related = ["policy__account"]
    search_fields = ["policy__symbol", "policy__account__label", "message", "sender"]
    date_hierarchy = "sent_at"

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_shown(self, obj):
        return obj.outcome_text

    @admin.display(description="Countdown", ordering="countdown_ms")
    def countdown(self, obj):
        return duration(obj.countdown_ms)

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, obj):
        return duration(obj.latency_ms)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(ReadOnlyAdmin):
    """Read-only: windows are scheduled, ended and extended on the Maintenance page, audited there."""

    list_display = ["pk", "state", "starts_at", "ends_at", "created_by_name", "reason", "disarmed_count"]
    list_filter = ["state"]
    search_fields = ["reason", "created_by_name"]
    date_hierarchy = "starts_at"

    @admin.display(description="disarmed")
    def disarmed_count(self, obj):
        return len(obj.disarmed or {})


class OperationTargetInline(ReadOnlyMixin, admin.TabularInline):
    """An operation's targets, read-only like the operation: shown to whoever may read operations."""

    model = OperationTarget
    fields = ["policy", "account_label", "switch_shown", "effect", "generation", "changed"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name = "target"

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("heartbeats.view_operation")

    @admin.display(description="Symbol")
    def switch_shown(self, obj):
        # The policy's own name when it is still there (an OKX tag), else the symbol as it was kept.
        return obj.policy.switch_title if obj.policy_id and obj.policy else switch_label(obj.symbol)


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    # One column for what it acted on (a policy names its account), so Reason and What changed fit 1400 px.
    list_display = ["at", "username", "action", "ip", "acted_on", "reason", "changes_summary"]
    list_filter = ["action", "username", "account"]
    list_select_related = ["account", "policy__account"]
    search_fields = ["username", "reason", "ip", "account__label", "policy__symbol"]
    date_hierarchy = "at"
    fields = [
        "at",
        "username",
        "user",
        "ip",
        "action",
        "account",
        "policy",
        "reason",
        "changes_shown",
    ]
    readonly_fields = fields
    inlines = [OperationTargetInline]

    class Media:
        css = {"all": ["heartbeats/admin.css"]}

    @admin.display(description="Changes")
    def changes_shown(self, obj):
        return _pretty(obj.changes)

    @admin.display(description="On", ordering="account__label")
    def acted_on(self, obj):
        return obj.policy or obj.account or "-"

    @admin.display(description="What changed")
    def changes_summary(self, obj):
        """One line for the list: "armed: False → True; symbol: – → BTCUSDT" (details on the row's page)."""
        if not isinstance(obj.changes, dict) or not obj.changes:
            return "-"
        parts = []
        # Sorted: PostgreSQL's jsonb does not keep the order the keys were written in.
        for name, value in sorted(obj.changes.items()):
            if isinstance(value, list | tuple) and len(value) == 2:
                old, new = ("–" if v is None else v for v in value)
                parts.append(f"{name}: {old} → {new}")
            else:
                parts.append(f"{name}: {value}")
        text = "; ".join(parts)
        return text if len(text) <= 120 else text[:119] + "…"


def _pretty(value):
    if not value:
        return "-"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, default=str))


@admin.register(Duty)
class DutyAdmin(ReadOnlyAdmin):
    """Who holds each duty (the engines' leases among them), when it last ran and its last error."""

    list_display = ["name", "holder", "expires_at", "acquired_at", "last_run_at", "failures", "last_error"]
    search_fields = ["name", "holder"]


@admin.register(EngineLiveness)
class EngineLivenessAdmin(ReadOnlyAdmin):
    list_display = [
        "engine_id",
        "egress",
        "host",
        "pid",
        "seen_at",
        "holds_lease",
        "clock_offset_ms",
        "used_weight",
        "weight_limit",
        "desired_read_at",
        "stopping",
        "last_error",
    ]
    list_filter = ["egress", "holds_lease", "stopping"]
    search_fields = ["engine_id", "host"]
    date_hierarchy = "seen_at"


@admin.register(AddressLimits)
class AddressLimitsAdmin(ReadOnlyAdmin):
    """What the exchange counts per sending address, as every process last left it."""

    list_display = [
        "egress",
        "base_url",
        "used_weight",
        "weight_limit",
        "paused_until",
        "banned_until",
        "updated_at",
    ]
    list_filter = ["egress"]


def _plain_names(form_class, *fields):
    """`form_class` refusing control and invisible characters in `fields` (heartbeats.text): names show in
    the audit trail and on every page."""

    def clean(self):
        cleaned = form_class.clean(self)
        for name in fields:
            why = text.refusal(str(self.cleaned_data.get(name) or ""))
            if why:
                self.add_error(name, why)
        return cleaned

    return type(form_class.__name__, (form_class,), {"clean": clean})


class GuardUserAdmin(SafeChangeListMixin, UserAdmin):
    """Django's user admin, with each user's second factor shown and a superuser's reset of it (audited).
    Changing users (roles, superuser status, passwords) needs a fresh second factor, like every admin change
    (heartbeats.admin_site)."""

    step_up_what = "Changing a user"
    actions = ["reset_second_factor"]
    form = _plain_names(UserAdmin.form, "first_name", "last_name", "email")

    def get_list_display(self, request):
        return [*super().get_list_display(request), "second_factor"]

    @admin.display(description="Second factor")
    def second_factor(self, obj):
        kinds = [twofactor.KIND_LABELS[twofactor.kind_of(d)] for d in twofactor.primary_devices(obj)]
        if not kinds:
            return "required, not enrolled" if twofactor.required_for(obj) else "-"
        codes = twofactor.recovery_codes_left(obj)
        return f"{', '.join(kinds)}; {codes} recovery code{'s' if codes != 1 else ''}"

    def has_reset_second_factor_permission(self, request):
        return request.user.is_superuser

    @admin.action(
        description="Reset second factor (remove every app, passkey and recovery code)",
        permissions=["reset_second_factor"],
    )
    def reset_second_factor(self, request, queryset):
        if not request.user.is_superuser:
            raise PermissionDenied("Only a superuser can reset someone's second factor.")
        for target in queryset:
            removed = twofactor.reset_devices(
                target, by=request.user, ip=audit.client_ip(request), keep_session=request.session.session_key
            )
            what = ", ".join(removed) if removed else "nothing to remove"
            self.message_user(
                request,
                f"Second factor of {target.get_username()} reset ({what}). They enrol again at their next "
                "sign-in.",
                messages.SUCCESS,
            )


# Devices are managed by their owners (the Second factor page) and reset by superusers (the user admin):
# django-otp's own device admins would show keys and let a superuser make a device for somebody else.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)
if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), GuardUserAdmin)


class GuardGroupAdmin(SafeChangeListMixin, GroupAdmin):
    """Django's group admin, its names plain text. Changes are audited (heartbeats.domain.privileges)."""

    step_up_what = "Changing a group's permissions"
    form = _plain_names(forms.modelform_factory(Group, fields="__all__"), "name")


if admin.site.is_registered(Group):
    admin.site.unregister(Group)
admin.site.register(Group, GuardGroupAdmin)


def _make_safe(model):
    """Give an admin registered by another app (the users') the same refusal of overflowing filters."""
    if not admin.site.is_registered(model):
        return
    current = type(admin.site.get_model_admin(model))
    if issubclass(current, SafeChangeListMixin):
        return
    admin.site.unregister(model)
    admin.site.register(model, type(current.__name__, (SafeChangeListMixin, current), {}))


_make_safe(get_user_model())


class ReadOnlyQueueMixin(ReadOnlyMixin):
    """django-q2's schedules, tasks and queue, read-only. A Schedule names a Python callable that the worker
    runs with the encryption keys at hand: no form may create or change one, and no task is resubmitted
    from here (heartbeats.duties.queue_guard refuses, on the worker as well, any function but its own)."""


for _model in (Schedule, Success, Failure, OrmQ):
    if admin.site.is_registered(_model):
        _queue_admin = type(admin.site.get_model_admin(_model))
        admin.site.unregister(_model)
        admin.site.register(
            _model, type(_queue_admin.__name__, (ReadOnlyQueueMixin, SafeChangeListMixin, _queue_admin), {})
        )


@admin.register(AlertChannel)
class AlertChannelAdmin(SafeChangeListMixin, ChecksOutsideTransactionMixin, admin.ModelAdmin):
    """Channels, with the same write-only URL form and the same audited save as the Alerts page; every save,
    delete and test is audited. The URL is never shown: only its scheme."""

    form = ChannelForm
    step_up_what = "Changing an alert channel"
    list_display = ["name", "url_hint", "enabled", "events_shown", "repeat_minutes", "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["name"]
    fields = ["name", "url_hint", "new_url", "enabled", "events", "accounts", "repeat_minutes"]
    readonly_fields = ["url_hint"]
    actions = ["send_test"]

    @admin.display(description="events")
    def events_shown(self, obj):
        return ", ".join(obj.event_labels)

    @method_decorator(sensitive_variables())
    @method_decorator(sensitive_post_parameters("new_url"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            return [f for f in fields if f != "new_url"]
        return fields

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit.record(
                Action.CHANNEL_DELETE,
                user=request.user,
                ip=audit.client_ip(request),
                reason=f"alert channel {obj.name}",
                changes={k: [v, None] for k, v in describe(obj).items()},
            )
            super().delete_model(request, obj)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        # Bulk delete would skip delete_model and its audit record.
        found = super().get_actions(request, action_location)
        found.pop("delete_selected", None)
        if not self.has_change_permission(request):
            found.pop("send_test", None)
        return found

    @admin.action(description="Send a test to the selected channels")
    def send_test(self, request, queryset):
        for channel in queryset:
            audit.record(
                Action.CHANNEL_TEST,
                user=request.user,
                ip=audit.client_ip(request),
                reason=f"alert channel {channel.name}",
            )
            note = delivery.send_test(channel, username=request.user.get_username())
            if note.status == "sent":
                self.message_user(request, f"Test sent to “{channel.name}”.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"Test to “{channel.name}” not delivered: {note.last_error}", messages.ERROR
                )


@admin.register(AlertCondition)
class AlertConditionAdmin(ReadOnlyAdmin):
    """Problems alerting has seen, open and cleared."""

    list_display = ["title", "event", "since", "alerted_at", "changed_at", "cleared_at", "active"]
    list_filter = ["active", "event"]
    search_fields = ["title", "key"]
    date_hierarchy = "opened_at"


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Every notification queued, sent, retried or given up on: append-only, next to the audit trail."""

    list_display = [
        "created_at",
        "channel_name",
        "kind",
        "event",
        "title",
        "status",
        "attempts",
        "last_error",
    ]
    list_filter = ["status", "kind", "event", "channel_name"]
    search_fields = ["title", "body", "channel_name"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "channel_name",
        "kind",
        "event",
        "severity",
        "title",
        "body",
        "requested_by",
        "status",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    readonly_fields = fields


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """API tokens, read-only: key admins create and revoke them on the API tokens page, with a fresh second
    factor and an audit record. Revoked tokens stay listed so their names in the audit trail stay known."""

    list_display = [
        "name",
        "role",
        "masked",
        "allowed_addresses",
        "created_at",
        "created_by_name",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    # The hash is left out: of no use to people, and no reason to hand it to anyone.
    fields = [
        "name",
        "role",
        "masked",
        "allowed_addresses",
        "created_at",
        "created_by_name",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    readonly_fields = fields


@admin.register(Strategy)
class StrategyAdmin(ReadOnlyAdmin):
    """Read-only: strategies are made, changed and released on the Strategies pages, audited there. The ping
    URL's key is never shown (only its first characters)."""

    list_display = ["name", "owner", "grace_s", "last_ping_at", "held_reason", "held_since", "ping_count"]
    list_filter = ["held_reason", "rearm_on_return", "cancel_when_silent"]
    search_fields = ["name", "owner"]
    exclude = ["ping_key_hash"]


@admin.register(OrderCancel)
class OrderCancelAdmin(ReadOnlyAdmin):
    """Each request of every Cancel orders now, with the exchange's answer."""

    list_display = [
        "operation",
        "account_label",
        "switch_shown",
        "kind",
        "state",
        "error",
        "latency",
        "finished_at",
    ]
    list_filter = ["state", "kind"]
    search_fields = ["account_label", "symbol"]

    @admin.display(description="Took", ordering="latency_ms")
    def latency(self, obj):
        return duration(obj.latency_ms)

    @admin.display(description="Symbol", ordering="symbol")
    def switch_shown(self, obj):
        return switch_label(obj.symbol)


@admin.register(OrdersAtStake)
class OrdersAtStakeAdmin(ReadOnlyAdmin):
    list_display = [
        "policy",
        "orders",
        "algo_orders",
        "buy_notional",
        "sell_notional",
        "checked_at",
        "gone_at",
    ]
