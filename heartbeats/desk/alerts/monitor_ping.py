"""An outbound heartbeat for an outside monitor (`CG_HEALTHCHECK_URL`, e.g. a healthchecks.io ping URL).

A worker process (the `monitor-ping` duty, heartbeats.duties) hits it every HEALTHCHECK_EVERY seconds, but
only while every armed policy is confirmed on the exchange (status `armed`) and every egress identity has a
live engine. So the outside monitor hears nothing, and raises its own alarm, when the guard is sick, when its
host is dead, and when this whole deployment (database, web and all) is gone: the one failure no alert from
inside can report.
"""

import logging

import requests
from django.conf import settings

from heartbeats.desk import presenters
from heartbeats.domain import outbound
from heartbeats.models import Status

log = logging.getLogger(__name__)

TIMEOUT_S = 10


def healthy(snap=None) -> tuple[bool, str]:
    """(whether the guard is healthy, why not)."""
    snap = snap or presenters.snapshot()
    down = [e.egress for e in snap.egresses if not e.alive]
    if down:
        return False, f"no live engine for {', '.join(down)}"
    unconfirmed = [r for r in snap.rows if r.policy.armed and r.status.state != Status.ARMED]
    if unconfirmed:
        return False, f"{len(unconfirmed)} armed policies not confirmed"
    return True, ""


def ping_if_healthy(url: str | None = None) -> bool:
    """Ping once if healthy; True when the monitor acknowledged the ping. Network I/O outside any
    transaction, with a time limit."""
    url = url or settings.HEALTHCHECK_URL
    ok, why = healthy()
    if not ok:
        log.info("healthcheck ping withheld: %s", why)
        return False
    try:
        # Public addresses only, checked as the name is resolved (heartbeats.domain.outbound): redirects too.
        with outbound.public_only() as refused:
            response = requests.get(url, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        why = f" ({refused[0]})" if refused else ""
        log.warning("healthcheck ping failed: %s%s", exc.__class__.__name__, why)
        return False
    if response.status_code >= 400:
        log.warning("healthcheck ping answered HTTP %s", response.status_code)
        return False
    return True
