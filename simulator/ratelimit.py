"""Request weight per client IP per calendar minute, with Binance's 429 and, for clients that persist, 418."""

import math
import threading
from dataclasses import dataclass

from .errors import BinanceError
from .symbols import OPTIONS

MINUTE_MS = 60_000


@dataclass
class _Window:
    minute: int
    used: int = 0
    rejected: int = 0


class WeightLimiter:
    """Counts weight per (ip, venue): USDⓈ-M, COIN-M and options are separate services with separate limits
    (of the same size here; Binance's options exchangeInfo shows 2,400 a minute too).

    A request that would take the minute's weight past the limit is refused with 429 and not counted. After
    the first 429 of a minute, `ban_after` more refused requests are tolerated; the next one bans the IP for
    `ban_seconds` (418 for everything it sends, on that venue, until the ban ends).
    """

    def __init__(self, limit: int = 2400, ban_after: int = 10, ban_seconds: float = 120):
        self.limit = limit
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._bans: dict[tuple[str, str], int] = {}  # banned until, server ms

    def charge(self, ip: str, venue: str, weight: int, now_ms: int) -> tuple[int, BinanceError | None]:
        """Adds `weight` if it fits; returns the minute's used weight and the refusal, if any."""
        key = (ip, venue)
        with self._lock:
            window = self._window(key, now_ms)
            banned_until = self._bans.get(key)
            if banned_until is not None and banned_until > now_ms:
                return window.used, self._banned(ip, venue, banned_until, now_ms)
            if window.used + weight <= self.limit:
                window.used += weight
                return window.used, None
            window.rejected += 1
            if window.rejected > self.ban_after + 1:
                banned_until = now_ms + int(self.ban_seconds * 1000)
                self._bans[key] = banned_until
                return window.used, self._banned(ip, venue, banned_until, now_ms)
            retry_after = {
                "Retry-After": str(max(math.ceil(((window.minute + 1) * MINUTE_MS - now_ms) / 1000), 1))
            }
            if venue == OPTIONS:  # the options error-code page: -1008 TOO_MANY_REQUESTS, its own wording
                return window.used, BinanceError(
                    429,
                    -1008,
                    f"Too much request weight used; current limit is {self.limit} request weight per 1 "
                    "MINUTE. Please use the websocket for live updates to avoid polling the API.",
                    retry_after,
                )
            return window.used, BinanceError(
                429,
                -1003,
                f"Too many requests; current limit of IP({ip}) request weight is {self.limit} per minute. "
                "Please use the websocket for live updates to avoid polling the API.",
                retry_after,
            )

    def used(self, ip: str, venue: str, now_ms: int) -> int:
        with self._lock:
            return self._window((ip, venue), now_ms).used

    def snapshot(self, now_ms: int) -> list[dict]:
        minute = now_ms // MINUTE_MS
        with self._lock:
            rows = [
                {"ip": ip, "venue": venue, "used_weight": w.used, "rejected": w.rejected}
                for (ip, venue), w in self._windows.items()
                if w.minute == minute
            ]
            for (ip, venue), until in self._bans.items():
                if until > now_ms:
                    rows.append({"ip": ip, "venue": venue, "banned_until_ms": until})
        return rows

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._bans.clear()

    def _window(self, key: tuple[str, str], now_ms: int) -> _Window:
        minute = now_ms // MINUTE_MS
        window = self._windows.get(key)
        if window is None or window.minute != minute:
            window = self._windows[key] = _Window(minute)
        return window

    @staticmethod
    def _banned(ip: str, venue: str, until_ms: int, now_ms: int) -> BinanceError:
        retry_after = {"Retry-After": str(max(math.ceil((until_ms - now_ms) / 1000), 1))}
        if venue == OPTIONS:
            return BinanceError(
                418,
                -1008,
                f"Way too much request weight used; IP banned until {until_ms}. "
                "Please use the websocket for live updates to avoid bans.",
                retry_after,
            )
        return BinanceError(
            418,
            -1003,
            f"Way too many requests; IP({ip}) banned until {until_ms}. "
            "Please use the websocket for live updates to avoid bans.",
            retry_after,
        )
