"""The simulated exchange's state and its ground truth, safe to use from many threads at once.

Locks are small and never held across a sleep: one per account (orders and countdowns), one for the
countdown timer queue, one each for the rate limiter, the fault table and the logs. Futures countdowns fire
from a timer queue checked every `tick`; options countdowns (option_countdowns.py) from a check loop of their
own, about once a second as on Binance.
Times given to tests (`armed_at`, `expires_at`, `cancelled_at`, `received_at`...) are host epoch seconds
(`time.time()`); the exchange's own clock, `server_time_ms()`, is host time plus the configured skew.
"""

import heapq
import itertools
import logging
import random
import secrets
import string
import threading
import time
from collections import deque

from . import bounds, errors, rules, symbols
from .book import Account, AlgoOrder, Countdown, Order, last4
from .faults import FaultTable
from .journal import RequestLog
from .keys import Verifier
from .kraken_limits import KrakenLimits, KrakenVerifier
from .okx_book import OkxVenue
from .option_countdowns import DEFAULT_INTERVAL, OptionCountdowns
from .ratelimit import WeightLimiter

log = logging.getLogger(__name__)

FIRST_ORDER_ID = 4_000_000_001  # well inside JavaScript's exact integers
# Binance's algo ids look like 2000000375244468: far from any order id, so mixing the two up fails loudly.
FIRST_ALGO_ID = 2_000_000_000_000_001
_ID_ALPHABET = string.ascii_letters + string.digits


