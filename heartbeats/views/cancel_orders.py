"""Cancel orders now: a confirmation page for one policy, an account, a strategy or everything, then a plain
POST (operators, a reason, a fresh second factor), like Disarm all. Results: the operation's page."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from heartbeats import text, twofactor
from heartbeats.desk import presenters
from heartbeats.desk.killswitch import account_wide
from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.domain import audit
from heartbeats.exchange import venues
from heartbeats.forms import PlainNumbersMixin
from heartbeats.models import CountdownPolicy, ExchangeAccount, Strategy
from heartbeats.views.access import fresh_second_factor_required, operator_required, parse_id


class CancelOrdersForm(PlainNumbersMixin, forms.Form):
    reason = forms.CharField(
        max_length=1000,
        validators=[text.multiline],
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. strategy misbehaving, fat finger"}),
        error_messages={"required": "Give a reason: it is kept in the audit trail with your name."},
    )
    disarm = forms.BooleanField(
        required=False, label="Disarm the countdowns too", help_text="Otherwise they stay armed."
    )


def _scope(request) -> tuple[str, list[CountdownPolicy]]:
    """What the page acts on, from ?policy= / ?account= / ?strategy= / ?all=1 (also carried by the form)."""
    params = request.POST if request.method == "POST" else request.GET
    policies = CountdownPolicy.objects.with_account().order_by("account__label", "symbol")
    if params.get("policy"):
        pk = parse_id(params["policy"], "policy")
        chosen = list(policies.filter(pk=pk))
        if not chosen:
            raise Http404("There is no such policy (it may have been deleted).")
        return _name(chosen[0]), chosen
    if params.get("account"):
        account = (
            ExchangeAccount.objects.without_secrets()
            .filter(pk=parse_id(params["account"], "account"))
            .first()
        )
        if account is None:
            raise Http404("There is no such account.")
        chosen = list(policies.filter(account=account))
        return f"every {_nouns(chosen)} of {account.label}", chosen
    if params.get("strategy"):
        strategy = Strategy.objects.filter(pk=parse_id(params["strategy"], "strategy")).first()
        if strategy is None:
            raise Http404("There is no such strategy.")
        chosen = list(policies.filter(strategy=strategy))
        return f"every {_nouns(chosen)} of strategy {strategy.name}", chosen
    if params.get("all") == "1":
        chosen = list(policies)
        return f"every {_nouns(chosen)} of every account", chosen
    raise Http404("Choose what to cancel: a policy, an account, a strategy or everything (?all=1).")


def _covers(policies) -> set[str]:
    """What the policies' switches cover: venues.SYMBOL (futures), venues.UNDERLYING (Options),
    venues.ACCOUNT (OKX, Kraken Futures)."""
    return {venues.venue(p.account.venue).covers for p in policies}


NOUNS = {venues.SYMBOL: "symbol", venues.UNDERLYING: "underlying", venues.ACCOUNT: "account-wide switch"}


def _nouns(policies) -> str:
    words = [noun for covers, noun in NOUNS.items() if covers in _covers(policies)] or ["symbol"]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0]


def _name(policy) -> str:
    """A policy as the page lists it: its account and symbol, or what its account-wide switch covers."""
    if account_wide.covers_account(policy.account):
        return f"{policy.account.label} ({account_wide.scope_words(policy.account.venue, policy.symbol)})"
    return f"{policy.account.label} {policy.symbol}"


def _account_switches(policies) -> dict:
    """What the page says of the account-wide switches in scope: how each family pulls the orders, and the
    tags whose switches cover only their own orders."""
    mine = [p for p in policies if account_wide.covers_account(p.account)]
    families = {account_wide.family(p.account.venue) for p in mine}
    return {
        "any": bool(mine),
        "how": sorted(f.how for f in families),
        "tags": sorted({p.symbol for p in mine if p.symbol}),
        "whole": any(not p.symbol for p in mine),
    }


@require_http_methods(["GET", "POST"])
@operator_required
@fresh_second_factor_required("Cancel orders now")
def cancel_orders(request):
    what, policies = _scope(request)
    form = CancelOrdersForm(request.POST or None, initial={"reason": twofactor.draft_reason(request)})
    if request.method == "POST" and form.is_valid():
        if not policies:
            form.add_error(None, "There is nothing to cancel: no policy in this scope.")
        else:
            try:
                operation = killswitch.cancel_orders(
                    [p.pk for p in policies],
                    user=request.user,
                    ip=audit.client_ip(request),
                    reason=form.cleaned_data["reason"],
                    disarm=form.cleaned_data["disarm"],
                )
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Cancelling the open orders of {what}: results below.")
                return redirect("operation", operation.pk)
    scope = {
        k: v
        for k, v in (request.POST or request.GET).items()
        if k in ("policy", "account", "strategy", "all")
    }
    return render(
        request,
        "heartbeats/cancel_orders.html",
        {
            "form": form,
            "what": what,
            "policies": policies,
            "covered": killswitch.covered((p.account.venue, p.symbol) for p in policies),
            "names": [_name(p) for p in policies[:12]],
            # Which sentences the page says: each venue pulls its orders its own way.
            "has_underlyings": venues.UNDERLYING in _covers(policies),
            "has_symbols": venues.SYMBOL in _covers(policies) or not policies,
            "account_switches": _account_switches(policies),
            "scope": scope,
            "snap": presenters.snapshot(policy_id=0),
        },
        status=400 if request.method == "POST" else 200,
    )
