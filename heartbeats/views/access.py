"""Who may open what, and the one way views look a policy or an operation up from a URL."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from heartbeats import twofactor
from heartbeats.domain import roles
from heartbeats.domain.validation import not_an_id, plain_id
from heartbeats.models import CountdownPolicy, Operation
from heartbeats.twofactor import step_up

# The largest id a database integer column holds: anything above is refused before it reaches a query (an
# out-of-range number makes the database driver raise instead of matching nothing).
MAX_ID = 2**63 - 1


def viewer_required(view):
    """Signed in, and in a role that may read the board (viewer, operator, key admin)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.can_view(request.user):
            raise PermissionDenied("Your account has no role on this desk yet: ask an administrator for one.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def operator_required(view):
    """Signed in as an operator: arming, disarming, cancelling orders and maintenance are theirs alone."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.can_operate(request.user):
            raise PermissionDenied(
                "Only operators can arm and disarm countdowns, cancel orders and schedule maintenance. "
                "Nothing was changed."
            )
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def role_required(allowed, refusal: str):
    """Signed in with a role on the desk, and `allowed(user)`; else a 403 that says `refusal`."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not allowed(request.user):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return viewer_required(wrapper)

    return decorator


def policy_manager_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.can_manage_policies(request.user):
            raise PermissionDenied("Only key admins can add policies.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def fresh_second_factor_required(what: str, *, back: str | None = None):
    """The view acts only for a session whose second factor is fresh (heartbeats.twofactor.fresh); otherwise
    `step_up` answers instead. `back` (a URL name, given the view's own URL arguments when it takes them) is
    where to return after giving it, else this page."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not twofactor.fresh(request):
                return step_up(request, what, back=_back_url(back, kwargs) if back else None)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _back_url(name: str, kwargs: dict) -> str:
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return reverse(name)


def parse_id(raw, what: str) -> int:
    """A positive database id from a URL or form value, or a 404 that says what was wrong."""
    value = plain_id(raw)
    if value is None:
        raise Http404(f"{not_an_id(raw, what)} Nothing was changed.")
    if not 0 < value <= MAX_ID:
        raise Http404(f"There is no {what} {value}. Nothing was changed.")
    return value


def get_policy(policy_id) -> CountdownPolicy:
    pk = parse_id(policy_id, "policy")
    try:
        return CountdownPolicy.objects.with_account().get(pk=pk)
    except CountdownPolicy.DoesNotExist:
        raise Http404(f"There is no policy {pk}. Nothing was changed.") from None


def get_operation(operation_id) -> Operation:
    pk = parse_id(operation_id, "operation")
    try:
        return Operation.objects.select_related("account", "policy").get(pk=pk)
    except Operation.DoesNotExist:
        raise Http404(f"There is no operation {pk}.") from None


def safe_next(request, default: str) -> str:
    """Where to go back to after a POST: the form's `next` when it points at this site."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
