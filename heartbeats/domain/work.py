"""Work a process does for an operation after answering the person who asked (Cancel orders now's requests,
recording a disarm that had to wait for the database): on threads this process keeps track of, each under a
lease (`work:<name>`, heartbeats.domain.leases) renewed while it runs. A process that stops waits for them
(gunicorn's worker_exit, the worker's duties), and one that dies leaves leases that run out: the
`unfinished-work` duty then finishes what it left with the truth ("the process sending it stopped").

Work runs in any process (a web worker, a worker's duty, a command, a test), so its leases are renewed by a
small thread of this module's own, through the one lease implementation (heartbeats.domain.leases)."""

import logging
import os
import socket
import threading
import time
import uuid

from django.db import connections

from heartbeats.domain.leases import Lease, renew_many

log = logging.getLogger(__name__)

RENEW_EVERY = 2.0
LEASE_TTL = 10.0


def lease_name(name: str) -> str:
    return f"work:{name}"


class Work:
    def __init__(self):
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        self._leased: set[str] = set()
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()
        self.holder = f"work:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]

    def start(self, name: str, target, *args, leased: bool = False) -> threading.Thread:
        """Run `target(*args)` on a thread of its own, known by `name`; with `leased`, under the lease
        `work:<name>` (taken before the thread starts, released when it ends)."""
        if leased:
            Lease(lease_name(name), self._holder(), LEASE_TTL).acquire()
        thread = threading.Thread(
            target=self._run, args=(name, target, args, leased), name=name[:60], daemon=True
        )
        with self._lock:
            self._running[name] = thread
            if leased:
                self._leased.add(lease_name(name))
                self._ensure_renewer()
        thread.start()
        return thread

    def join(self, name: str, timeout: float | None = None) -> None:
        with self._lock:
            thread = self._running.get(name)
        if thread is not None:
            thread.join(timeout)

    def running(self) -> list[str]:
        with self._lock:
            return [n for n, t in self._running.items() if t.is_alive()]

    def wait(self, timeout: float) -> list[str]:
        """Wait up to `timeout` s for every piece of work to finish; returns what is still running."""
        deadline = time.monotonic() + timeout
        for name in self.running():
            self.join(name, max(0.0, deadline - time.monotonic()))
        return self.running()

    def _holder(self) -> str:
        pid = os.getpid()
        if f":{pid}:" not in self.holder:  # a forked child is another holder
            self.holder = f"work:{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:6]}"[:100]
        return self.holder

    def _run(self, name, target, args, leased) -> None:
        try:
            target(*args)
        except Exception:
            log.exception("%s failed", name)
        finally:
            with self._lock:
                self._running.pop(name, None)
                self._leased.discard(lease_name(name))
            if leased:
                try:
                    Lease(lease_name(name), self._holder(), LEASE_TTL).release()
                except Exception as exc:  # it runs out by itself
                    log.warning("could not release the lease of %s (%s)", name, exc)
            connections.close_all()

    def _ensure_renewer(self) -> None:
        if self._renewer is None or not self._renewer.is_alive():
            self._renewer = threading.Thread(target=self._renew_forever, name="work-leases", daemon=True)
            self._renewer.start()

    def _renew_forever(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            with self._lock:
                names = list(self._leased)
            if not names:
                continue
            try:
                renew_many(names, self._holder(), LEASE_TTL)
            except (
                Exception
            ) as exc:  # the next renewal tries again; a lease that runs out is finished by others
                log.warning("could not renew the leases of running work (%s)", exc)
                connections.close_all()


work = Work()
