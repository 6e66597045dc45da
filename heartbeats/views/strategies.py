"""Strategies: the ping endpoints a trading system calls, and the pages where people see and manage them.

`/ping/<key>` (GET, POST or HEAD; `/fail` for a failure) needs no session: the key in the URL is the
secret. Key admins make, change and delete strategies and replace a ping URL (shown once, like a token);
operators release a held strategy and cancel its orders; everyone with a role reads. Every change is audited.
"""

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heartbeats import twofactor
from heartbeats.desk import presenters
from heartbeats.desk.strategies import pings
from heartbeats.domain import audit, holds, roles
from heartbeats.forms.strategies import StrategyForm, describe
from heartbeats.models import Action, Strategy
from heartbeats.views.access import (
    fresh_second_factor_required,
    operator_required,
    parse_id,
    role_required,
    viewer_required,
)

log = logging.getLogger(__name__)
PINGS_SHOWN = 50


# ---- the ping endpoints ---------------------------------------------------------------------------------


def _text(body: str, status: int = 200, **headers) -> HttpResponse:
    return HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8", headers=headers)


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping(request, key, fail=False):
    if not pings.usable_key(key):
        return _text("No strategy has this ping URL.", 404)
    ip = audit.client_ip(request)
    try:
        outcome = pings.record(key, ip, fail=fail)
    except DatabaseError as exc:
        log.warning("ping not recorded: database error (%s)", exc.__class__.__name__)
        return _text("Not recorded: the database is unavailable. Ping again.", 503, **{"Retry-After": "1"})
    except Exception:  # never a 500 to a trading system: it retries on 503, and the log has the cause
        log.exception("ping not recorded")
        return _text("Not recorded: an unexpected error. Ping again.", 503, **{"Retry-After": "1"})
    if outcome is None:
        return _text("No strategy has this ping URL.", 404)
    if outcome == pings.TOO_MANY:
        return _text(
            "Too many pings: slow down (a ping every few seconds is plenty).", 429, **{"Retry-After": "1"}
        )
    return _text(outcome)


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping_fail(request, key):
    return ping(request, key, fail=True)


# ---- pages ----------------------------------------------------------------------------------------------


_key_admin_required = role_required(
    roles.can_manage_policies, "Only key admins manage strategies. Nothing was changed."
)


def _strategy(strategy_id) -> Strategy:
    found = Strategy.objects.filter(pk=parse_id(strategy_id, "strategy")).first()
    if found is None:
        raise Http404("There is no such strategy (it may have been deleted).")
    return found


def ping_url(request, key: str) -> str:
    return request.build_absolute_uri(reverse("ping", args=[key]))


@require_GET
@viewer_required
def strategies_page(request):
    strategies = list(Strategy.objects.prefetch_related("policies__account"))
    for s in strategies:
        s.shown = holds.state_of(s)
    return render(
        request,
        "heartbeats/strategies.html",
        {
            "strategies": strategies,
            "can_manage": roles.can_manage_policies(request.user),
            "snap": presenters.snapshot(policy_id=0),
        },
    )


@require_GET
@viewer_required
def strategy_detail(request, strategy_id):
    strategy = _strategy(strategy_id)
    return render(
        request,
        "heartbeats/strategy.html",
        {
            "strategy": strategy,
            "shown": holds.state_of(strategy),
            "policies": strategy.policies.with_account().order_by("account__label", "symbol"),
            "pings": strategy.pings.all()[:PINGS_SHOWN],
            "can_manage": roles.can_manage_policies(request.user),
            "can_operate": roles.can_operate(request.user),
            "fresh": twofactor.fresh(request),
            "snap": presenters.snapshot(policy_id=0),
        },
    )


@require_http_methods(["GET", "POST"])
@_key_admin_required
@fresh_second_factor_required("Adding a strategy")
def strategy_new(request):
    form = StrategyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key = pings.new_key()
        form.instance.ping_key_hash, form.instance.ping_key_hint = pings.digest(key), key[:6]
        try:
            strategy = form.save_audited(user=request.user, ip=audit.client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _show_key(request, strategy, key, created=True)
    return render(
        request,
        "heartbeats/strategy_form.html",
        {"form": form, "strategy": None},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "POST"])
@_key_admin_required
@fresh_second_factor_required("Changing a strategy")
def strategy_edit(request, strategy_id):
    strategy = _strategy(strategy_id)
    form = StrategyForm(request.POST or None, instance=strategy)
    if request.method == "POST" and form.is_valid():
        # Pings, /fail, the silence latch and releases keep writing the row meanwhile: the form writes its own
        # columns only, or refuses (said on the form) when someone changed those.
        try:
            form.save_audited(user=request.user, ip=audit.client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Strategy “{strategy.name}” saved.")
            return redirect("strategy", strategy.pk)
    return render(
        request,
        "heartbeats/strategy_form.html",
        {"form": form, "strategy": strategy},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@_key_admin_required
@fresh_second_factor_required("Replacing a ping URL", back="strategy")
def strategy_new_key(request, strategy_id):
    strategy = _strategy(strategy_id)
    key = pings.new_key()
    with transaction.atomic():
        Strategy.objects.filter(pk=strategy.pk).update(ping_key_hash=pings.digest(key), ping_key_hint=key[:6])
        audit.record(
            Action.STRATEGY_KEY,
            user=request.user,
            ip=audit.client_ip(request),
            reason=f"strategy {strategy.name}",
        )
    return _show_key(request, strategy, key, created=False)


@require_POST
@_key_admin_required
@fresh_second_factor_required("Deleting a strategy", back="strategy")
def strategy_delete(request, strategy_id):
    strategy = _strategy(strategy_id)
    with transaction.atomic():
        audit.record(
            Action.STRATEGY_DELETE,
            user=request.user,
            ip=audit.client_ip(request),
            reason=f"strategy {strategy.name}",
            changes={k: [v, None] for k, v in describe(strategy).items()},
        )
        strategy.delete()  # its policies are beaten as before: by the guard alone
    messages.success(request, f"Strategy “{strategy.name}” deleted: its policies are no longer held by it.")
    return redirect("strategies")


@require_POST
@operator_required
@fresh_second_factor_required("Releasing a strategy", back="strategy")
def strategy_release(request, strategy_id):
    strategy = _strategy(strategy_id)
    try:
        pings.release(
            strategy, user=request.user, ip=audit.client_ip(request), reason=request.POST.get("reason", "")
        )
    except ValueError as exc:
        messages.error(request, f"{exc} Nothing was changed.")
    else:
        messages.success(
            request,
            f"Strategy “{strategy.name}” released: its policies are beaten again as soon as it pings.",
        )
    return redirect("strategy", strategy.pk)


def _show_key(request, strategy, key, *, created: bool):
    return render(
        request,
        "heartbeats/strategy_key.html",
        {"strategy": strategy, "url": ping_url(request, key), "created": created},
    )
