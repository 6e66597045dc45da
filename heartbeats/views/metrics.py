"""/metrics for Prometheus: answered only to the bearer token in settings.METRICS_TOKEN or to an address in
settings.METRICS_ALLOW; with neither set it does not exist (404), except that the embedded setup (CG_DEV)
lets loopback in. No session is involved: scrapers do not sign in."""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heartbeats.domain import metrics as metric_families
from heartbeats.domain.audit import client_ip

LOOPBACK = ("127.0.0.0/8", "::1/128")


@never_cache
@require_GET
def metrics(request):
    token, allowed = settings.METRICS_TOKEN, list(settings.METRICS_ALLOW)
    if settings.DEV and not allowed:
        allowed = list(LOOPBACK)
    if not token and not allowed:
        return _plain(404, "Metrics are off: set CG_METRICS_TOKEN or CG_METRICS_ALLOW.")
    refusal = _refusal(request, token, allowed)
    if refusal:
        return _plain(403, refusal)
    return HttpResponse(generate_latest(metric_families.registry()), content_type=CONTENT_TYPE_LATEST)


def _refusal(request, token: str, allowed: list[str]) -> str:
    """Why this request may not read the metrics ("" when it may): the token, or else the address, decides."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given:
        if token and hmac.compare_digest(given.strip().encode(), token.encode()):
            return ""
        return "Wrong metrics token."
    address = client_ip(request)
    if address:
        ip = ipaddress.ip_address(address)
        ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:127.0.0.1 from a dual-stack listener
        if any(ip in ipaddress.ip_network(net) for net in allowed):
            return ""
    return "Metrics need a bearer token or an allowed address."


def _plain(status: int, line: str) -> HttpResponse:
    return HttpResponse(line + "\n", status=status, content_type="text/plain; charset=utf-8")
