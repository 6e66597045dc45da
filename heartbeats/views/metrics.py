"""/metrics for Prometheus: answered only to the bearer token in settings.METRICS_TOKEN or to an address in
settings.METRICS_ALLOW; with neither set it does not exist (404), except that the embedded setup (CG_DEV)
lets loopback in. No session is involved: scrapers do not sign in.

Two kinds of metric. Events are counted where they happen, in files every process of this host shares
(heartbeats.domain.metrics). The current state -- time left on each armed countdown, engines, request
weight, policies by status -- is read at scrape time through presenters.snapshot(), the board's own source,
so every web process answers a scrape alike."""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from heartbeats.desk import presenters
from heartbeats.domain import metrics as metric_counters
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
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


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


def registry() -> CollectorRegistry:
    """A registry for one scrape: every process's counters plus the state read now."""
    scrape = CollectorRegistry()
    if (path := metric_counters.directory()) is not None:
        MultiProcessCollector(scrape, path=str(path))
    scrape.register(StateCollector())
    return scrape


class StateCollector(Collector):
    """The current state, from one presenters.snapshot() per scrape (a few queries, as for the board)."""

    def collect(self):
        snap = presenters.snapshot()
        expiry = GaugeMetricFamily(
            "countdown_guard_seconds_to_expiry",
            "Seconds until an armed policy's exchange countdown runs out unless a beat is acknowledged "
            "(0: it ran out).",
            labels=["account", "symbol"],
        )
        for row in snap.rows:
            if row.policy.armed and row.status.remaining_ms is not None:
                expiry.add_metric(
                    [row.policy.account.label, row.policy.symbol], row.status.remaining_ms / 1000
                )
        policies = GaugeMetricFamily("countdown_guard_policies", "Policies by status.", labels=["status"])
        for status, count in snap.counts.items():
            policies.add_metric([status], count)
        yield expiry
        yield policies
        yield from _egress_families(snap)


def _egress_families(snap):
    up = GaugeMetricFamily(
        "countdown_guard_engine_up",
        "1 when an engine holding the lease is sending for this egress identity.",
        labels=["egress"],
    )
    holder = GaugeMetricFamily(
        "countdown_guard_lease_holder",
        "1 for the host whose engine holds this egress identity's lease (absent when none does).",
        labels=["egress", "host"],
    )
    used = GaugeMetricFamily(
        "countdown_guard_weight_used", "Request weight used this minute, as last reported.", labels=["egress"]
    )
    limit = GaugeMetricFamily(
        "countdown_guard_weight_limit", "Request weight allowed per minute.", labels=["egress"]
    )
    for e in snap.egresses:
        up.add_metric([e.egress], 1 if e.alive else 0)
        if e.engine is not None and e.engine.holds_lease and not e.engine.is_stale(snap.now):
            holder.add_metric([e.egress, e.engine.host], 1)
        if e.measured is not None:
            used.add_metric([e.egress], e.measured)
        if e.limit is not None:
            limit.add_metric([e.egress], e.limit)
    return up, holder, used, limit
