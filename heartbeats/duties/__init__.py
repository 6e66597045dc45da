"""Background work, one way: every recurring job is a duty (catalogue.py lists them), run by one supervisor
per process (supervisor.py), held by one process at a time through its lease.

Started from one place per kind of process: the django-q2 worker's processes when django-q2 spawns them
(worker.py), gunicorn's worker hook (deploy/gunicorn.conf.py) and the development server (apps.py), each
through `start(kind)`.
"""

import logging
import os
import threading
import time

from heartbeats.domain.work import work
from heartbeats.duties.catalogue import duties
from heartbeats.duties.supervisor import Supervisor

log = logging.getLogger(__name__)
_lock = threading.Lock()
_running: tuple[int, Supervisor] | None = None


def start(kind: str) -> Supervisor:
    """This process's supervisor for `kind` ("web" or "worker"), started once (and again in a forked child,
    whose parent's threads did not follow it across the fork)."""
    global _running
    with _lock:
        if _running is not None and _running[0] == os.getpid() and not _running[1].stopped:
            return _running[1]
        supervisor = Supervisor(kind, duties())
        supervisor.start()
        _running = (os.getpid(), supervisor)
        return supervisor


def stop(timeout: float = 10.0) -> None:
    """Stop this process: the engine hands its lease over, duties release theirs, and work it does for an
    operation (heartbeats.domain.work) gets the rest of `timeout` to finish."""
    global _running
    deadline = time.monotonic() + timeout
    with _lock:
        running, _running = _running, None
    if running is not None and running[0] == os.getpid():
        running[1].stop(timeout)
    left = work.wait(max(0.0, deadline - time.monotonic()))
    if left:
        log.warning("stopping with work still running: %s", ", ".join(left))


def running() -> Supervisor | None:
    current = _running
    return current[1] if current is not None and current[0] == os.getpid() else None
