"""Context every page's header needs, for every template rendered with a request."""

from django.utils.functional import SimpleLazyObject

from heartbeats import twofactor
from heartbeats.domain import roles


def page_flags(request) -> dict:
    # Lazy: the admin's pages render with this processor too, and most of them never read these.
    user = getattr(request, "user", None)
    if user is None:  # an error page rendered before the authentication middleware ran (a bad Host)
        return {
            "large_type": False,
            "user_roles": [],
            "can_view": False,
            "can_operate": False,
            "can_manage_policies": False,
            "second_factor_owed": False,
        }
    return {
        "large_type": request.GET.get("size") == "large",
        "user_roles": SimpleLazyObject(lambda: roles.role_names(user)),
        # The pages every role reads (API tokens among them) open on this check: their links follow it.
        "can_view": SimpleLazyObject(lambda: roles.can_view(user)),
        "can_operate": SimpleLazyObject(lambda: roles.can_operate(user)),
        "can_manage_policies": SimpleLazyObject(lambda: roles.can_manage_policies(user)),
        # Signed in with the password but not yet with the second factor owed: the header offers nothing else.
        "second_factor_owed": SimpleLazyObject(lambda: not twofactor.satisfied(request)),
    }
