"""/api/v1/: the board's status, one policy, arm, disarm, Disarm all and an operation's results, as JSON.

Every action goes through heartbeats.desk.actions exactly as the pages' buttons do, so it is audited the same
way: an Operation with the token's name (api:<name>) as the username, the client address and the reason.
Errors are `{"detail": "…"}`: 400 bad input, 401 no or bad token, 403 address or role refused, 404 unknown id,
409 refused by the desk's rules (e.g. arming on a disabled account). The OpenAPI document is
/api/v1/openapi.json.
"""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Query, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError

from heartbeats.api import auth
from heartbeats.api.schemas import (
    CancelOrdersIn,
    DisarmAllIn,
    Error,
    OperationOut,
    OperationResultsOut,
    ReasonIn,
)
from heartbeats.desk import actions, presenters
from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.domain.audit import client_ip
from heartbeats.domain.validation import plain_id
from heartbeats.models import CountdownPolicy, ExchangeAccount, Strategy
from heartbeats.models.policies import switch_label
from heartbeats.views.access import MAX_ID, get_operation, get_policy, parse_id
from heartbeats.views.held import held_message

# Django's own logger for failed requests: a 500 answered here is logged (and mailed) like any other.
request_log = logging.getLogger("django.request")
log = logging.getLogger(__name__)

api = NinjaAPI(
    title="Countdown Guard API",
    version="1",
    description="Read the desk's countdowns and arm, disarm or Disarm all, with a bearer token created by a "
    "key admin on the API tokens page. Every action is audited under the token's name.",
    urls_namespace="api",
    # The interactive page would load Swagger UI from a CDN, which the dashboard's CSP forbids (and
    # django-ninja serves it locally only as an installed app): the JSON document alone is served.
    docs_url=None,
    auth=auth.read,
)

READ_ERRORS = {401: Error, 403: Error, 404: Error}
ACTION_ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error}


@api.get("/status", response={200: dict, **READ_ERRORS}, summary="The board: every policy's status")
def status(request, page: str | None = Query(None, pattern="^[0-9]+$", description="A page number (1…)")):
    """The JSON the board polls (engine, budget, lapses, maintenance, policies riskiest first). Without
    `page` every policy is listed; with it, that page of 100 and a `page` block saying where it stands.
    Each policy's `venue` is USD-M, COIN-M, Options, OKX or Kraken Futures, and `covers` says what its
    `symbol` is: a futures `symbol`, on Options the `underlying` its switch covers (BTCUSDT: every BTC
    option), or on OKX and Kraken Futures the `account`: `symbol` is "" for the whole account (on OKX, or an
    order tag). `switch` says it in words: BTCUSDT, "whole account", "tag mm1"."""
    if page is not None:
        page = plain_id(page)
        if not 0 < page <= MAX_ID:
            raise HttpError(400, "page: give a page number from 1.")
    snap = presenters.snapshot()
    return snap.as_json(presenters.page_of(snap.rows, page) if page else None)


@api.get("/policies/{policy_id}", response={200: dict, **READ_ERRORS}, summary="One policy's status row")
def policy(request, policy_id: str):
    """One row of the status JSON: `venue`, `symbol`, `covers` and `switch` as there."""
    pk = parse_id(policy_id, "policy")
    rows = presenters.snapshot(policy_id=pk).rows
    if not rows:
        raise Http404(f"There is no policy {pk}.")
    return rows[0].as_json()


@api.post(
    "/policies/{policy_id}/arm",
    auth=auth.operate,
    response={202: OperationOut, **ACTION_ERRORS},
    summary="Arm one policy (operator token)",
)
def arm(request, policy_id: str, body: ReasonIn):
    return Status(202, _change(request, policy_id, actions.arm, body.reason))


@api.post(
    "/policies/{policy_id}/disarm",
    auth=auth.operate,
    response={202: OperationOut, **ACTION_ERRORS},
    summary="Disarm one policy (operator token)",
)
def disarm(request, policy_id: str, body: ReasonIn):
    return Status(202, _change(request, policy_id, actions.disarm, body.reason))


