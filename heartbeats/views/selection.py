"""Acting on many policies at once: "Re-arm these N" after a Disarm all, and Arm / Disarm selected from the
board. Each is a confirmation page (what, how many, how long the arms will take, a reason) whose POST makes
one audited operation and leads to its live results, like Disarm all."""

from django import forms
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from heartbeats import text, twofactor
from heartbeats.desk import actions, presenters
from heartbeats.desk.presenters import epoch_ms
from heartbeats.domain import audit, pacing
from heartbeats.models import CountdownPolicy
from heartbeats.views.access import (
    fresh_second_factor_required,
    get_operation,
    operator_required,
    parse_id,
)
from heartbeats.views.board import BoardFilter
from heartbeats.views.held import held_page

# A selection larger than this is refused before any query: the board's filters reach every policy anyway.
MAX_SELECTION = 5000


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        validators=[text.multiline],
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. maintenance over, strategy released"}),
        error_messages={"required": "Give a reason: it is kept in the audit trail with your name."},
    )


def _policies(count: int) -> str:
    return f"{count} polic{'y' if count == 1 else 'ies'}"


def _paces(policies) -> list[str]:
    now = timezone.now()
    return [pacing.describe(p.as_dict(), epoch_ms(now)) for p in pacing.arm_pace(policies)]


def _confirm(
    request, form, *, title, lead, policies, button, arming, paced=(), hidden=(), error="", status=None
):
    return render(
        request,
        "heartbeats/confirm_selection.html",
        {
            "title": title,
            "lead": lead,
            "policies": policies,
            "form": form,
            "button": button,
            "arming": arming,
            "paces": _paces(paced) if paced else [],
            "hidden": hidden,
            "error": error,
            "snap": presenters.snapshot(policy_id=0),
        },
        status=status or (400 if form.is_bound and form.errors else 200),
    )


@require_http_methods(["GET", "POST"])
@operator_required
@fresh_second_factor_required("Re-arm")
def rearm(request, operation_id):
    operation = get_operation(operation_id)
    if operation.action not in actions.REARMABLE_ACTIONS:
        raise Http404("Only a Disarm all or a disarm of a selection can be re-armed. Nothing was changed.")
    form = ReasonForm(request.POST or None, initial={"reason": twofactor.draft_reason(request)})
    if request.method == "POST" and form.is_valid():
        try:
            done = actions.rearm(
                operation, user=request.user, ip=audit.client_ip(request), reason=form.cleaned_data["reason"]
            )
        except ValueError as e:
            form.add_error(None, f"{e} Nothing was changed.")
        else:
            if isinstance(done, actions.HeldDisarm):
                return held_page(request, done)
            return redirect("operation", done.pk)
    policies = actions.rearmable(operation)
    count = len(policies)
    disarmed_here = operation.targets.filter(changed=True).count()
    left = disarmed_here - count
    what = f"{operation.get_action_display()} #{operation.pk}"
    lead = f"Arms again the {_policies(count)} that {what} disarmed and nobody changed since."
    if left:
        lead += f" {_policies(left)} changed since (or on a disabled account): left alone."
    return _confirm(
        request,
        form,
        title=f"Re-arm after {operation.get_action_display()} #{operation.pk}",
        lead=lead,
        policies=policies,
        button=f"Re-arm {_policies(count)} now",
        arming=True,
        paced=policies,
    )


def _selected(request, data) -> tuple[list[CountdownPolicy], str]:
    """The policies a selection names: every row the board's filters match (`all`), else the ticked ids.
    Returns the policies and an error ("" when the selection is good)."""
    if data.get("all"):
        filters = BoardFilter(data)
        if not filters.is_valid():
            return [], "The filter was not understood. Nothing was changed."
        rows = presenters.snapshot(**filters.snapshot_args()).rows
        return [r.policy for r in rows], ""
    raw = data.getlist("policy")
    if len(raw) > MAX_SELECTION:
        return [], f"Select at most {MAX_SELECTION} policies. Nothing was changed."
    try:
        ids = {parse_id(value, "policy") for value in raw}
    except Http404 as e:
        return [], str(e)
    found = CountdownPolicy.objects.with_account().in_bulk(ids)
    missing = sorted(ids - set(found))
    if missing:
        return [], f"There is no policy {', '.join(map(str, missing[:10]))}. Nothing was changed."
    return sorted(found.values(), key=lambda p: (p.account.label, p.symbol)), ""


@require_http_methods(["GET", "POST"])
@operator_required
@fresh_second_factor_required("Arming or disarming a selection")
def selection(request):
    """GET: confirm what the board's selection (`do` = arm or disarm) would change. POST: do it."""
    data = request.POST if request.method == "POST" else request.GET
    arming = data.get("do") == "arm"
    if data.get("do") not in ("arm", "disarm"):
        raise Http404("Choose Arm selected or Disarm selected on the board. Nothing was changed.")
    policies, error = _selected(request, data)
    if not error and not policies:
        error = "No policy is selected: tick rows on the board, or select every row the filter matches."
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid() and not error:
        try:
            done = actions.set_selected(
                [p.pk for p in policies],
                armed=arming,
                user=request.user,
                ip=audit.client_ip(request),
                reason=form.cleaned_data["reason"],
            )
        except ValueError as e:
            form.add_error(None, f"{e} Nothing was changed.")
        else:
            return redirect("operation", done.pk)
    verb = "Arm" if arming else "Disarm"
    count = len(policies)
    noun = _policies(count)
    if arming:
        changing = [p for p in policies if not p.armed or p.fatal_generation == p.generation]
        lead = f"Arms {len(changing)} of the {noun} selected (the others are armed already)."
    else:
        changing = [p for p in policies if p.armed]
        lead = f"Disarms {len(changing)} of the {noun} selected (the others are disarmed already)."
        lead += " Open orders are not cancelled: they stay on the book without a dead man's switch."
    return _confirm(
        request,
        form,
        title=f"{verb} selected",
        lead=lead,
        policies=policies,
        button=f"{verb} {noun} now",
        arming=arming,
        paced=changing if arming else (),
        hidden=[("do", "arm" if arming else "disarm"), *(("policy", p.pk) for p in policies)],
        error=error,
        status=400 if error or (form.is_bound and form.errors) else 200,
    )
