"""Disarm all (confirmation, then a plain POST) and the results page of an operation, with its JSON. Re-arm
and selections: views/selection.py."""

from collections import Counter

from django import forms
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from heartbeats import text, twofactor
from heartbeats.desk import actions, presenters
from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.presenters import epoch_ms
from heartbeats.domain import audit, pacing, roles
from heartbeats.domain.validation import plain_id
from heartbeats.models import Action, CancelState, CountdownPolicy, ExchangeAccount
from heartbeats.models.policies import switch_label
from heartbeats.views.access import (
    MAX_ID,
    fresh_second_factor_required,
    get_operation,
    operator_required,
    viewer_required,
)
from heartbeats.views.held import held_page

# actions.policy_results() states, in the order the page shows them. All but "retrying" are final: the
# results page stops polling once every row is final.
RESULT_LABELS = {
    "disarmed": "Disarmed",
    "armed": "Armed",
    "retrying": "Retrying",
    "failed": "Failed",
    "superseded": "Superseded by a later action",
}
FINAL_RESULTS = set(RESULT_LABELS) - {"retrying"}


class AccountChoices(forms.ModelMultipleChoiceField):
    """Account ids are checked as numbers in the database's range before the query: Django's `pk__in` lookup
    passes a 30-digit number to the driver, which raises instead of matching nothing."""

    def clean(self, value):
        for raw in value or []:
            number = plain_id(raw)
            if number is None:
                # int() would read "١" or " 1 " as 1: only plain digits name a row.
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": str(raw)[:40]},
                )
            if not 0 < number <= MAX_ID:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": str(raw)[:40]},
                )
        return super().clean(value)


class DisarmAllForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        validators=[text.multiline],
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. exchange incident, strategy halted"}),
        error_messages={"required": "Give a reason: it is kept in the audit trail with your name."},
    )
    accounts = AccountChoices(
        queryset=ExchangeAccount.objects.without_secrets().order_by("label"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave every box empty to disarm every account.",
        error_messages={
            "invalid_choice": "Account %(value)s does not exist.",
            "invalid_pk_value": "“%(pk)s” is not an account number.",
        },
    )


def _targets(snap) -> list:
    """The policies Disarm all acts on (CountdownPolicy.disarm_all_scope, as actions.disarm_all chooses)."""
    return [r for r in snap.rows if r.policy.in_disarm_all_scope]


@require_http_methods(["GET", "POST"])
@operator_required
@fresh_second_factor_required("Disarm all", back="disarm_all")
def disarm_all(request):
    form = DisarmAllForm(request.POST or None, initial={"reason": twofactor.draft_reason(request)})
    if request.method == "POST" and form.is_valid():
        accounts = list(form.cleaned_data["accounts"])
        try:
            operation = actions.disarm_all(
                user=request.user,
                ip=audit.client_ip(request),
                reason=form.cleaned_data["reason"],
                account_ids=[a.pk for a in accounts] or None,
            )
        except ValueError as e:
            form.add_error(None, f"{e} Nothing was changed.")
        else:
            if isinstance(operation, actions.HeldDisarm):
                return held_page(request, operation)
            return redirect("operation", operation.pk)
    # Read for the form only: a press does not wait for the board's picture.
    snap = presenters.snapshot(sort="account")
    targets = _targets(snap)
    per_account = Counter(r.policy.account.label for r in targets)
    per_account_id = Counter(r.policy.account_id for r in targets)
    account_choices = [(c, per_account_id.get(int(str(c.data["value"])), 0)) for c in form["accounts"]]
    return render(
        request,
        "heartbeats/disarm_all.html",
        {
            "snap": snap,
            "form": form,
            "targets": targets,
            "per_account": sorted(per_account.items()),
            "account_choices": account_choices,
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def _present(row: dict, latest: dict | None = None) -> dict:
    """One policy_results() row as the page and its JSON show it (times as UTC text and epoch ms): what this
    operation did, and apart from it the policy's state now (CountdownPolicy.status()) and the latest later
    operation on it, if any (`latest`: audit.since)."""
    sent_at = row.get("sent_at")
    result = row.get("result", "")
    label = RESULT_LABELS.get(result, result)
    if result == "retrying" and not row.get("attempts"):
        label = "Sending"
    after = (latest or {}).get(row["policy"])
    return {
        "now": row.get("detail", ""),
        "after_id": after.pk if after else None,
        "after": f"{after.get_action_display()} #{after.pk}" if after else "",
        "policy": row["policy"],
        "account": row.get("account", ""),
        "symbol": row.get("symbol", ""),
        "switch": row.get("switch") or switch_label(row.get("symbol", "")),
        "result": result,
        "result_label": label,
        "status": str(row.get("status") or ""),
        "detail": row.get("detail", ""),
        "error": row.get("error", ""),
        "attempts": row.get("attempts", 0),
        "latency_ms": row.get("latency_ms"),
        "sent_at_ms": epoch_ms(sent_at),
        "at": f"{sent_at:%H:%M:%S}.{sent_at.microsecond // 1000:03d}" if sent_at else "",
    }


def _results(operation, latest: dict | None = None) -> list[dict]:
    if operation.action not in actions.RESULT_ACTIONS:
        return []
    return [_present(row, latest) for row in actions.policy_results(operation)]


def _targets_now(operation, latest: dict) -> list:
    """The operation's target rows, each with its policy's state now and the latest later operation on it."""
    targets = list(operation.targets.all())
    policies = CountdownPolicy.objects.with_account().in_bulk(
        [t.policy_id for t in targets if t.policy_id is not None]
    )
    now = timezone.now()
    for t in targets:
        policy = policies.get(t.policy_id)
        t.now = policy.status(now) if policy else None
        t.switch = policy.switch_title if policy else switch_label(t.symbol)
        t.after = latest.get(t.policy_id)
    return targets


def _summary(operation, results) -> dict:
    counts = Counter(r["result"] for r in results)
    arming = operation.action not in actions.DISARMING_ACTIONS
    shown = ["armed" if arming else "disarmed", "retrying", "failed", "superseded"]
    total = len(results)
    return {
        "total": total,
        "done_text": "The result is in." if total == 1 else f"All {total} results are in.",
        "counts": {key: counts.get(key, 0) for key in RESULT_LABELS},
        "tiles": [
            {"result": key, "label": _tile_label(key, results), "count": counts.get(key, 0)} for key in shown
        ],
        "done": all(r["result"] in FINAL_RESULTS for r in results),
    }


def _tile_label(result: str, results: list[dict]) -> str:
    # Not yet tried once is "Sending", as each such row says (_present), not "Retrying".
    waiting = [r for r in results if r["result"] == "retrying"]
    if result == "retrying" and waiting and not any(r["attempts"] for r in waiting):
        return "Sending"
    return RESULT_LABELS[result].split(" ")[0]


@require_GET
@viewer_required
def operation_detail(request, operation_id):
    operation = get_operation(operation_id)
    later = audit.since(operation)
    results = _results(operation, later.latest)
    summary = _summary(operation, results)
    # Offered while some of what it disarmed is still disarmed and untouched (actions.rearmable).
    rearm_count = len(actions.rearmable(operation)) if roles.can_operate(request.user) else 0
    # The pacing of its arms as predicted when it was made (actions.rearm, actions.set_selected).
    paces = [pacing.describe(p, epoch_ms(operation.at)) for p in (operation.changes or {}).get("pacing", [])]
    cancels = killswitch.results(operation) if operation.action == Action.CANCEL_ORDERS else []
    # What it did to each policy, where neither results nor cancels say it (a strategy's hold, a policy edit).
    targets = [] if results or cancels else _targets_now(operation, later.latest)
    return render(
        request,
        "heartbeats/operation.html",
        {
            "operation": operation,
            "results": results,
            "summary": summary,
            "rearm_count": rearm_count,
            "paces": paces,
            "cancels": cancels,
            "cancels_done": all(c.state != CancelState.PENDING for c in cancels),
            "cancel_summary": killswitch.summary(cancels),
            "targets": targets,
            "later": later,
            "snap": presenters.snapshot(policy_id=0),
        },
    )


@never_cache
@require_GET
@viewer_required
def operation_json(request, operation_id):
    operation = get_operation(operation_id)
    results = _results(operation, audit.since(operation).latest)
    return JsonResponse(
        {
            "id": operation.pk,
            "action": operation.action,
            "at_ms": epoch_ms(operation.at),
            "server_time_ms": epoch_ms(timezone.now()),
            "results": results,
            **_summary(operation, results),
            "cancels": [
                {
                    "account": c.account_label,
                    "symbol": c.symbol,
                    "switch": switch_label(c.symbol),
                    "kind": c.kind,
                    "state": c.state,
                    "error": c.error,
                    "latency_ms": c.latency_ms,
                    "found": c.found,
                }
                for c in (killswitch.results(operation) if operation.action == Action.CANCEL_ORDERS else [])
            ],
        }
    )