@api.post(
    "/disarm-all",
    auth=auth.operate,
    response={202: OperationOut, **ACTION_ERRORS},
    summary="Disarm all, or all of some accounts (operator token)",
)
def disarm_all(request, body: DisarmAllIn):
    """Disarms every armed policy (of `accounts`, if given) in one audited operation; follow `results_url`
    for what the exchange answers."""
    operation = actions.disarm_all(
        user=None,
        username=request.auth.username,
        ip=client_ip(request),
        reason=body.reason,
        account_ids=_account_ids(body.accounts),
    )
    return Status(202, _present(request, operation))


@api.get(
    "/operations/{operation_id}",
    response={200: OperationResultsOut, **READ_ERRORS},
    url_name="operation",
    summary="An operation's per-policy results",
)
def operation(request, operation_id: str):
    """Poll until `done`: each policy's result (disarmed, armed, retrying with the last error, failed,
    superseded by a later action) as the exchange answers."""
    found = get_operation(operation_id)
    rows = actions.policy_results(found) if found.action in actions.RESULT_ACTIONS else []
    cancels = [
        {
            "account": c.account_label,
            "symbol": c.symbol,
            "switch": switch_label(c.symbol),
            "kind": c.kind,
            "state": c.state,
            "error": c.error,
            "found": c.found,
        }
        for c in killswitch.results(found)
    ]
    return {
        "id": found.pk,
        "action": found.action,
        "at": found.at,
        "username": found.username,
        "reason": found.reason,
        "done": all(r["result"] != actions.RETRYING for r in rows)
        and all(c["state"] != "pending" for c in cancels),
        "results": [{**r, "status": str(r["status"])} for r in rows],
        "cancels": cancels,
        "targets": [
            {
                "policy": t.policy_id,
                "account": t.account_label,
                "symbol": t.symbol,
                "switch": switch_label(t.symbol),
                "generation": t.generation,
                "changed": t.changed,
                "effect": t.effect,
            }
            for t in found.targets.all()
        ],
    }


@api.post(
    "/cancel-orders",
    auth=auth.operate,
    response={202: OperationOut, **ACTION_ERRORS},
    summary="Cancel orders now: one policy, an account, a strategy or everything (operator token)",
)
def cancel_orders(request, body: CancelOrdersIn):
    """Cancels every open order (and, on USD-M, every conditional order) of the chosen symbols at once, on
    Options every open order of the chosen underlyings, and where a switch covers a whole account (OKX,
    Kraken Futures) every open order of the account (OKX: plain and algo orders; a tag's switch: every
    order tagged so), in one audited operation; with `disarm`, the countdowns are disarmed first. Exactly one
    of `policy`, `account`, `strategy` or `all: true` names the scope. Follow `results_url` for each
    switch's answer."""
    ids = _cancel_scope(body)
    try:
        operation = killswitch.cancel_orders(
            ids,
            user=None,
            username=request.auth.username,
            ip=client_ip(request),
            reason=body.reason,
            disarm=body.disarm,
        )
    except ValueError as e:
        raise HttpError(400, f"{e} Nothing was cancelled.") from None
    return Status(202, _present(request, operation))


# What `policy`, `account` and `strategy` in a Cancel orders request name.
SCOPES = {"policy": CountdownPolicy, "account": ExchangeAccount, "strategy": Strategy}


def _cancel_scope(body) -> list[int]:
    named = {n: getattr(body, n) for n in ("policy", "account", "strategy") if getattr(body, n) is not None}
    if len(named) + bool(body.all) != 1:
        raise HttpError(
            400, "Name exactly one of `policy`, `account`, `strategy` or `all: true`. Nothing was cancelled."
        )
    policies = CountdownPolicy.objects.all()
    for name, value in named.items():
        if not 0 < value <= MAX_ID or not SCOPES[name].objects.filter(pk=value).exists():
            raise HttpError(404, f"There is no {name} {value}. Nothing was cancelled.")
        policies = policies.filter(**{"pk" if name == "policy" else f"{name}_id": value})
    ids = list(policies.values_list("pk", flat=True))
    if not ids:
        what = " ".join(str(x) for x in next(iter(named.items()))) if named else "the desk"
        raise HttpError(404, f"No policy belongs to {what}. Nothing was cancelled.")
    return ids


