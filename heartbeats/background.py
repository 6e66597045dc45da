"""A daemon thread that each process runs once: started on first need, and again in a forked child (a
gunicorn or django-q2 worker), whose parent's thread did not follow it across the fork."""

import os
import threading


class ProcessThread:
    def __init__(self, name: str, target):
        self.name, self.target = name, target
        self._lock = threading.Lock()
        self._running: tuple[int, threading.Thread] | None = None

    def ensure(self, *args) -> None:
        """Start it unless this process runs it already; cheap enough for every request (middleware)."""
        pid = os.getpid()
        if self._alive_in(pid):
            return
        with self._lock:
            if self._alive_in(pid):
                return
            thread = threading.Thread(target=self.target, args=args, name=self.name, daemon=True)
            self._running = (pid, thread)
            thread.start()

    def _alive_in(self, pid: int) -> bool:
        running = self._running
        return running is not None and running[0] == pid and running[1].is_alive()
