"""Faults injected into matching requests: a chosen reply, extra latency, a dropped connection, or a hold.

A held request has been received (and its weight counted) but is neither applied nor answered until it is
released by name, or its hold times out: then it is processed like a late packet, its timestamp checked
against the server time at that moment.
"""

import itertools
import threading
from dataclasses import dataclass, field

from . import bounds
from .book import last4
from .errors import MESSAGES, STATUS_BODIES

# Ready-made replies, named by what the client should conclude.
PRESETS = {
    "unknown": (503, {"code": -1006, "msg": "Unknown error, please check your request or try again later."}),
    "unavailable": (503, {"code": -1001, "msg": "Service Unavailable."}),
    "internal": (503, {"code": -1001, "msg": MESSAGES[-1001]}),
    "busy": (503, {"code": -1008, "msg": MESSAGES[-1008]}),
    "timeout": (503, {"code": -1007, "msg": MESSAGES[-1007]}),
    "rate_limited": (429, {"code": -1003, "msg": MESSAGES[-1003]}),
}


def _status_for_code(code: int) -> int:
    if code in (-1000, -1001, -1006, -1007, -1008, -1016):
        return 503
    if code == -1003:
        return 429
    if code in (-2014, -2015):
        return 401
    return 400


@dataclass(eq=False)
class Fault:
    id: int
    method: str | None = None
    path: str | None = None
    symbol: str | None = None
    countdown_ms: int | None = None
    api_key: str | None = None
    status: int | None = None
    body: object = None  # dict → JSON, str → sent as is
    latency_ms: float = 0
    hold: str | None = None
    hold_timeout: float = 30.0
    apply: bool = False  # with a reply or drop: process the request first, then lose the real answer
    drop: bool = False  # close the connection without an answer
    retry_after: int | None = None
    count: int | None = 1  # matching requests left to affect; None = every one
    hits: int = 0

    @property
    def replies(self) -> bool:
        return self.status is not None

    def matches(
        self, method: str, path: str, symbol: str | None, countdown_ms: int | None, api_key: str | None
    ):
        return (
            (self.count is None or self.count > 0)
            and (self.method is None or self.method == method)
            and (self.path is None or self.path == path)
            and (self.symbol is None or self.symbol == symbol)
            and (self.countdown_ms is None or self.countdown_ms == countdown_ms)
            and (self.api_key is None or self.api_key == api_key)
        )

    def describe(self) -> dict:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "symbol": self.symbol,
            "countdown_ms": self.countdown_ms,
            "api_key_last4": last4(self.api_key) if self.api_key else None,
            "status": self.status,
            "body": self.body,
            "latency_ms": self.latency_ms,
            "hold": self.hold,
            "hold_timeout": self.hold_timeout,
            "apply": self.apply,
            "drop": self.drop,
            "retry_after": self.retry_after,
            "count": self.count,
            "hits": self.hits,
        }


@dataclass(eq=False)
class Held:
    name: str
    request_id: int
    held_at: float
    released: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    dropped: bool = False