def _change(request, policy_id, action, reason: str) -> dict:
    policy = get_policy(policy_id)
    try:
        operation = action(
            policy.pk, user=None, username=request.auth.username, ip=client_ip(request), reason=reason
        )
    except CountdownPolicy.DoesNotExist:
        raise Http404(f"There is no policy {policy.pk} (it was just deleted). Nothing was changed.") from None
    except ValueError as e:
        raise HttpError(409, f"{policy}: {e} Nothing was changed.") from None
    return _present(request, operation)


def _account_ids(ids: list[int] | None) -> list[int] | None:
    """The accounts a Disarm all names, all of them existing; None for every account."""
    if ids is None:
        return None
    if not ids:
        raise HttpError(
            400, "`accounts` is empty: leave it out to disarm every account. Nothing was changed."
        )
    wanted = sorted(set(ids))
    known = set(
        ExchangeAccount.objects.filter(pk__in=[i for i in wanted if 0 < i <= MAX_ID]).values_list(
            "pk", flat=True
        )
    )
    missing = [str(i) for i in wanted if i not in known]
    if missing:
        raise HttpError(400, f"There is no account {', '.join(missing[:10])}. Nothing was changed.")
    return wanted


def _present(request, operation) -> dict:
    if isinstance(operation, actions.HeldDisarm):
        return {
            "id": None,
            "action": operation.entry.action,
            "at": datetime.fromtimestamp(operation.entry.pressed_at, tz=UTC),
            "username": operation.entry.username,
            "reason": operation.entry.reason,
            "policies": operation.policies,
            "results_url": None,
            "detail": held_message(operation),
        }
    return {
        "id": operation.pk,
        "action": operation.action,
        "at": operation.at,
        "username": operation.username,
        "reason": operation.reason,
        "policies": operation.targets.count(),
        "results_url": request.build_absolute_uri(reverse("api:operation", args=[operation.pk])),
    }


# -- Errors: always {"detail": "…"} -------------------------------------------------------------------------


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    return api.create_response(request, {"detail": _describe_invalid(exc.errors)}, status=400)


def _describe_invalid(errors: list[dict]) -> str:
    """Pydantic's errors as one sentence (`reason: Field required; accounts.0: …`), saying nothing changed."""
    parts = []
    for error in errors:
        # loc is (source, parameter, field…): the request's body or query, then our own names.
        where = ".".join(str(p) for p in error.get("loc", ())[1:] if p != "body")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts or ["The request is not valid."]).rstrip(".") + ". Nothing was changed."


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    detail = str(exc)
    if isinstance(exc.__cause__, ValueError):  # django-ninja could not parse the body (not JSON, bad UTF-8)
        detail = f"The request body is not valid JSON ({exc.__cause__}). Nothing was changed."[:300]
    return api.create_response(request, {"detail": detail}, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc: AuthenticationError):
    response = api.create_response(request, {"detail": str(exc)}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="countdown-guard"'
    return response


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)


@api.exception_handler(DjangoValidationError)
def _refused(request, exc: DjangoValidationError):
    return api.create_response(request, {"detail": " ".join(exc.messages)}, status=400)


@api.exception_handler(SuspiciousOperation)
def _bad_request(request, exc: SuspiciousOperation):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields: the client's mistake (or a probe), refused
    before anything was read or done, and one warning line, as the pages do (heartbeats.logs)."""
    if isinstance(exc, RequestDataTooBig):
        status = 413
        detail = (
            f"The request body is too large (at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes). "
            "Nothing was changed."
        )
    else:
        status, detail = 400, "The request was refused as malformed. Nothing was changed."
    log.warning("Bad request refused (%s): %s %s", status, " ".join(str(exc).split())[:200], request.path)
    return api.create_response(request, {"detail": detail}, status=status)


@api.exception_handler(Exception)
def _server_error(request, exc: Exception):
    request_log.error(
        "Internal Server Error: %s",
        request.path,
        exc_info=exc,
        extra={"status_code": 500, "request": request},
    )
    return api.create_response(
        request,
        {
            "detail": "The server failed. Read GET /api/v1/status before trying again: the change may have "
            "been made."
        },
        status=500,
    )


@csrf_exempt
def unknown_endpoint(request, rest: str = ""):
    """Anything under /api/ that no endpoint answers: a JSON 404 instead of the people's HTML page."""
    return JsonResponse(
        {"detail": "There is no such API endpoint: the list is at /api/v1/openapi.json."}, status=404
    )
