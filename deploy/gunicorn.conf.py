"""Gunicorn settings for the Countdown Guard dashboard:  gunicorn -c deploy/gunicorn.conf.py

Read from the environment like the rest of the settings (see README, Configuration); anything given on the
command line wins.
"""

import os
import sys

from gunicorn.glogging import Logger

wsgi_app = "dashboard.wsgi:application"


def _check_settings():
    """Read the settings once here, in the master: a missing or malformed setting then ends gunicorn with its
    message alone, instead of a traceback from every worker that fails to boot."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from dashboard.env import SettingsError

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018  (reading one loads them all)
    except SettingsError as exc:
        sys.exit(f"Countdown Guard cannot start: {exc}")


_check_settings()
bind = os.environ.get("CG_BIND", "127.0.0.1:8000").split(",")

# Threads rather than many processes: the board polls a small JSON view about every second per open tab, and
# each process holds its own database connections.
worker_class = "gthread"
workers = int(os.environ.get("CG_WEB_WORKERS", "2"))
threads = int(os.environ.get("CG_WEB_THREADS", "8"))
timeout = 30
graceful_timeout = 10
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 5000
max_requests_jitter = 500

# Only the proxy (CG_FORWARDED_ALLOW_IPS, or a unix socket in CG_BIND that only it can open) may say that a
# request came over https; no other process, on this host or not. Nobody when unset. See CG_BEHIND_PROXY.
forwarded_allow_ips = os.environ.get("CG_FORWARDED_ALLOW_IPS", "")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# Errors to stderr; the access log is off unless asked for ("-" for stdout) because the board's polling would
# drown everything else in it.
errorlog = "-"
accesslog = os.environ.get("CG_ACCESS_LOG") or None
loglevel = os.environ.get("CG_LOG_LEVEL", "info").lower()

proc_name = "countdown-guard-web"
# No runtime control socket: nothing here uses it, and two instances on one host would fight over its path.
control_socket_disable = True


def post_worker_init(worker):
    """Every worker runs the web's duties (heartbeats.duties): owed zeros where no engine can send them,
    maintenance windows, alerting and the rest, each held by one process at a time, from the moment it
    starts, not from its first request."""
    from heartbeats import duties

    duties.start("web")


def worker_exit(server, worker):
    """A worker stopping (recycled after max_requests, or gunicorn stopping) hands its duties over at once
    instead of letting their leases run out."""
    from heartbeats import duties

    duties.stop(timeout=5)


class RedactingLogger(Logger):
    """gunicorn's own logs redacted like every other log line, at every level: the access log (CG_ACCESS_LOG)
    and the error log, whose DEBUG request line prints the path (a strategy's ping URL carries its key) and
    whose query strings may carry a token."""

    def setup(self, cfg):
        super().setup(cfg)
        from heartbeats.exchange.redact import RedactingFilter
        from heartbeats.logs import redact_every_handler

        redact_every_handler(RedactingFilter)


logger_class = RedactingLogger


def child_exit(server, worker):
    """A worker's metric files stay for /metrics (its counts still count); this drops only what describes a
    live process (prometheus-client's live gauges), as its multiprocess mode asks of the master."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
