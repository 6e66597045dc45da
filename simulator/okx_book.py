"""OKX's side of the simulated exchange: its accounts (API key, secret, passphrase), instruments, pending
orders, untriggered algo orders and Cancel All After switches, with the rate-limit counts of its endpoints.

Kept apart from the Binance book (book.py): an OKX key signs differently (a passphrase besides the secret) and
OKX's orders, ids and states have their own shapes. The HTTP side is okx.py; this module knows nothing of it,
so that exchange.py can hold an `OkxVenue` without an import cycle.

Facts and their sources (OKX API v5 docs, https://www.okx.com/docs-v5/en/):
- Cancel All After (#order-book-trading-trade-post-cancel-all-after): `timeOut` in seconds, 0 or 10-120, 0
  turns it off; optional `tag` (1-16 letters and digits) scopes it to the orders carrying that tag, without it
  the whole (sub-)account's order-book orders; at most 20 tag-level switches live at once (51071 beyond);
  when triggered, "the trading engine will cancel orders on behalf of the client one by one". Algo orders are
  not mentioned: whether they go too is the exchange's `expiry_cancels_algo_orders` switch, off by default.
- Rate limits (each endpoint's page): Cancel All After 1 request per second per User ID + tag; Order List
  60 requests per 2 s per User ID; Algo order list 20 per 2 s per User ID; Place order 60 per 2 s and Cancel
  order 60 per 2 s per User ID + Instrument ID; Cancel multiple orders 300 orders per 2 s and Cancel algo
  order 20 orders per 2 s per User ID + Instrument ID; Get system time 10 per 2 s per IP.
"""

import itertools
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from .book import last4

VENUE = "okx"
MIN_TIMEOUT_S = 10
MAX_TIMEOUT_S = 120
MAX_TAG_SWITCHES = 20
CLOSED_KEPT = 1000
# OKX's order ids are 18-19 digit strings ("1752588852617379840"); far from Binance's ids in this simulator.
FIRST_ORDER_ID = 1_900_000_000_000_000_001
FIRST_ALGO_ID = 1_950_000_000_000_000_001


@dataclass(frozen=True)
class Instrument:
    inst_id: str
    inst_type: str  # SPOT, SWAP
    base: str
    quote: str
    settle: str = ""
    ct_val: str = ""
    tick_sz: str = "0.1"
    lot_sz: str = "1"
    min_sz: str = "1"

    @property
    def family(self) -> str:
        return f"{self.base}-{self.quote}" if self.inst_type != "SPOT" else ""

    def to_wire(self, now_ms: int) -> dict:
        """As GET /api/v5/public/instruments lists one (the fields its page documents; those for other
        instrument types left empty)."""
        swap = self.inst_type == "SWAP"
        return {
            "alias": "",
            "baseCcy": self.base if not swap else "",
            "category": "1",
            "ctMult": "1" if swap else "",
            "ctType": ("inverse" if self.quote == "USD" else "linear") if swap else "",
            "ctVal": self.ct_val,
            "ctValCcy": (self.quote if self.quote == "USD" else self.base) if swap else "",
            "expTime": "",
            "instFamily": self.family,
            "instId": self.inst_id,
            "instType": self.inst_type,
            "lever": "100" if swap else "10",
            "listTime": "1606468572000",
            "lotSz": self.lot_sz,
            "maxIcebergSz": "100000000",
            "maxLmtAmt": "20000000",
            "maxLmtSz": "100000000",
            "maxMktAmt": "",
            "maxMktSz": "10000",
            "maxStopSz": "10000",
            "maxTriggerSz": "100000000",
            "maxTwapSz": "100000000",
            "minSz": self.min_sz,
            "optType": "",
            "quoteCcy": self.quote if not swap else "",
            "settleCcy": self.settle,
            "state": "live",
            "stk": "",
            "tickSz": self.tick_sz,
            "uly": self.family,
        }


INSTRUMENTS = {
    i.inst_id: i
    for i in (
        Instrument("BTC-USDT-SWAP", "SWAP", "BTC", "USDT", "USDT", "0.01", "0.1", "0.01", "0.01"),
        Instrument("ETH-USDT-SWAP", "SWAP", "ETH", "USDT", "USDT", "0.1", "0.01", "0.01", "0.01"),
        Instrument("SOL-USDT-SWAP", "SWAP", "SOL", "USDT", "USDT", "1", "0.01", "0.01", "0.01"),
        Instrument("BTC-USD-SWAP", "SWAP", "BTC", "USD", "BTC", "100", "0.1", "1", "1"),
        Instrument("ETH-USD-SWAP", "SWAP", "ETH", "USD", "ETH", "10", "0.01", "1", "1"),
        Instrument("BTC-USDT", "SPOT", "BTC", "USDT", tick_sz="0.1", lot_sz="0.00000001", min_sz="0.00001"),
        Instrument("ETH-USDT", "SPOT", "ETH", "USDT", tick_sz="0.01", lot_sz="0.000001", min_sz="0.0001"),
    )
}