class FaultTable:
    def __init__(self, hold_timeout: float = 30.0):
        self.hold_timeout = hold_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._faults: list[Fault] = []
        self._held: list[Held] = []

    def inject(
        self,
        path=None,
        symbol=None,
        countdown_ms=None,
        api_key=None,
        *,
        method=None,
        status=None,
        body=None,
        code=None,
        msg=None,
        kind=None,
        latency_ms=None,
        count=1,
        hold=None,
        hold_timeout=None,
        apply=False,
        drop=False,
        retry_after=None,
    ) -> Fault:
        """Adds a fault for the next `count` requests (None: all) matching every given criterion.

        Match on `path` (exact, e.g. "/fapi/v1/countdownCancelAll"), `method`, `symbol`, `countdown_ms` and
        `api_key`. Then, in this order: wait `latency_ms`; `hold` under a name until released (or
        `hold_timeout` seconds pass); reply with `status`/`code`/`msg`/`body` or a preset `kind` (see
        PRESETS) instead of processing, or after processing if `apply`; `drop` closes the connection without
        an answer (after processing if `apply`). `retry_after` adds that header to the injected reply.
        """
        if kind is not None:
            if kind not in PRESETS:
                raise ValueError(f"unknown fault kind {kind!r}; choose from {', '.join(PRESETS)}")
            preset_status, preset_body = PRESETS[kind]
            status = status or preset_status
            body = body if body is not None else dict(preset_body)
        if code is not None and body is None:
            code = bounds.integer(code, "code", -(10**9), 10**9)
            body = {"code": code, "msg": bounds.text(msg, "msg") or MESSAGES.get(code, "Injected error.")}
            status = status or _status_for_code(code)
        elif msg is not None and body is None:
            raise ValueError("give `code` with `msg` (or a whole `body`, or a `kind`)")
        if body is not None and status is None:
            status = 503
        if status is not None:
            status = bounds.integer(status, "status", 100, 599)
            if body is None:
                body = dict(STATUS_BODIES.get(status, {"code": -1000, "msg": MESSAGES[-1000]}))
        if status is None and not latency_ms and hold is None and not drop:
            raise ValueError("a fault needs a reply (status/code/body/kind), latency_ms, hold or drop")
        if count is not None:
            count = bounds.integer(count, "count", 1, 10**9)
        method = bounds.text(method, "method")
        fault = Fault(
            id=0,
            method=method.upper() if method else None,
            path=bounds.text(path, "path"),
            symbol=bounds.text(symbol, "symbol"),
            countdown_ms=None
            if countdown_ms is None
            else bounds.integer(countdown_ms, "countdown_ms", 0, 2**63),
            api_key=bounds.text(api_key, "api_key"),
            status=status,
            body=body,
            latency_ms=bounds.number(latency_ms or 0, "latency_ms", 0, bounds.MAX_DELAY_MS),
            hold=str(hold) if hold is not None else None,
            hold_timeout=bounds.number(
                hold_timeout if hold_timeout is not None else self.hold_timeout,
                "hold_timeout",
                0,
                bounds.MAX_WAIT_SECONDS,
            ),
            apply=bool(apply),
            drop=bool(drop),
            retry_after=None if retry_after is None else bounds.integer(retry_after, "retry_after", 0, 10**9),
            count=count,
        )
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def take(self, method, path, symbol, countdown_ms, api_key) -> Fault | None:
        """The first fault matching this request, one use of it consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, symbol, countdown_ms, api_key):
                    fault.hits += 1
                    if fault.count is not None:
                        fault.count -= 1
                    return fault
        return None

    def faults(self) -> list[dict]:
        with self._lock:
            return [f.describe() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    # Holds -----------------------------------------------------------------------------------------------

    def hold(self, name: str, request_id: int, now: float) -> Held:
        held = Held(name, request_id, now)
        with self._changed:
            self._held.append(held)
            self._changed.notify_all()
        return held

    def finish(self, held: Held) -> None:
        with self._changed:
            if held in self._held:
                self._held.remove(held)
            self._changed.notify_all()
        held.done.set()

    def wait_held(self, name: str, count: int = 1, timeout: float = 5.0) -> int:
        """Blocks until `count` requests are held under `name` (or timeout); returns how many are."""
        with self._changed:
            self._changed.wait_for(lambda: self._count_held(name) >= count, timeout)
            return self._count_held(name)

    def release(self, name: str, wait: float = 5.0) -> int:
        """Lets every request held under `name` through; waits until they have been processed."""
        with self._lock:
            batch = [h for h in self._held if h.name == name and not h.released.is_set()]
            for held in batch:
                held.released.set()
        for held in batch:
            held.done.wait(wait)
        return len(batch)

    def release_all(self, drop: bool = False) -> int:
        with self._lock:
            batch = [h for h in self._held if not h.released.is_set()]
            for held in batch:
                held.dropped = drop
                held.released.set()
        return len(batch)

    def held(self) -> list[dict]:
        with self._lock:
            return [
                {
                    "name": h.name,
                    "request_id": h.request_id,
                    "held_at": h.held_at,
                    "released": h.released.is_set(),
                }
                for h in self._held
            ]

    def _count_held(self, name: str) -> int:
        return sum(1 for h in self._held if h.name == name and not h.released.is_set())
