"""The maintenance page: every window (running, scheduled, past) for whoever may read the board, and for
operators the forms that schedule one, end one now or extend it. Each change is a plain POST that needs a
fresh second factor, like Disarm all; a refused one shows the page again with the error and nothing
changed. The transitions themselves: heartbeats.desk.maintenance."""

from datetime import UTC, timedelta
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
TIME_HELP = "UTC, e.g. 2026-11-30 14:00"


class UTCDateTimeField(forms.DateTimeField):
    """The page says UTC whatever the server's time zone: a time without an offset is read as UTC."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "widget",
            forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M"),
        )
        kwargs.setdefault("error_messages", {"invalid": f"Give a date and time ({TIME_HELP})."})
        super().__init__(**kwargs)

    def to_python(self, value):
        with timezone.override(UTC):
            try:
                return super().to_python(value)
            except (OverflowError, ValueError):  # a year out of range, however it was spelled
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
    starts_at = UTCDateTimeField(label="Start (UTC)")
    ends_at = UTCDateTimeField(label="End (UTC)")

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("accounts") and not data.get("policies"):
            raise forms.ValidationError("Choose at least one account or policy.")
        start, end = data.get("starts_at"), data.get("ends_at")
        now = timezone.now()
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
    ends_at = UTCDateTimeField(label="New end (UTC)")


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