@dataclass
class OkxOrder:
    ord_id: str
    cl_ord_id: str
    tag: str
    inst: Instrument
    side: str
    ord_type: str
    px: str
    sz: str
    td_mode: str
    pos_side: str
    reduce_only: bool
    state: str  # live, canceled, filled
    c_time: int
    u_time: int

    def to_wire(self) -> dict:
        """As Order List (GET /api/v5/trade/orders-pending) shows it: its documented fields."""
        return {
            "accFillSz": self.sz if self.state == "filled" else "0",
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": self.px if self.state == "filled" else "",
            "cTime": str(self.c_time),
            "cancelSource": "",
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": self.cl_ord_id,
            "fee": "0",
            "feeCcy": self.inst.settle or self.inst.quote,
            "fillPx": "",
            "fillSz": "0",
            "fillTime": "",
            "instId": self.inst.inst_id,
            "instType": self.inst.inst_type,
            "isTpLimit": "false",
            "lever": "",
            "linkedAlgoOrd": {"algoId": ""},
            "ordId": self.ord_id,
            "ordType": self.ord_type,
            "pnl": "0",
            "posSide": self.pos_side,
            "px": self.px,
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": self.inst.quote,
            "reduceOnly": "true" if self.reduce_only else "false",
            "side": self.side,
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": self.state,
            "stpId": "",
            "stpMode": "cancel_maker",
            "sz": self.sz,
            "tag": self.tag,
            "tdMode": self.td_mode,
            "tgtCcy": "",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": "",
            "tradeQuoteCcy": self.inst.quote if self.inst.inst_type == "SPOT" else "",
            "uTime": str(self.u_time),
        }


@dataclass
class OkxAlgoOrder:
    algo_id: str
    algo_cl_ord_id: str
    tag: str
    inst: Instrument
    side: str
    ord_type: str  # conditional, oco, trigger, move_order_stop
    sz: str
    td_mode: str
    trigger_px: str
    sl_trigger_px: str
    tp_trigger_px: str
    state: str  # live, canceled, effective
    c_time: int
    u_time: int

    def to_wire(self) -> dict:
        """As Algo order list (GET /api/v5/trade/orders-algo-pending) shows it."""
        return {
            "activePx": "",
            "actualPx": "",
            "actualSide": "",
            "actualSz": "0",
            "algoClOrdId": self.algo_cl_ord_id,
            "algoId": self.algo_id,
            "amendPxOnTriggerType": "0",
            "attachAlgoOrds": [],
            "cTime": str(self.c_time),
            "callbackRatio": "",
            "callbackSpread": "",
            "ccy": "",
            "clOrdId": "",
            "closeFraction": "",
            "failCode": "",
            "instId": self.inst.inst_id,
            "instType": self.inst.inst_type,
            "last": "",
            "lever": "",
            "linkedOrd": {"ordId": ""},
            "moveTriggerPx": "",
            "ordId": "",
            "ordIdList": [],
            "ordPx": "-1" if self.ord_type == "trigger" else "",
            "ordType": self.ord_type,
            "posSide": "net",
            "reduceOnly": "false",
            "side": self.side,
            "slOrdPx": "-1" if self.sl_trigger_px else "",
            "slTriggerPx": self.sl_trigger_px,
            "slTriggerPxType": "last" if self.sl_trigger_px else "",
            "state": self.state,
            "sz": self.sz,
            "tag": self.tag,
            "tdMode": self.td_mode,
            "tgtCcy": "",
            "tpOrdPx": "-1" if self.tp_trigger_px else "",
            "tpTriggerPx": self.tp_trigger_px,
            "tpTriggerPxType": "last" if self.tp_trigger_px else "",
            "triggerPx": self.trigger_px,
            "triggerPxType": "last" if self.trigger_px else "",
            "triggerTime": "",
            "uTime": str(self.u_time),
        }


