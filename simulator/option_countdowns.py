"""Binance Options' kill switch: one countdown per account and underlying (BTCUSDT covers every BTC option).

Unlike the futures countdown, which each call replaces, options keep a configuration (countdownCancelAll,
at least 5,000 ms, 0 turns it off) that heartbeats (countdownCancelAllHeartBeat) restart. As Binance's "Set
Auto-Cancel All Open Orders (Kill-Switch) Config" page says
(developers.binance.com/docs/derivatives/option/market-maker-endpoints/Set-Auto-Cancel-All-Open-Orders-Config):
once the countdown runs out every open order of the underlying is cancelled, and new orders on it "will be
rejected with error code -2010 until either a heartbeat message is sent or the auto-cancel feature is turned
off by setting countdownTime to 0". So a lapsed configuration stays (GET still lists it) and refuses orders.

The same page says the system checks the countdowns "approximately every 1000 milliseconds" (the official
SDK's docstring says 100 ms): a check loop here, every `interval` seconds (1 by default, settable), cancels
what has run out at the first check after its expiry, so a lapse fires up to one interval late.
Assumptions where Binance says nothing: a new non-zero configuration restarts the countdown from that call and
lifts the refusal, as a heartbeat does; an underlying without a configuration is left out of a heartbeat's
answer without an error.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .book import Account
from .symbols import MARKETS, OPTIONS

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0


@dataclass(eq=False)
class UnderlyingCountdown:
    account: Account
    underlying: str
    countdown_ms: int
    armed_at: float  # host epoch seconds: the configuration call or the last heartbeat, as applied
    expires_at: float
    armed_at_server_ms: int
    request_id: int | None
    lapsed_at: float | None = None  # when the check loop cancelled its orders; orders are refused from then

    def restart(self, now: float, server_ms: int, request_id: int | None) -> None:
        self.armed_at, self.expires_at = now, now + self.countdown_ms / 1000
        self.armed_at_server_ms, self.request_id, self.lapsed_at = server_ms, request_id, None

    def describe(self) -> dict:
        return {
            "api_key_last4": self.account.last4,
            "venue": OPTIONS,
            "underlying": self.underlying,
            "symbol": self.underlying,  # the field the futures records use for what a countdown covers
            "countdown_ms": self.countdown_ms,
            "armed_at": self.armed_at,
            "expires_at": self.expires_at,
            "armed_at_server_ms": self.armed_at_server_ms,
            "expires_at_server_ms": self.armed_at_server_ms + self.countdown_ms,
            "request_id": self.request_id,
            "lapsed_at": self.lapsed_at,
        }


class OptionCountdowns:
    """The configurations live in each account (`Account.option_countdowns`, under the account's lock); this
    object changes them and runs the check loop."""

    def __init__(
        self,
        accounts: Callable[[], list[Account]],
        server_time_ms: Callable[[float], int],
        record: Callable[[Account, dict], None],
        interval: float = DEFAULT_INTERVAL,
    ):
        self._accounts, self._server_time_ms, self._record = accounts, server_time_ms, record
        self._stop = threading.Event()
        self._wake = threading.Event()  # a new interval applies at once, not after the current wait
        self.default_interval = self._interval = interval
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = seconds
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="simulator-option-countdowns", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def configure(self, account: Account, underlying: str, countdown_ms: int, request_id=None) -> None:
        """Arms (or re-arms, restarting from now) the underlying's countdown; 0 turns it off."""
        now = time.time()
        with account.lock:
            if not countdown_ms:
                account.option_countdowns.pop(underlying, None)
                return
            countdown = UnderlyingCountdown(account, underlying, countdown_ms, 0, 0, 0, None)
            countdown.restart(now, self._server_time_ms(now), request_id)
            account.option_countdowns[underlying] = countdown

    def heartbeat(self, account: Account, underlyings: list[str], request_id=None) -> list[str]:
        """Restarts the listed underlyings' countdowns; returns those it restarted (configured ones only)."""
        now = time.time()
        server_ms = self._server_time_ms(now)
        renewed = []
        with account.lock:
            for underlying in underlyings:
                countdown = account.option_countdowns.get(underlying)
                if countdown is not None and underlying not in renewed:
                    countdown.restart(now, server_ms, request_id)
                    renewed.append(underlying)
        return renewed

    def configured(self, account: Account, underlying: str | None = None) -> list[UnderlyingCountdown]:
        with account.lock:
            found = account.option_countdowns.values()
            return [c for c in found if underlying is None or c.underlying == underlying]

    def refuses_orders(self, account: Account, underlying: str) -> bool:
        with account.lock:
            countdown = account.option_countdowns.get(underlying)
            return countdown is not None and countdown.lapsed_at is not None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.expire_due()
            except Exception:  # one bad account must not stop the others' countdowns
                log.exception("options countdown check failed")

    def expire_due(self, now: float | None = None) -> int:
        """One check: cancels the open orders of every underlying whose countdown has run out."""
        now = time.time() if now is None else now
        fired = 0
        for account in self._accounts():
            with account.lock:
                due = [
                    c
                    for c in account.option_countdowns.values()
                    if c.lapsed_at is None and c.expires_at <= now
                ]
                records = [self._lapse(account, countdown) for countdown in due]
            for record in records:
                self._record(account, record)
            fired += len(records)
        return fired

    def _lapse(self, account: Account, countdown: UnderlyingCountdown) -> dict:
        """Expects `account.lock` to be held."""
        cancelled_at = time.time()
        now_ms = self._server_time_ms(cancelled_at)
        cancelled = []
        for symbol in [s for s in account.orders if _underlying(s) == countdown.underlying]:
            for order in account.orders.pop(symbol).values():
                order.status, order.update_ms = "CANCELED", now_ms
                cancelled.append(order)
        account.retire(cancelled)
        countdown.lapsed_at = cancelled_at
        record = countdown.describe()
        record.update(cancelled_at=cancelled_at, order_ids=[o.order_id for o in cancelled], algo_ids=[])
        return record


def _underlying(symbol: str) -> str | None:
    market = MARKETS.get(symbol)
    return market.underlying if market is not None and market.venue == OPTIONS else None
