"""A bounded pool of sender threads that can grow (never past its maximum) and closes each thread's database
connection when the thread ends."""

import logging
import queue
import threading

from django.db import connections

log = logging.getLogger(__name__)


class SenderPool:
    def __init__(self, size: int, max_size: int, name: str = "engine-sender", *, db: bool = False):
        self.max_size = max(1, max_size)
        self.db = db
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0
        self._queued = 0
        self.grow_to(size)

    @property
    def size(self) -> int:
        return len(self._threads)

    def idle(self) -> int:
        with self._lock:
            return len(self._threads) - self._busy - self._queued

    def grow_to(self, size: int) -> None:
        size = min(max(1, size), self.max_size)
        while len(self._threads) < size:
            thread = threading.Thread(
                target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def submit(self, fn) -> None:
        with self._lock:
            self._queued += 1
        self._queue.put(fn)

    def stop(self, timeout: float = 5.0) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        try:
            if self.db:
                # Open this thread's database connection now: the first beat it sends must not wait for it.
                try:
                    connections["default"].ensure_connection()
                except Exception as exc:
                    log.warning(
                        "sender thread could not open a database connection yet (%s)", type(exc).__name__
                    )
            while True:
                fn = self._queue.get()
                if fn is None:
                    return
                with self._lock:
                    self._queued -= 1
                    self._busy += 1
                try:
                    fn()
                except Exception:
                    log.exception("sender thread task failed")
                finally:
                    with self._lock:
                        self._busy -= 1
        finally:
            connections.close_all()