@dataclass(eq=False)
class OkxSwitch:
    """One armed Cancel All After: the account's ("" tag) or one tag's. Compared by identity: a replaced one
    must never fire."""

    account: "OkxAccount"
    tag: str
    timeout_s: int
    armed_at: float  # host epoch seconds, when the request was applied
    expires_at: float
    armed_at_server_ms: int
    request_id: int | None
    replaced: bool = False

    def describe(self) -> dict:
        return {
            "api_key_last4": self.account.last4,
            "venue": VENUE,
            "symbol": None,
            "tag": self.tag,
            "countdown_ms": self.timeout_s * 1000,
            "armed_at": self.armed_at,
            "expires_at": self.expires_at,
            "armed_at_server_ms": self.armed_at_server_ms,
            "expires_at_server_ms": self.armed_at_server_ms + self.timeout_s * 1000,
            "request_id": self.request_id,
        }


@dataclass(eq=False)
class OkxAccount:
    api_key: str
    secret: str
    passphrase: str
    trade: bool = True
    ip_whitelist: frozenset[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    orders: dict[str, OkxOrder] = field(default_factory=dict, repr=False)  # ordId -> pending order
    algo_orders: dict[str, OkxAlgoOrder] = field(default_factory=dict, repr=False)
    switches: dict[str, OkxSwitch] = field(default_factory=dict, repr=False)  # tag ("" = account) -> switch
    closed: OrderedDict[str, OkxOrder] = field(default_factory=OrderedDict, repr=False)

    @property
    def last4(self) -> str:
        return last4(self.api_key)

    def allows_ip(self, ip: str) -> bool:
        return self.ip_whitelist is None or ip in self.ip_whitelist

    def describe(self) -> dict:
        return {
            "api_key_last4": self.last4,
            "key_type": "hmac",
            "venue": VENUE,
            "trade": self.trade,
            "ip_whitelist": sorted(self.ip_whitelist) if self.ip_whitelist is not None else None,
        }

    # Expect `lock` to be held.

    def retire(self, orders) -> None:
        for order in orders:
            self.closed[order.ord_id] = order
        while len(self.closed) > CLOSED_KEPT:
            self.closed.popitem(last=False)


class RateCounter:
    """Requests per (scope key) in a sliding window, as OKX words its limits ("1 request per second", "60
    requests per 2 seconds"). A refused request is not counted. `scale` shortens every window (tests)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seen: dict[tuple, deque[float]] = {}
        self.scale = 1.0

    def take(self, key: tuple, limit: int, window_s: float, amount: int = 1, now=None) -> bool:
        now = time.monotonic() if now is None else now
        window = window_s * self.scale
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) + amount > limit:
                return False
            seen.extend([now] * amount)
            return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


class OkxVenue:
    """OKX's accounts, orders and switches. `server_time_ms` and `record_cancellation` are the Exchange's."""

    def __init__(self, server_time_ms, record_cancellation, expiry_cancels_algo):
        self._server_time_ms = server_time_ms
        self._record_cancellation = record_cancellation
        self._expiry_cancels_algo = expiry_cancels_algo  # () -> bool, the exchange's switch
        self._accounts_lock = threading.Lock()
        self._accounts: dict[str, OkxAccount] = {}
        self._ids = itertools.count(FIRST_ORDER_ID)
        self._algo_ids = itertools.count(FIRST_ALGO_ID)
        self._switches_lock = threading.Lock()
        self._armed: list[OkxSwitch] = []
        self.rates = RateCounter()

    # Accounts ----------------------------------------------------------------------------------------------

    def add_account(self, api_key, secret, passphrase, *, trade=True, ip_whitelist=None) -> OkxAccount:
        """Registers (or re-keys, keeping orders and switches) an OKX key with its secret and passphrase."""
        for name, value in (("api_key", api_key), ("secret", secret), ("passphrase", passphrase)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        if isinstance(ip_whitelist, str):
            ip_whitelist = [ip.strip() for ip in ip_whitelist.split(",") if ip.strip()]
        whitelist = frozenset(ip_whitelist) if ip_whitelist is not None else None
        with self._accounts_lock:
            account = self._accounts.get(api_key)
            if account is None:
                account = self._accounts[api_key] = OkxAccount(api_key, secret, passphrase)
            account.secret, account.passphrase = secret, passphrase
            account.trade, account.ip_whitelist = bool(trade), whitelist
        return account

    def account(self, api_key: str | None) -> OkxAccount | None:
        if not api_key:
            return None
        with self._accounts_lock:
            return self._accounts.get(api_key)

    def accounts(self) -> list[OkxAccount]:
        with self._accounts_lock:
            return list(self._accounts.values())

    def require(self, api_key: str) -> OkxAccount:
        account = self.account(api_key)
        if account is None:
            raise KeyError(f"no OKX account with API key ending {last4(api_key)!r}")
        return account

    # Orders ------------------------------------------------------------------------------------------------

    def new_order(
        self,
        account,
        inst,
        side,
        ord_type,
        px,
        sz,
        *,
        cl_ord_id="",
        tag="",
        td_mode="cross",
        pos_side="net",
        reduce_only=False,
    ) -> OkxOrder:
        """Rests a limit or post-only order; a market order fills at once (it never rests)."""
        now_ms = self._server_time_ms()
        order = OkxOrder(
            str(next(self._ids)),
            cl_ord_id,
            tag,
            inst,
            side,
            ord_type,
            px if ord_type != "market" else "",
            sz,
            td_mode,
            pos_side,
            reduce_only,
            "live" if ord_type != "market" else "filled",
            now_ms,
            now_ms,
        )
        with account.lock:
            if order.state == "live":
                account.orders[order.ord_id] = order
            else:
                account.retire([order])
        return order

    def place_order(
        self, api_key, inst_id, side="buy", px="1000", sz="1", *, ord_type="limit", cl_ord_id="", tag=""
    ) -> dict:
        """Places a resting order without a signed request (test set-up); returns it as Order List shows it.
        ValueError for an unknown instId, side or type."""
        inst = INSTRUMENTS.get(inst_id)
        if inst is None:
            raise ValueError(f"unknown OKX instId {inst_id!r}; known: {', '.join(INSTRUMENTS)}")
        if side not in ("buy", "sell") or ord_type not in ("limit", "post_only"):
            raise ValueError("side must be buy or sell and ordType limit or post_only")
        order = self.new_order(
            self.require(api_key),
            inst,
            side,
            ord_type,
            str(px),
            str(sz),
            cl_ord_id=cl_ord_id or "",
            tag=tag or "",
            td_mode="cash" if inst.inst_type == "SPOT" else "cross",
        )
        return order.to_wire()

    def new_algo_order(
        self,
        account,
        inst,
        side,
        ord_type,
        sz,
        *,
        trigger_px="",
        sl_trigger_px="",
        tp_trigger_px="",
        algo_cl_ord_id="",
        tag="",
    ) -> OkxAlgoOrder:
        now_ms = self._server_time_ms()
        order = OkxAlgoOrder(
            str(next(self._algo_ids)),
            algo_cl_ord_id,
            tag,
            inst,
            side,
            ord_type,
            sz,
            "cash" if inst.inst_type == "SPOT" else "cross",
            trigger_px,
            sl_trigger_px,
            tp_trigger_px,
            "live",
            now_ms,
            now_ms,
        )
        with account.lock:
            account.algo_orders[order.algo_id] = order
        return order

    def place_algo_order(
        self,
        api_key,
        inst_id,
        side="sell",
        sz="1",
        *,
        ord_type="conditional",
        trigger_px="900",
        algo_cl_ord_id="",
        tag="",
    ) -> dict:
        """An untriggered algo order (test set-up): a stop-loss (conditional) or a trigger order."""
        inst = INSTRUMENTS.get(inst_id)
        if inst is None:
            raise ValueError(f"unknown OKX instId {inst_id!r}")
        if side not in ("buy", "sell") or ord_type not in ("conditional", "trigger"):
            raise ValueError("side must be buy or sell and ordType conditional or trigger")
        stop = ord_type == "conditional"
        order = self.new_algo_order(
            self.require(api_key),
            inst,
            side,
            ord_type,
            str(sz),
            trigger_px="" if stop else str(trigger_px),
            sl_trigger_px=str(trigger_px) if stop else "",
            algo_cl_ord_id=algo_cl_ord_id or "",
            tag=tag or "",
        )
        return order.to_wire()

    def open_orders(self, api_key: str) -> list[dict]:
        account = self.require(api_key)
        with account.lock:
            return [o.to_wire() for o in account.orders.values()]

    def open_algo_orders(self, api_key: str) -> list[dict]:
        account = self.require(api_key)
        with account.lock:
            return [o.to_wire() for o in account.algo_orders.values()]

    def cancel_order(self, account, inst_id, ord_id=None, cl_ord_id=None) -> OkxOrder | None:
        with account.lock:
            order = account.orders.get(ord_id) if ord_id else None
            if order is None and not ord_id and cl_ord_id:
                order = next((o for o in account.orders.values() if o.cl_ord_id == cl_ord_id), None)
            if order is None or order.inst.inst_id != inst_id:
                return None
            del account.orders[order.ord_id]
            order.state, order.u_time = "canceled", self._server_time_ms()
            account.retire([order])
        return order

    def cancel_algo_order(self, account, inst_id, algo_id=None, algo_cl_ord_id=None) -> OkxAlgoOrder | None:
        with account.lock:
            order = account.algo_orders.get(algo_id) if algo_id else None
            if order is None and not algo_id and algo_cl_ord_id:
                found = (o for o in account.algo_orders.values() if o.algo_cl_ord_id == algo_cl_ord_id)
                order = next(found, None)
            if order is None or order.inst.inst_id != inst_id:
                return None
            del account.algo_orders[order.algo_id]
            order.state, order.u_time = "canceled", self._server_time_ms()
        return order

    # Cancel All After --------------------------------------------------------------------------------------

    def set_switch(self, account: OkxAccount, tag: str, timeout_s: int, request_id: int | None):
        """Arms, renews (the last call wins, counted from now) or, with 0, turns off the switch of `tag` ("" =
        the account's). Returns the armed switch, or None when turned off. Raises OverflowError when a new
        tag would make more than MAX_TAG_SWITCHES live ones (OKX's 51071)."""
        now = time.time()
        switch = None
        with account.lock:
            previous = account.switches.get(tag)
            if timeout_s:
                live_tags = sum(1 for t in account.switches if t)
                if tag and previous is None and live_tags >= MAX_TAG_SWITCHES:
                    raise OverflowError("too many tag-level switches")
                switch = OkxSwitch(
                    account, tag, timeout_s, now, now + timeout_s, self._server_time_ms(now), request_id
                )
                account.switches[tag] = switch
            else:
                account.switches.pop(tag, None)
            if previous is not None:
                previous.replaced = True
        if switch is not None:
            with self._switches_lock:
                self._armed.append(switch)
        return switch

    def switches(self, api_key: str | None = None) -> list[dict]:
        found = []
        for account in self.accounts():
            if api_key is None or account.api_key == api_key:
                with account.lock:
                    found.extend(s.describe() for s in account.switches.values())
        return sorted(found, key=lambda s: s["expires_at"])

    def expire_due(self, now: float | None = None) -> int:
        """Fires every switch whose time has come: cancels the account's pending orders (a tag's switch: only
        those carrying the tag) and records what it cancelled with the exchange's cancellations."""
        now = time.time() if now is None else now
        with self._switches_lock:
            due = [s for s in self._armed if s.expires_at <= now or s.replaced]
            if not due:
                return 0
            self._armed = [s for s in self._armed if s.expires_at > now and not s.replaced]
        fired = 0
        for switch in due:
            if switch.replaced:
                continue
            account = switch.account
            with account.lock:
                if account.switches.get(switch.tag) is not switch:
                    continue
                del account.switches[switch.tag]
                cancelled_at = time.time()
                now_ms = self._server_time_ms(cancelled_at)
                orders = [o for o in account.orders.values() if not switch.tag or o.tag == switch.tag]
                for order in orders:
                    del account.orders[order.ord_id]
                    order.state, order.u_time = "canceled", now_ms
                account.retire(orders)
                algo = []
                if self._expiry_cancels_algo():
                    algo = [o for o in account.algo_orders.values() if not switch.tag or o.tag == switch.tag]
                    for order in algo:
                        del account.algo_orders[order.algo_id]
                        order.state, order.u_time = "canceled", now_ms
            record = switch.describe()
            record.update(
                cancelled_at=cancelled_at,
                order_ids=[o.ord_id for o in orders],
                algo_ids=[o.algo_id for o in algo],
            )
            self._record_cancellation(account, record)
            fired += 1
        return fired

    # Life cycle --------------------------------------------------------------------------------------------

    def reset(self, keep_accounts: bool = False) -> None:
        with self._accounts_lock:
            if not keep_accounts:
                self._accounts.clear()
            accounts = list(self._accounts.values())
        for account in accounts:
            with account.lock:
                account.orders.clear()
                account.algo_orders.clear()
                account.switches.clear()
                account.closed.clear()
        with self._switches_lock:
            self._armed.clear()
        self.rates.reset()
        self.rates.scale = 1.0

    def state(self) -> dict:
        accounts = self.accounts()
        orders, algo = [], []
        for account in accounts:
            with account.lock:
                mine = {"api_key_last4": account.last4}
                orders.extend({**mine, **o.to_wire()} for o in account.orders.values())
                algo.extend({**mine, **o.to_wire()} for o in account.algo_orders.values())
        return {
            "accounts": [a.describe() for a in accounts],
            "switches": self.switches(),
            "open_orders": orders,
            "algo_orders": algo,
            "rate_window_scale": self.rates.scale,
        }
