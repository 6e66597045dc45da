"""One policy: its page (beats, latency chart, every operation that touched it) and the operator's arm and
disarm buttons."""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heartbeats.desk import actions, presenters
from heartbeats.domain import audit
from heartbeats.domain.lapses import lapses_in
from heartbeats.forms import PolicyForm
from heartbeats.models import Action, OperationTarget, Outcome
from heartbeats.views import charts
from heartbeats.views.access import (
    MAX_ID,
    fresh_second_factor_required,
    get_policy,
    operator_required,
    policy_manager_required,
    safe_next,
    viewer_required,
)
from heartbeats.views.held import held_message

CHART_BEATS = 300
TABLE_BEATS = 60
OPERATIONS_SHOWN = 40


@dataclass(frozen=True)
class History:
    """One page of the operations that touched a policy, newest first: each an OperationTarget row (what the
    operation did to this policy) with its Operation (who, when, from where, why)."""

    rows: list[OperationTarget]
    # Show the next, older page with ?before=<this operation id>; None when there is none.
    older_than: int | None
    # Whether this is an older page (then the page links back to the newest).
    paged: bool


def history(policy, before: int | None = None) -> History:
    """One indexed query (target_by_policy) whatever the number of operations."""
    rows = OperationTarget.objects.filter(policy=policy).select_related("operation")
    if before is not None:
        rows = rows.filter(operation_id__lt=before)
    page = list(rows.order_by("-operation_id")[: OPERATIONS_SHOWN + 1])
    older = page[OPERATIONS_SHOWN - 1].operation_id if len(page) > OPERATIONS_SHOWN else None
    return History(page[:OPERATIONS_SHOWN], older, before is not None)


def _before(request) -> int | None:
    raw = request.GET.get("before", "")
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None


@require_GET
@viewer_required
def policy_detail(request, policy_id):
    policy = get_policy(policy_id)
    snap = presenters.snapshot(policy_id=policy.pk)
    beats = list(policy.beats.order_by("-sent_at")[:CHART_BEATS])
    for beat in beats:
        # Lateness (send time − due time) is the engine's precision figure; shown per beat.
        beat.lateness_ms = round((beat.sent_at - beat.due_at).total_seconds() * 1000) if beat.due_at else None
    acknowledged = [
        (b.kind, b.sent_at, b.countdown_ms) for b in reversed(beats) if b.outcome == Outcome.CONFIRMED
    ]
    lapses = lapses_in(policy.pk, acknowledged)
    row = snap.rows[0]
    # Running out now (presenters.snapshot): listed, but no band on the chart until it ends.
    running = [row.lapse] if row.lapse is not None and row.lapse.resumed_at is None else []
    return render(
        request,
        "heartbeats/policy.html",
        {
            "policy": policy,
            "snap": snap,
            "row": row,
            "chart": charts.latency_chart(beats, lapses),
            "lapses": sorted([*lapses, *running], key=lambda lapse: lapse.expired_at, reverse=True),
            "beats": beats[:TABLE_BEATS],
            "history": history(policy, _before(request)),
            # These operations have results to follow (per policy, or per symbol for Cancel orders now).
            "result_actions": [*actions.RESULT_ACTIONS, Action.CANCEL_ORDERS],
        },
    )


def _change(request, policy_id, action, verb):
    policy = get_policy(policy_id)
    try:
        operation = action(policy.pk, user=request.user, ip=audit.client_ip(request))
    except ValueError as e:
        messages.error(request, f"{policy}: {e} Nothing was changed.")
    else:
        if isinstance(operation, actions.HeldDisarm):
            messages.warning(request, f"{policy}: {held_message(operation)}")
            return redirect(safe_next(request, reverse("board")))
        messages.success(
            request,
            format_html(
                '{} requested for {}. <a href="{}">Follow it</a>.',
                verb,
                policy,
                reverse("operation", args=[operation.pk]),
            ),
        )
    return redirect(safe_next(request, reverse("board")))


@require_POST
@operator_required
def policy_arm(request, policy_id):
    return _change(request, policy_id, actions.arm, "Arm")


@require_POST
@operator_required
def policy_disarm(request, policy_id):
    return _change(request, policy_id, actions.disarm, "Disarm")


@require_http_methods(["GET", "POST"])
@policy_manager_required
@fresh_second_factor_required("Adding a policy")
def policy_new(request):
    """Key admins add a policy (created disarmed). The form checks the symbol against the exchange and the
    egress budget inside is_valid(), before anything is written; the save may still refuse (e.g. the symbol
    was added by someone else meanwhile), and says so on the form."""
    form = PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            policy = form.save_audited(user=request.user, ip=audit.client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{policy} added, disarmed. Operators arm it from the board.")
            return redirect("policy", policy.pk)
    return render(
        request,
        "heartbeats/policy_new.html",
        {"form": form},
        status=400 if form.is_bound and form.errors else 200,
    )
