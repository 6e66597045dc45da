"""The maintenance page: every window (running, scheduled, past) for whoever may read the board, and for
operators the forms that schedule one, end one now or extend it. Each change is a plain POST that needs a
fresh second factor, like Disarm all; a refused one shows the page again with the error and nothing
changed. The transitions themselves: heartbeats.desk.maintenance."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from heartbeats import text, twofactor
from heartbeats.desk import maintenance, presenters
from heartbeats.domain import audit, roles
from heartbeats.forms import PlainNumbersMixin
from heartbeats.models import CountdownPolicy, ExchangeAccount, MaintenanceWindow, WindowState
from heartbeats.views.access import (
    fresh_second_factor_required,
    operator_required,
    parse_id,
    viewer_required,
)
from heartbeats.views.operations import AccountChoices

PAST_SHOWN = 50
REASON_REQUIRED = "Give a reason: it is kept in the audit trail with your name."
TIME_FORMAT = "YYYY-MM-DD HH:MM"
TIME_ERROR = (
    f"Give a date and time as {TIME_FORMAT} in 24-hour UTC, e.g. 2026-11-30 14:00 (two in the afternoon)."
)
# 2026-11-30 14:00, with seconds, a "T" for the space or "UTC" after it; ASCII digits only (README, Input).
TIME_PATTERN = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?(?: ?(?:UTC|Z))?",
    re.IGNORECASE,
)
# "Lasts": the alternative to an end time, in minutes.
DURATIONS = [
    ("15", "15 min"),
    ("30", "30 min"),
    ("60", "1 h"),
    ("120", "2 h"),
    ("240", "4 h"),
    ("480", "8 h"),
]


class UTCDateTimeField(forms.DateTimeField):
    """A time typed as 2026-11-30 14:00 and read as UTC, whatever the server's time zone and the browser's
    locale: a plain text input, so no browser shows its own 12-hour picker in its own (white) colours."""

    widget = forms.TextInput(
        attrs={
            "placeholder": TIME_FORMAT,
            "class": "utc-time",
            "autocomplete": "off",
            "spellcheck": "false",
            "maxlength": "23",
        }
    )
    default_error_messages = {"invalid": TIME_ERROR}

    def prepare_value(self, value):
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        match = TIME_PATTERN.fullmatch(str(value).strip())
        if not match:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            return datetime(*(int(part or 0) for part in match.groups()), tzinfo=UTC)
        except ValueError:  # the 30th of February, hour 25
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def _reason(placeholder: str) -> forms.CharField:
    return forms.CharField(
        max_length=1000,
        validators=[text.multiline],
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": placeholder}),
        error_messages={"required": REASON_REQUIRED},
    )


class WindowForm(PlainNumbersMixin, forms.Form):
    reason = _reason("e.g. exchange maintenance 14:00–15:00, strategy release")
    accounts = AccountChoices(
        queryset=ExchangeAccount.objects.without_secrets().order_by("label"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": "Account %(value)s does not exist.",
            "invalid_pk_value": "“%(pk)s” is not an account number.",
        },
    )
    policies = AccountChoices(  # the same id checks, for policies
        queryset=CountdownPolicy.objects.with_account().order_by("account__label", "symbol"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        error_messages={
            "invalid_choice": "Policy %(value)s does not exist.",
            "invalid_pk_value": "“%(pk)s” is not a policy number.",
        },
    )
    starts_at = UTCDateTimeField(label="Start (UTC)", required=False)
    start_now = forms.BooleanField(label="Start now", required=False)
    ends_at = UTCDateTimeField(label="End (UTC)", required=False)
    lasts = forms.ChoiceField(
        label="or lasts",
        choices=[("", "until the end"), *DURATIONS],
        required=False,
        error_messages={"invalid_choice": "Choose how long it lasts from the list."},
    )

    def clean(self):
        data = super().clean()
        now = timezone.now()
        # Start now and a duration stand for the times: what was typed there does not count.
        if data.get("start_now"):
            self.errors.pop("starts_at", None)
            data["starts_at"] = now
        elif not data.get("starts_at") and "starts_at" not in self.errors:
            self.add_error("starts_at", f"Give the start ({TIME_FORMAT}, UTC) or tick Start now.")
        start = data.get("starts_at")
        if data.get("lasts"):
            self.errors.pop("ends_at", None)
            try:
                data["ends_at"] = start + timedelta(minutes=int(data["lasts"])) if start else None
            except OverflowError:  # a start at the end of year 9999
                self.add_error("starts_at", TIME_ERROR)
        elif not data.get("ends_at") and "ends_at" not in self.errors:
            self.add_error("ends_at", f"Give the end ({TIME_FORMAT}, UTC) or choose how long it lasts.")
        end = data.get("ends_at")
        if not self.errors and not data.get("accounts") and not data.get("policies"):
            raise forms.ValidationError("Choose at least one account or policy.")
        if start and start < now - maintenance.START_SLACK:
            self.add_error("starts_at", "The start is in the past: give a time from now on (UTC).")
        if start and end and end <= start:
            self.add_error("ends_at", "The end must come after the start.")
        elif end and end <= now:
            self.add_error("ends_at", "The end must be in the future.")
        elif start and end and end - start > maintenance.LONGEST:
            self.add_error("ends_at", f"A window lasts at most {maintenance.LONGEST.days} days.")
        return data


class EndForm(forms.Form):
    reason = _reason("e.g. maintenance over early")


class ExtendForm(PlainNumbersMixin, forms.Form):
    reason = _reason("e.g. the exchange extended its maintenance")
    ends_at = UTCDateTimeField(
        label="New end (UTC)", error_messages={"required": f"Give the new end ({TIME_FORMAT}, UTC)."}
    )


def _new_window_form() -> WindowForm:
    start = (timezone.now() + timedelta(minutes=1)).astimezone(UTC).replace(second=0, microsecond=0)
    return WindowForm(initial={"starts_at": start, "ends_at": start + timedelta(hours=1)})


def _page(request, *, form=None, error="", status=200):
    windows = MaintenanceWindow.objects.prefetch_related("accounts", "policies__account")
    running = list(windows.filter(state=WindowState.RUNNING).order_by("ends_at"))
    scheduled = list(windows.filter(state=WindowState.SCHEDULED).order_by("starts_at"))
    past = list(
        windows.filter(state__in=[WindowState.ENDED, WindowState.CANCELLED]).order_by("-starts_at")[
            :PAST_SHOWN
        ]
    )
    can_operate = roles.can_operate(request.user)
    fresh = twofactor.fresh(request)
    return render(
        request,
        "heartbeats/maintenance.html",
        {
            "running": running,
            "scheduled": scheduled,
            "past": past,
            "can_operate": can_operate,
            "fresh": fresh,
            "verify_url": f"{reverse('second_factor_verify')}?{urlencode({'next': reverse('maintenance')})}",
            "form": form or (_new_window_form() if can_operate and fresh else None),
            "action_error": error,
            "time_format": TIME_FORMAT,
            "snap": presenters.snapshot(policy_id=0),
        },
        status=status,
    )


def _window(window_id) -> MaintenanceWindow:
    pk = parse_id(window_id, "maintenance window")
    try:
        return MaintenanceWindow.objects.get(pk=pk)
    except MaintenanceWindow.DoesNotExist:
        raise Http404(f"There is no maintenance window {pk}. Nothing was changed.") from None


@require_GET
@viewer_required
def maintenance_page(request):
    return _page(request)


@require_POST
@operator_required
@fresh_second_factor_required("Scheduling or changing a maintenance window")
def maintenance_create(request):
    form = WindowForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            window = maintenance.create(
                user=request.user,
                ip=audit.client_ip(request),
                reason=data["reason"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                account_ids=[a.pk for a in data["accounts"]],
                policy_ids=[p.pk for p in data["policies"]],
            )
        except ValueError as e:
            form.add_error(None, f"{e} Nothing was changed.")
        else:
            messages.success(request, f"Maintenance window #{window.pk} scheduled.")
            return redirect("maintenance")
    return _page(request, form=form, status=400)


@require_POST
@operator_required
@fresh_second_factor_required("Scheduling or changing a maintenance window")
def maintenance_end(request, window_id):
    window = _window(window_id)
    form = EndForm(request.POST)
    if form.is_valid():
        try:
            operation = maintenance.end_now(
                window.pk, user=request.user, ip=audit.client_ip(request), reason=form.cleaned_data["reason"]
            )
        except ValueError as e:
            return _page(request, error=f"Window #{window.pk}: {e} Nothing was changed.", status=400)
        if operation.targets.exists():
            return redirect("operation", operation.pk)  # the re-arms' live results
        messages.success(request, f"Maintenance window #{window.pk} ended.")
        return redirect("maintenance")
    return _page(request, error=f"Window #{window.pk}: {_first_error(form)}", status=400)


@require_POST
@operator_required
@fresh_second_factor_required("Scheduling or changing a maintenance window")
def maintenance_extend(request, window_id):
    window = _window(window_id)
    form = ExtendForm(request.POST)
    if form.is_valid():
        try:
            maintenance.extend(
                window.pk,
                user=request.user,
                ip=audit.client_ip(request),
                reason=form.cleaned_data["reason"],
                ends_at=form.cleaned_data["ends_at"],
            )
        except ValueError as e:
            return _page(request, error=f"Window #{window.pk}: {e} Nothing was changed.", status=400)
        messages.success(request, f"Maintenance window #{window.pk} now ends later.")
        return redirect("maintenance")
    return _page(request, error=f"Window #{window.pk}: {_first_error(form)}", status=400)


def _first_error(form) -> str:
    for name, errors in form.errors.items():
        label = "" if name == "__all__" else f"{form.fields[name].label or name.capitalize()}: "
        return f"{label}{errors[0]} Nothing was changed."
    return "Nothing was changed."
