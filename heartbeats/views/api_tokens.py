"""The API tokens page: every token, active or revoked, with when and where it was last used. Viewers read it
(tokens act on the desk and appear in the audit trail by name; the page holds no secret); key admins create
and revoke tokens, with a fresh second factor, like a change to an account's key. Each is audited."""

from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from heartbeats import twofactor
from heartbeats.domain import audit, roles
from heartbeats.forms.tokens import TokenForm
from heartbeats.models import Action
from heartbeats.models.tokens import ApiToken
from heartbeats.views.access import fresh_second_factor_required, parse_id, role_required, viewer_required

_manager_required = role_required(
    roles.can_manage_api_tokens, "Only key admins create and revoke API tokens. Nothing was changed."
)


def _page(request, form=None, status=200):
    return render(
        request,
        "heartbeats/api_tokens.html",
        {
            "tokens": ApiToken.objects.all(),
            "form": form or TokenForm(),
            "can_manage": roles.can_manage_api_tokens(request.user),
            "fresh": twofactor.fresh(request),
            "verify_url": f"{reverse('second_factor_verify')}?{urlencode({'next': reverse('api_tokens')})}",
            "api_root": request.build_absolute_uri("/api/v1/"),
        },
        status=status,
    )


@require_GET
@viewer_required
def tokens_page(request):
    return _page(request)


@sensitive_variables("raw")
@require_POST
@_manager_required
@fresh_second_factor_required("Creating an API token", back="api_tokens")
def token_new(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    with transaction.atomic():
        token, raw = ApiToken.issue(
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            allowed_addresses=form.cleaned_data["allowed_addresses"],
            created_by=request.user,
        )
        audit.record(
            Action.TOKEN_CREATE,
            user=request.user,
            ip=audit.client_ip(request),
            reason=f"API token {token.name}",
            changes={
                "name": [None, token.name],
                "role": [None, token.role],
                "allowed_addresses": [None, token.allowed_addresses or "any"],
                "token": [None, token.masked],
            },
        )
    # Shown on this response only: no redirect, since the value would have to be kept somewhere for the next
    # page. HTML is never cached (heartbeats.middleware.NoStoreMiddleware).
    return render(
        request,
        "heartbeats/api_token_created.html",
        {"token": token, "value": raw, "api_root": request.build_absolute_uri("/api/v1/")},
    )


@require_POST
@_manager_required
@fresh_second_factor_required("Revoking an API token", back="api_tokens")
def token_revoke(request, token_id):
    try:
        token = ApiToken.objects.get(pk=parse_id(token_id, "API token"))
    except ApiToken.DoesNotExist:
        raise Http404("There is no such API token. Nothing was changed.") from None
    with transaction.atomic():
        if not token.revoke():
            messages.info(request, f"API token “{token.name}” was already revoked.")
            return redirect("api_tokens")
        audit.record(
            Action.TOKEN_REVOKE,
            user=request.user,
            ip=audit.client_ip(request),
            reason=f"API token {token.name}",
            changes={"revoked_at": [None, token.revoked_at.isoformat()]},
        )
    messages.success(request, f"API token “{token.name}” revoked: its next request is refused.")
    return redirect("api_tokens")
