"""Every Binance-path request the simulator saw, for tests to read as ground truth.

Entries carry no signature, secret, full API key or query string: only the facts tests reason about.
"""

import itertools
import threading
from collections import deque

FIELDS = (
    "id",
    "method",
    "path",
    "venue",
    "ip",
    "api_key_last4",
    "symbol",
    "countdown_ms",
    "timestamp",
    "recv_window",
    "weight",
    "used_weight",
    "fault",
    "held",
    "received_at",
    "delivered_at",
    "applied_at",
    "server_time_ms",
    "responded_at",
    "status",
    "code",
)


class RequestLog:
    def __init__(self, size: int = 20_000):  # the newest only: the demo runs for days
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._entries: deque[dict] = deque(maxlen=size)

    def open(self, **fields) -> dict:
        entry = dict.fromkeys(FIELDS)
        entry.update(fields)
        with self._lock:
            entry["id"] = next(self._ids)
            self._entries.append(entry)
        return entry

    def update(self, entry: dict, **fields) -> None:
        with self._lock:
            entry.update(fields)

    def entries(self, path: str | None = None, since_id: int = 0) -> list[dict]:
        with self._lock:
            return [
                dict(e) for e in self._entries if e["id"] > since_id and (path is None or e["path"] == path)
            ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
