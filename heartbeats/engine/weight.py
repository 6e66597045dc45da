"""Request weight per exchange endpoint (base URL and venue) as the exchange counts it: per calendar minute of
the exchange's clock, for this egress address. Heartbeats and disarms come first; a pause after 429/418
stops every send to that endpoint until the exchange's Retry-After has passed."""

import time

from heartbeats.domain.budget import FALLBACK_WEIGHT_LIMIT, WEIGHT_PER_BEAT, disarm_reserve
from heartbeats.domain.ratelimits import MINUTE_MS, exchange_minute


class WeightMeter:
    def __init__(self, limit: int | None = None, clock=time.time):
        self.limit = limit or FALLBACK_WEIGHT_LIMIT
        self.limit_known = limit is not None  # read from the exchange, not the fallback
        self.offset_ms = 0  # exchange clock − local clock
        # Weight kept free for disarms (a disarm and its second `0` for every armed policy): heartbeats
        # and other sends never eat into it.
        self.reserve = 0
        self.paused_until = 0.0
        self.banned_until = 0.0
        self._clock = clock
        self._minute = None
        self._sent = 0  # our own weight sent in the current exchange minute
        # (used, our sent count when it was reported, the exchange's own count) in the current minute
        self._reported = None
        self._reports = 0  # counts taken in: a refund knows whether one came after its charge

    def _roll(self, now: float) -> int:
        minute = exchange_minute(now, self.offset_ms)
        if minute != self._minute:
            self._minute, self._sent, self._reported = minute, 0, None
            self._reports += 1
        return minute

    def used(self, now: float | None = None) -> int:
        """The exchange's count for this minute as best known: what it last reported plus what we sent since,
        and never less than what we sent ourselves."""
        self._roll(now or self._clock())
        if self._reported is None:
            return self._sent
        used, sent_then, _ = self._reported
        return max(self._sent, used + self._sent - sent_then)

    def charge(self, weight: int, now: float | None = None) -> tuple[int, int]:
        """Count `weight` as sent this minute; the receipt lets refund() give it back if it never leaves."""
        minute = self._roll(now or self._clock())
        self._sent += weight
        return (minute, self._reports)

    def refund(self, weight: int, receipt: tuple[int, int], now: float | None = None) -> None:
        """Give back a charge whose request was never sent (held or vetoed after it was decided), or every
        request waiting behind it would wait for weight nobody spent. Only within its own minute, and never
        below what the exchange itself counted."""
        minute, reports = receipt
        if self._roll(now or self._clock()) != minute:
            return
        self._sent = max(0, self._sent - weight)
        if self._reported is not None and reports != self._reports:
            # A count taken in after the charge may have included it (our estimate when it was higher).
            used, sent_then, exchange = self._reported
            self._reported = (max(exchange, used - weight), max(0, sent_then - weight), exchange)

    def report(self, used_weight: int | None, at: float | None = None, sent_at: float | None = None) -> None:
        """An answer's count of the minute. It may lag: requests sent before it and still in flight are not
        in it yet, so it only ever raises the estimate (a lower one would let a burst overspend).

        The count is of the minute in which the exchange took the request, somewhere between `sent_at` and
        `at` (its arrival): when those fall in two minutes it is not known which, and the last minute's full
        count taken for the new one would hold every heartbeat back until the minute after. Such a count,
        and one of a minute already gone, is left out: this meter's own charges count that request anyway."""
        if used_weight is None:
            return
        at = at or self._clock()
        minute = exchange_minute(at, self.offset_ms)
        if sent_at is not None and exchange_minute(sent_at, self.offset_ms) != minute:
            return
        if self._minute is not None and minute < self._minute:
            return
        self._roll(at)
        self._reported = (max(used_weight, self.used(at)), self._sent, used_weight)
        self._reports += 1

    def room_for(self, weight: int, *, urgent: bool, now: float | None = None) -> bool:
        """Disarms may use the reserve; everything else must leave it untouched. Nothing exceeds the limit."""
        now = now or self._clock()
        ceiling = self.limit if urgent else self.limit - self.reserve
        return self.used(now) + weight <= ceiling

    def next_minute_at(self, now: float | None = None) -> float:
        now = now or self._clock()
        minute = self._roll(now)
        return ((minute + 1) * MINUTE_MS - self.offset_ms) / 1000 + 0.01

    def pause(self, seconds: float, *, banned: bool, now: float | None = None) -> float:
        now = now or self._clock()
        until = now + max(0.0, seconds)
        self.paused_until = max(self.paused_until, until)
        if banned:
            self.banned_until = max(self.banned_until, until)
        return self.paused_until

    def paused(self, now: float | None = None) -> bool:
        return (now or self._clock()) < self.paused_until

    def absorb(self, snap) -> None:
        """Take in the address's stored state (ratelimits.Snapshot): what other processes and earlier
        engines spent this minute, and any pause or ban they were given."""
        now = self._clock()
        minute = self._roll(now)
        if snap.weight_limit:
            self.limit, self.limit_known = snap.weight_limit, True
        used = snap.used_in(minute)
        if used > self.used(now):
            self._reported = (used, self._sent, used)
            self._reports += 1
        self.paused_until = max(self.paused_until, snap.paused_until)
        self.banned_until = max(self.banned_until, snap.banned_until)

    def stored(self, now: float | None = None) -> dict:
        """This meter's knowledge, as ratelimits.record() takes it."""
        now = now or self._clock()
        return {
            "minute": self._roll(now),
            "used_weight": self.used(now),
            "weight_limit": self.limit if self.limit_known else None,
            "paused_until": self.paused_until or None,
            "banned_until": self.banned_until or None,
        }

    def set_reserve_for(self, armed_policies: int, countdown_weight: int = WEIGHT_PER_BEAT) -> None:
        self.reserve = disarm_reserve(armed_policies, countdown_weight)