def _generated_client_order_id() -> str:
    """22 letters and digits, like the ids Binance makes up when a client sends none."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


class Exchange:
    def __init__(
        self,
        *,
        weight_limit: int = 2400,
        ban_after: int = 10,
        ban_seconds: float = 120,
        tick: float = 0.01,
        hold_timeout: float = 30.0,
        expiry_cancels_algo_orders: bool = False,
        coinm_algo_service: bool = False,
        options_check_interval: float = DEFAULT_INTERVAL,
    ):
        self.tick = tick
        # Whether a countdown that runs out also cancels the symbol's algo (conditional) orders. Off by
        # default: Binance's countdownCancelAll page promises "all open orders" and predates the Algo Service,
        # which its own open/cancel-all endpoints keep apart; so a stop-loss may well survive a lapse. Tests
        # run both ways; reset() comes back to the value given here.
        self._expiry_cancels_algo_default = bool(expiry_cancels_algo_orders)
        self.expiry_cancels_algo_orders = self._expiry_cancels_algo_default
        # Whether COIN-M's conditional orders have moved to an Algo Service (/dapi/v1/algoOrder), as Binance
        # announced they will. Off by default, as Binance is today: /dapi/v1/order takes them as plain orders
        # and the algo paths are unknown (404). Switchable at run time, so a test can live through the day.
        self._coinm_algo_default = bool(coinm_algo_service)
        self.coinm_algo_service = self._coinm_algo_default
        self.limiter = WeightLimiter(weight_limit, ban_after, ban_seconds)
        self.faults_table = FaultTable(hold_timeout)
        self.log = RequestLog()
        self.kraken = KrakenLimits()  # Kraken Futures' nonces and cost budgets, per key
        self._skew_ms = 0
        self._latency = (0.0, 0.0)  # (ms, jitter ms)
        self._accounts_lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._timers_lock = threading.Lock()
        self._timers: list[tuple[float, int, Countdown]] = []
        self._timer_seq = itertools.count()
        self._stale_timers = 0
        self._cancellations_lock = threading.Lock()
        self._cancellations: deque[tuple[Account, dict]] = deque(maxlen=20_000)
        self._order_ids = itertools.count(FIRST_ORDER_ID)
        self._algo_ids = itertools.count(FIRST_ALGO_ID)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # OKX (okx_book.py, served under /api/v5/ by okx.py): its own accounts, orders and switches.
        self.okx = OkxVenue(
            self.server_time_ms, self._record_cancellation, lambda: self.expiry_cancels_algo_orders
        )
        self.options = OptionCountdowns(
            self._all_accounts,
            self.server_time_ms,
            self._record_cancellation,
            bounds.number(options_check_interval, "options_check_interval", 0.001, 60),
        )

    # Life cycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._run_ticker, name="simulator-countdowns", daemon=True)
            self._ticker.start()
        self.options.start()

    def stop(self) -> None:
        self._stop.set()
        self.options.stop()
        self.faults_table.release_all(drop=True)
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None

    def reset(self, *, keep_accounts: bool = False) -> None:
        """Back to a fresh exchange: no orders, countdowns, faults, logs, skew, latency or weight used."""
        self.faults_table.clear()
        self.faults_table.release_all(drop=True)
        with self._accounts_lock:
            if not keep_accounts:
                self._accounts.clear()
            accounts = list(self._accounts.values())
        for account in accounts:
            with account.lock:
                account.orders.clear()
                account.countdowns.clear()
                account.option_countdowns.clear()
                account.closed.clear()
                account.order_times.clear()
                account.algo_orders.clear()
                account.closed_algo.clear()
        with self._timers_lock:
            self._timers.clear()
            self._stale_timers = 0
        with self._cancellations_lock:
            self._cancellations.clear()
        self.okx.reset(keep_accounts=keep_accounts)
        self.log.clear()
        self.limiter.reset()
        self.kraken.reset()
        self._skew_ms = 0
        self._latency = (0.0, 0.0)
        self.expiry_cancels_algo_orders = self._expiry_cancels_algo_default
        self.coinm_algo_service = self._coinm_algo_default
        self.options.interval = self.options.default_interval

    # Clock, latency, limits ------------------------------------------------------------------------------

    @property
    def skew_ms(self) -> int:
        return self._skew_ms

    def set_skew(self, ms: int) -> None:
        """Server time = host time + ms (positive: the exchange's clock runs ahead of ours)."""
        self._skew_ms = bounds.integer(ms, "skew_ms", -bounds.MAX_SKEW_MS, bounds.MAX_SKEW_MS)

    def server_time_ms(self, now: float | None = None) -> int:
        return int((time.time() if now is None else now) * 1000) + self._skew_ms

    def set_latency(self, ms: float, jitter_ms: float = 0) -> None:
        """Delay before every Binance request is processed: ms ± a uniform jitter (never below zero)."""
        self._latency = (
            bounds.number(ms, "latency_ms", 0, bounds.MAX_DELAY_MS),
            bounds.number(jitter_ms, "jitter_ms", 0, bounds.MAX_DELAY_MS),
        )

    @property
    def latency(self) -> tuple[float, float]:
        """(latency ms, jitter ms) added before every Binance request."""
        return self._latency

    def latency_seconds(self) -> float:
        ms, jitter = self._latency
        if jitter:
            ms += random.uniform(-jitter, jitter)
        return max(ms, 0.0) / 1000

    def set_limits(self, weight_limit=None, ban_after=None, ban_seconds=None) -> None:
        if weight_limit is not None:
            self.limiter.limit = bounds.integer(weight_limit, "weight_limit", 0, 10**9)
        if ban_after is not None:
            self.limiter.ban_after = bounds.integer(ban_after, "ban_after", 0, 10**9)
        if ban_seconds is not None:
            self.limiter.ban_seconds = bounds.number(ban_seconds, "ban_seconds", 0, 3 * 86_400)

    def used_weight(self, ip: str = "127.0.0.1", venue: str = symbols.USDM) -> int:
        return self.limiter.used(ip, venue, self.server_time_ms())

    # Accounts --------------------------------------------------------------------------------------------

    def add_account(
        self,
        api_key: str,
        key_type: str,
        secret_or_public_pem: str,
        *,
        trade: bool = True,
        ip_whitelist=None,
        passphrase: str | None = None,
        options: bool = True,
    ) -> None:
        """Registers a key: the HMAC secret or a PEM public key (a private key PEM gives its public key).
        `trade` allows TRADE endpoints; `options` allows /eapi at all (Binance's options permission).

        Re-adding an existing key replaces its key material and permissions, keeping orders and countdowns.
        """
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if not isinstance(secret_or_public_pem, str) or (
            passphrase is not None and not isinstance(passphrase, str)
        ):
            raise ValueError("the key material and passphrase must be strings")
        verifier = Verifier(key_type, secret_or_public_pem, passphrase)
        if isinstance(ip_whitelist, str):
            ip_whitelist = [ip.strip() for ip in ip_whitelist.split(",") if ip.strip()]
        if ip_whitelist is not None and not all(isinstance(ip, str) for ip in ip_whitelist):
            raise ValueError("ip_whitelist must be a list of addresses")
        whitelist = frozenset(ip_whitelist) if ip_whitelist is not None else None
        with self._accounts_lock:
            existing = self._accounts.get(api_key)
            if existing is not None:
                existing.verifier, existing.trade, existing.ip_whitelist = verifier, bool(trade), whitelist
                existing.options = bool(options)
            else:
                self._accounts[api_key] = Account(api_key, verifier, bool(trade), whitelist, bool(options))

    def add_kraken_account(self, api_key: str, secret_base64: str, *, trade: bool = True) -> None:
        """Registers a Kraken Futures key: its secret as Kraken hands it out (base64). It is usable on the
        /derivatives paths only. Re-adding an existing key replaces its secret, keeping orders and switch."""
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        verifier = KrakenVerifier(secret_base64)
        with self._accounts_lock:
            existing = self._accounts.get(api_key)
            if existing is not None:
                existing.verifier, existing.trade, existing.options = verifier, bool(trade), False
                existing.ip_whitelist = None
            else:
                self._accounts[api_key] = Account(api_key, verifier, bool(trade), None, False)

    def account(self, api_key: str | None) -> Account | None:
        if not api_key:
            return None
        with self._accounts_lock:
            return self._accounts.get(api_key)

    def _all_accounts(self) -> list[Account]:
        with self._accounts_lock:
            return list(self._accounts.values())

    def accounts(self) -> list[dict]:
        with self._accounts_lock:
            return [a.describe() for a in self._accounts.values()]

    def _require_account(self, api_key: str) -> Account:
        account = self.account(api_key)
        if account is None:
            raise KeyError(f"no account with API key ending {last4(api_key)!r}")
        return account

    # Orders ----------------------------------------------------------------------------------------------

    def place_order(
        self,
        api_key: str,
        symbol: str,
        side: str = "BUY",
        price="1000",
        quantity="1",
        *,
        order_type: str = "LIMIT",
        time_in_force: str = "GTC",
        client_order_id: str | None = None,
        stop_price=None,
        callback_rate=None,
    ) -> dict:
        """Places an order without a signed request or filter checks (test set-up); returns it as Binance
        answers a new order. A conditional type (COIN-M, while it has no Algo Service) needs `stop_price`, or
        `callback_rate` for TRAILING_STOP_MARKET; STOP and TAKE_PROFIT use `price` too. Raises ValueError for
        what no exchange could hold (unknown symbol, side or type, a price or quantity that is not a positive
        number)."""
        market = symbols.MARKETS.get(symbol)
        if market is None:
            raise ValueError(f"unknown symbol {symbol!r}")
        conditional = order_type in rules.CONDITIONAL_TYPES
        if conditional and (market.venue != symbols.COINM or self.serves_algo(market.venue)):
            raise ValueError(f"{order_type} orders go to this venue's Algo Service (place_algo_order)")
        if side not in ("BUY", "SELL") or (order_type not in ("LIMIT", "MARKET") and not conditional):
            raise ValueError("side must be BUY or SELL and type LIMIT, MARKET or a conditional one")
        extra = {}
        if order_type == "TRAILING_STOP_MARKET":
            extra["callback_rate"] = rules.canonical(callback_rate)
        elif conditional:
            extra["stop_price"] = rules.canonical(stop_price)
        if client_order_id is not None and not isinstance(client_order_id, str):
            raise ValueError("newClientOrderId must be a string")
        order = self.new_order(
            self._require_account(api_key),
            market,
            side,
            order_type,
            str(time_in_force),
            rules.canonical(price) if order_type in ("LIMIT", "STOP", "TAKE_PROFIT") else "0",
            rules.canonical(quantity),
            client_order_id,
            **extra,
        )
        return order.to_wire("ack")

    def new_order(
        self,
        account,
        market,
        side,
        order_type,
        time_in_force,
        price,
        quantity,
        client_order_id,
        **conditional,
    ):
        """Rests a limit or a conditional order (a market order fills at once). `conditional`: a COIN-M
        conditional order's Order fields (stop_price, callback_rate, ...). Raises -4116 for a client order id
        already used by an open order of the account."""
        rests = order_type != "MARKET"
        priced = order_type in ("LIMIT", "STOP", "TAKE_PROFIT")
        now = time.time()
        now_ms = self.server_time_ms(now)
        order_id = next(self._order_ids)
        order = Order(
            order_id=order_id,
            client_order_id=client_order_id or _generated_client_order_id(),
            symbol=market.symbol,
            venue=market.venue,
            side=side,
            type=order_type,
            time_in_force=time_in_force if rests else "GTC",
            price=price if priced else "0",
            quantity=quantity,
            status="NEW" if rests else "FILLED",
            time_ms=now_ms,
            update_ms=now_ms,
            **conditional,
        )
        with account.lock:
            open_orders = (o for by_id in account.orders.values() for o in by_id.values())
            if client_order_id and any(o.client_order_id == client_order_id for o in open_orders):
                raise errors.duplicated_client_order_id()
            account.note_order(now)
            if order.status == "NEW":  # limit and conditional orders rest; market orders fill at once
                account.orders.setdefault(market.symbol, {})[order_id] = order
            else:
                account.retire([order])
        return order

    def open_orders(self, api_key: str, symbol: str | None = None) -> list[dict]:
        return [o.to_wire() for o in self._require_account(api_key).open_orders(symbol)]

    def order_counts(self, account: Account) -> tuple[int, int]:
        """Orders the account placed in the last 10 s and the last minute (X-MBX-ORDER-COUNT-10S / -1M)."""
        with account.lock:
            return account.order_counts(time.time())

    def find_order(self, account: Account, symbol: str, order_id=None, client_order_id=None) -> Order | None:
        with account.lock:
            return account.find(symbol, order_id, client_order_id)

    def cancel_order(self, account: Account, symbol: str, order_id=None, client_order_id=None):
        """Cancels one open order and returns it; None if no open order of `symbol` has that id."""
        with account.lock:
            order = account.find(symbol, order_id, client_order_id)
            if order is None or order.status != "NEW":
                return None
            del account.orders[symbol][order.order_id]
            if not account.orders[symbol]:
                del account.orders[symbol]
            order.status, order.update_ms = "CANCELED", self.server_time_ms()
            account.retire([order])
        return order

    def cancel_venue_orders(self, account: Account, venue: str, symbol: str | None = None) -> list[Order]:
        """Cancels every open order of the account on `venue` (one symbol's only, with `symbol`); returns
        them."""
        now_ms = self.server_time_ms()
        with account.lock:
            cancelled = self._pop_venue_orders(account, venue, symbol)
            for order in cancelled:
                order.status, order.update_ms = "CANCELED", now_ms
            account.retire(cancelled)
        return cancelled

    @staticmethod
    def _pop_venue_orders(account: Account, venue: str, symbol: str | None = None) -> list[Order]:
        """Expects `account.lock` to be held."""
        names = [s for s in account.orders if symbols.MARKETS[s].venue == venue and symbol in (None, s)]
        return [order for name in names for order in account.orders.pop(name).values()]

    def cancel_all(self, account: Account, symbol: str) -> list[int]:
        now_ms = self.server_time_ms()
        with account.lock:
            cancelled = account.orders.pop(symbol, {})
            for order in cancelled.values():
                order.status, order.update_ms = "CANCELED", now_ms
            account.retire(cancelled.values())
        return list(cancelled)

    # Algo orders -----------------------------------------------------------------------------------------

    def place_algo_order(
        self,
        api_key: str,
        symbol: str,
        side: str = "SELL",
        order_type: str = "STOP_MARKET",
        quantity="1",
        trigger_price="1000",
        price=None,
        *,
        client_algo_id: str | None = None,
        time_in_force: str = "GTC",
        reduce_only: bool = False,
        close_position: bool = False,
        callback_rate=None,
        activate_price=None,
    ) -> dict:
        """Places an algo (conditional) order without a signed request or filter checks (test set-up);
        returns it as Binance answers a new algo order. Raises ValueError for what no exchange could hold: an
        unknown symbol, a COIN-M one while COIN-M has no Algo Service (`coinm_algo_service` off), a side or
        type, a missing or non-positive number that the type needs."""
        market = symbols.MARKETS.get(symbol)
        if market is None or not self.serves_algo(market.venue):
            raise ValueError(f"unknown symbol {symbol!r}, or one whose venue has no Algo Service")
        if side not in ("BUY", "SELL") or order_type not in rules.CONDITIONAL_TYPES:
            raise ValueError(f"side must be BUY or SELL and type one of {', '.join(rules.CONDITIONAL_TYPES)}")
        if client_algo_id is not None and not isinstance(client_algo_id, str):
            raise ValueError("clientAlgoId must be a string")
        trailing, limit = order_type == "TRAILING_STOP_MARKET", order_type in ("STOP", "TAKE_PROFIT")
        if trailing and callback_rate is None:
            raise ValueError("a TRAILING_STOP_MARKET order needs callbackRate")
        if limit and price is None:
            raise ValueError(f"a {order_type} order needs a price")
        trailing_options = {}
        if trailing:
            trailing_options["callback_rate"] = rules.canonical(callback_rate)
            if activate_price is not None:
                trailing_options["activate_price"] = rules.canonical(activate_price)
        order = self.new_algo_order(
            self._require_account(api_key),
            market,
            side,
            order_type,
            str(time_in_force),
            "0" if close_position else rules.canonical(quantity),
            rules.canonical(price) if limit else "0",
            "0" if trailing else rules.canonical(trigger_price),
            client_algo_id,
            reduce_only=bool(reduce_only),
            close_position=bool(close_position),
            **trailing_options,
        )
        return order.to_wire("ack")

    def new_algo_order(
        self,
        account: Account,
        market: symbols.Market,
        side: str,
        order_type: str,
        time_in_force: str,
        quantity: str,
        price: str,
        trigger_price: str,
        client_algo_id: str | None,
        **options,
    ) -> AlgoOrder:
        """Holds a conditional order untriggered (nothing here moves prices). Raises -4116 for a client algo
        id already used by an open algo order of the account (assumption: Binance's code for the same clash
        among plain orders). Counts towards the account's order rate, as Binance documents."""
        now = time.time()
        now_ms = self.server_time_ms(now)
        order = AlgoOrder(
            algo_id=next(self._algo_ids),
            client_algo_id=client_algo_id or _generated_client_order_id(),
            symbol=market.symbol,
            side=side,
            type=order_type,
            time_in_force=time_in_force,
            quantity=quantity,
            price=price,
            trigger_price=trigger_price,
            status="NEW",
            create_ms=now_ms,
            update_ms=now_ms,
            price_precision=market.price_precision,
            quantity_precision=market.quantity_precision,
            **options,
        )
        with account.lock:
            open_orders = (o for by_id in account.algo_orders.values() for o in by_id.values())
            if client_algo_id and any(o.client_algo_id == client_algo_id for o in open_orders):
                raise errors.duplicated_client_order_id()
            account.note_order(now)
            account.algo_orders.setdefault(market.symbol, {})[order.algo_id] = order
        return order

    def open_algo_orders(self, api_key: str, symbol: str | None = None) -> list[dict]:
        return [o.to_wire() for o in self._require_account(api_key).open_algo_orders(symbol)]

    def find_algo_order(self, account: Account, algo_id=None, client_algo_id=None) -> AlgoOrder | None:
        with account.lock:
            return account.find_algo(algo_id, client_algo_id)

    def cancel_algo_order(self, account: Account, algo_id=None, client_algo_id=None) -> AlgoOrder | None:
        """Cancels one open algo order and returns it; None if no open algo order has that id."""
        with account.lock:
            order = account.find_algo(algo_id, client_algo_id)
            if order is None or not order.is_open:
                return None
            self._close_algo(account, [account.algo_orders[order.symbol].pop(order.algo_id)], "CANCELED")
            if not account.algo_orders[order.symbol]:
                del account.algo_orders[order.symbol]
        return order

    def cancel_all_algo(self, account: Account, symbol: str) -> list[int]:
        with account.lock:
            cancelled = account.algo_orders.pop(symbol, {})
            self._close_algo(account, cancelled.values(), "CANCELED")
        return list(cancelled)

    def set_expiry_cancels_algo_orders(self, value: bool) -> None:
        self.expiry_cancels_algo_orders = bool(value)

    def set_coinm_algo_service(self, value: bool) -> None:
        """Moves COIN-M's conditional orders to the Algo Service (True) or back. Orders already placed stay
        where they are, as they would on migration day."""
        self.coinm_algo_service = bool(value)

    def serves_algo(self, venue: str) -> bool:
        """Whether `venue` has an Algo Service: USDⓈ-M always, COIN-M once migrated."""
        return venue == symbols.USDM or (venue == symbols.COINM and self.coinm_algo_service)

    def _close_algo(self, account: Account, orders, status: str) -> None:
        """Expects `account.lock` to be held."""
        now_ms = self.server_time_ms()
        for order in orders:
            order.status, order.update_ms = status, now_ms
        account.retire_algo(orders)

    # Countdowns ------------------------------------------------------------------------------------------

    def set_countdown(
        self, account: Account, venue: str, symbol: str, countdown_ms: int, request_id: int | None = None
    ) -> Countdown | None:
        """Arms (replacing any running countdown: last write wins) or, with 0, disarms. Starts now."""
        countdown = None
        with account.lock:
            now = time.time()
            if countdown_ms:
                countdown = Countdown(
                    account,
                    venue,
                    symbol,
                    countdown_ms,
                    now,
                    now + countdown_ms / 1000,
                    self.server_time_ms(now),
                    request_id,
                )
                previous = account.countdowns.get(symbol)
                account.countdowns[symbol] = countdown
            else:
                previous = account.countdowns.pop(symbol, None)
            if previous is not None:
                previous.replaced = True
        with self._timers_lock:
            if countdown is not None:
                heapq.heappush(self._timers, (countdown.expires_at, next(self._timer_seq), countdown))
            if previous is not None:
                self._stale_timers += 1
                # Fast heartbeats with long countdowns would otherwise pile up replaced entries.
                if self._stale_timers > 1000 and self._stale_timers * 2 > len(self._timers):
                    self._timers = [t for t in self._timers if not t[2].replaced]
                    heapq.heapify(self._timers)
                    self._stale_timers = 0
        return countdown

    def countdowns(self, api_key: str | None = None) -> list[dict]:
        """Armed countdowns with their true expiry (`expires_at`, host epoch seconds)."""
        with self._accounts_lock:
            accounts = [a for a in self._accounts.values() if api_key is None or a.api_key == api_key]
        found = []
        for account in accounts:
            with account.lock:
                found.extend(c.describe() for c in account.countdowns.values())
        return sorted(found, key=lambda c: c["expires_at"])

    def cancellations(self, api_key: str | None = None) -> list[dict]:
        """One record per countdown that ran out: when it was due, when it fired, the orders it cancelled
        (`order_ids`) and the algo orders (`algo_ids`, empty unless `expiry_cancels_algo_orders`)."""
        with self._cancellations_lock:
            found = [(account, dict(c)) for account, c in self._cancellations]
        return [record for account, record in found if api_key is None or account.api_key == api_key]

    def option_countdowns(self, api_key: str | None = None) -> list[dict]:
        """Options' kill-switch configurations per underlying, with their true expiry and, once run out,
        `lapsed_at` (new orders on the underlying are refused until a heartbeat or a disarm)."""
        found = []
        for account in self._all_accounts():
            if api_key is None or account.api_key == api_key:
                found.extend(c.describe() for c in self.options.configured(account))
        return sorted(found, key=lambda c: c["expires_at"])

    def set_kraken_nonce_tolerance(self, seconds: float) -> None:
        """How long after a Kraken Futures nonce was accepted a lower one is still accepted (Kraken: "a brief
        period of time", no figure published)."""
        self.kraken.nonce_tolerance = bounds.number(seconds, "kraken_nonce_tolerance", 0, 3600)

    def set_options_check_interval(self, seconds: float) -> None:
        self.options.interval = bounds.number(seconds, "options_check_interval", 0.001, 60)

    def _record_cancellation(self, account: Account, record: dict) -> None:
        with self._cancellations_lock:
            self._cancellations.append((account, record))

    def _run_ticker(self) -> None:
        # Binance checks countdowns about every 10 ms; so does this thread.
        while not self._stop.wait(self.tick):
            try:
                self.expire_due()
                self.okx.expire_due()
            except Exception:  # one bad countdown must not stop the others from firing
                log.exception("countdown check failed")

    def expire_due(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        due = []
        with self._timers_lock:
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers)[2])
        fired = 0
        for countdown in due:
            account = countdown.account
            with account.lock:
                if account.countdowns.get(countdown.symbol) is not countdown:
                    continue  # replaced or disarmed since it was queued
                del account.countdowns[countdown.symbol]
                if countdown.venue == symbols.KRAKEN_FUTURES:  # Kraken's switch is account-wide
                    cancelled = {o.order_id: o for o in self._pop_venue_orders(account, countdown.venue)}
                else:
                    cancelled = account.orders.pop(countdown.symbol, {})
                cancelled_at = time.time()
                now_ms = self.server_time_ms(cancelled_at)
                for order in cancelled.values():
                    order.status, order.update_ms = "CANCELED", now_ms
                account.retire(cancelled.values())
                algo = {}
                if self.expiry_cancels_algo_orders:
                    algo = account.algo_orders.pop(countdown.symbol, {})
                    # EXPIRED: Binance's word for an algo order "canceled by the system" (ALGO_UPDATE page).
                    self._close_algo(account, algo.values(), "EXPIRED")
            record = countdown.describe()
            record.update(cancelled_at=cancelled_at, order_ids=list(cancelled), algo_ids=list(algo))
            self._record_cancellation(account, record)
            fired += 1
        return fired

    # Faults ----------------------------------------------------------------------------------------------

    def inject(self, path=None, symbol=None, countdown_ms=None, api_key=None, **options) -> int:
        """Adds a fault for matching requests; returns its id. See FaultTable.inject for the options."""
        return self.faults_table.inject(path, symbol, countdown_ms, api_key, **options).id

    def faults(self) -> list[dict]:
        return self.faults_table.faults()

    def clear_faults(self) -> None:
        self.faults_table.clear()

    def release(self, name: str, wait: float = 5.0) -> int:
        """Delivers every request held under `name`; returns how many, once they have been processed."""
        return self.faults_table.release(name, bounds.number(wait, "wait", 0, bounds.MAX_WAIT_SECONDS))

    def wait_held(self, name: str, count: int = 1, timeout: float = 5.0) -> int:
        return self.faults_table.wait_held(
            name, count, bounds.number(timeout, "timeout", 0, bounds.MAX_WAIT_SECONDS)
        )

    def held(self) -> list[dict]:
        return self.faults_table.held()

    # Ground truth ----------------------------------------------------------------------------------------

    def requests_log(self, path: str | None = None, since_id: int = 0) -> list[dict]:
        return self.log.entries(path, since_id)

    def state(self) -> dict:
        now = time.time()
        with self._accounts_lock:
            accounts = list(self._accounts.values())
        orders, algo_orders = [], []
        for account in accounts:
            for order in account.open_orders():
                orders.append({"api_key_last4": account.last4, **order.to_wire()})
            for algo in account.open_algo_orders():
                algo_orders.append({"api_key_last4": account.last4, **algo.to_wire()})
        latency_ms, jitter_ms = self._latency
        return {
            "now": now,
            "server_time": self.server_time_ms(now),
            "skew_ms": self._skew_ms,
            "latency_ms": latency_ms,
            "jitter_ms": jitter_ms,
            "weight_limit": self.limiter.limit,
            "ban_after": self.limiter.ban_after,
            "ban_seconds": self.limiter.ban_seconds,
            "accounts": [a.describe() for a in accounts],
            "countdowns": self.countdowns(),
            "option_countdowns": self.option_countdowns(),
            "cancellations": self.cancellations(),
            "open_orders": orders,
            "algo_orders": algo_orders,
            "expiry_cancels_algo_orders": self.expiry_cancels_algo_orders,
            "coinm_algo_service": self.coinm_algo_service,
            "options_check_interval": self.options.interval,
            "kraken_nonce_tolerance": self.kraken.nonce_tolerance,
            "faults": self.faults(),
            "held": self.held(),
            "weights": self.limiter.snapshot(self.server_time_ms(now)),
            "okx": self.okx.state(),
        }
