"""Middleware that applies to every page: forwarded headers only from our proxy, the second factor owed at
sign-in, and no caching of live state."""

import ipaddress
from urllib.parse import urlencode

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from heartbeats import twofactor

# Pages a signed-in user who still owes the second factor may open: signing out, giving or adding it.
OPEN_BEFORE_SECOND_FACTOR = {
    "login",
    "logout",
    "favicon",
    # For scrapers, guarded by a token or an address list: a session, signed in or not, changes nothing there.
    "metrics",
    # For trading systems: the key in the URL is the secret, a session is irrelevant.
    "ping",
    "ping_fail",
    "second_factor_verify",
    "second_factor",
    "second_factor_totp",
    "second_factor_recovery_codes",
    "admin:login",
    "admin:logout",
    "otp_webauthn:credential-registration-begin",
    "otp_webauthn:credential-registration-complete",
    "otp_webauthn:credential-authentication-begin",
    "otp_webauthn:credential-authentication-complete",
    "otp_webauthn:js-i18n-catalog",
}


FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_FORWARDED",
)


class ForwardedHeadersMiddleware:
    """Behind a proxy (settings.BEHIND_PROXY), https detection (SECURE_PROXY_SSL_HEADER), the audit trail's
    and the lockout's client address (TRUSTED_PROXY_COUNT) believe the forwarded headers. They are believed
    only from the proxy: a peer in settings.FORWARDED_ALLOW_IPS, or a unix socket's (no address), which only
    the proxy can open. From any other peer -- a process on this host talking to gunicorn directly -- they are
    removed here, first, so nothing after this reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.BEHIND_PROXY and not from_our_proxy(request.META.get("REMOTE_ADDR", "")):
            for name in FORWARDED_HEADERS:
                request.META.pop(name, None)
        return self.get_response(request)


def from_our_proxy(peer: str) -> bool:
    if not peer:
        return True  # a unix socket's peer
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in ipaddress.ip_network(net) for net in getattr(settings, "FORWARDED_ALLOW_IPS", []))


class SecondFactorMiddleware:
    """A signed-in user who owes a second factor (heartbeats.twofactor.expected) and has not given it in this
    session sees nothing but the pages that take it: the verify page when they have an app or a passkey, else
    the page that enrols one. JSON gets a 403 that says so."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not twofactor.satisfied(request) and not _open(request):
            return _owed(request)
        return self.get_response(request)


# The token API: each request carries its bearer token and the API never reads the session.
API_PREFIX = "/api/"


def _open(request) -> bool:
    if request.path_info.startswith(API_PREFIX):
        return True
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in OPEN_BEFORE_SECOND_FACTOR


def _owed(request):
    if request.path_info.endswith(".json") or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {"error": "Give your second factor first: reload the page to sign in completely."}, status=403
        )
    target = request.get_full_path() if request.method == "GET" else reverse("board")
    name = "second_factor_verify" if twofactor.has_primary(request.user) else "second_factor"
    return redirect(f"{reverse(name)}?{urlencode({'next': target})}")


class NoStoreMiddleware:
    """Every page shows live state (countdowns, who may do what): `Cache-Control: no-store` on every response
    unless its view chose a cache policy; HTML always gets no-store. Static files never get here (whitenoise
    answers them earlier, with long lifetimes)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        elif response.get("Content-Type", "").startswith("text/html"):
            patch_cache_control(response, no_store=True, no_cache=True, private=True, max_age=0)
        return response
