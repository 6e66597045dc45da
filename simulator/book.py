"""One account's state on the exchange: its key, open orders, algo orders and armed countdowns (per symbol on
futures, per underlying on options), under its own lock."""

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from decimal import Decimal

from .keys import Verifier
from .symbols import COINM, OPTION_SCALE, OPTIONS

CLOSED_ORDERS_KEPT = 1000  # per account


def last4(api_key: str) -> str:
    return api_key[-4:]


@dataclass
class Order:
    order_id: int
    client_order_id: str
    symbol: str
    venue: str
    side: str
    type: str
    time_in_force: str
    price: str
    quantity: str
    status: str
    time_ms: int
    update_ms: int
    # COIN-M's conditional orders, plain orders until its Algo Service: STOP(_MARKET), TAKE_PROFIT(_MARKET),
    # TRAILING_STOP_MARKET. Untriggered while they rest (nothing here moves prices).
    stop_price: str = "0"
    reduce_only: bool = False
    close_position: bool = False
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    activate_price: str | None = None  # TRAILING_STOP_MARKET only
    callback_rate: str | None = None

    def to_wire(self, answer: str = "query") -> dict:
        """The order in Binance's field order. The answer to POST/DELETE order (`answer="ack"`) carries
        `cumQty` and no `time`; queries (GET order, openOrder, openOrders) carry `time` and no `cumQty`."""
        if self.venue == OPTIONS:
            return self._option_wire(answer)
        filled = self.status == "FILLED"
        wire = {"orderId": self.order_id, "symbol": self.symbol}
        if self.venue == COINM:
            wire["pair"] = self.symbol.split("_")[0]
        wire.update(
            {
                "status": self.status,
                "clientOrderId": self.client_order_id,
                "price": self.price,
                "avgPrice": self.price if filled else "0.00000",
                "origQty": self.quantity,
                "executedQty": self.quantity if filled else "0",
            }
        )
        if answer != "query":
            wire["cumQty"] = self.quantity if filled else "0"
        wire["cumBase" if self.venue == COINM else "cumQuote"] = "0"
        wire.update(
            {
                "timeInForce": self.time_in_force,
                "type": self.type,
                "reduceOnly": self.reduce_only,
                "closePosition": self.close_position,
                "side": self.side,
                "positionSide": "BOTH",
                "stopPrice": self.stop_price,
                "workingType": self.working_type,
                "priceProtect": self.price_protect,
                "origType": self.type,
                "priceMatch": "NONE",
                "selfTradePreventionMode": "NONE",
            }
        )
        if self.type == "TRAILING_STOP_MARKET":  # COIN-M's order pages show these for trailing stops only
            wire.update({"activatePrice": self.activate_price or "0", "priceRate": self.callback_rate})
        if self.venue != COINM:
            wire["goodTillDate"] = 0  # GTD exists on USDⓈ-M only
        if answer == "query":
            wire["time"] = self.time_ms
        wire["updateTime"] = self.update_ms
        return wire

    def _option_wire(self, answer: str) -> dict:
        """An options order as /eapi shows it: its own field names and statuses (ACCEPTED, CANCELLED). The new
        order's default answer (`answer="ack"`, newOrderRespType ACK) is the short form with `createDate`."""
        wire = {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "price": self.price,
            "quantity": self.quantity,
        }
        if answer == "ack":
            wire.update({"side": self.side, "type": self.type, "createDate": self.time_ms})
            return {**wire, "reduceOnly": False, "postOnly": False, "mmp": False}
        filled = self.status == "FILLED"
        wire.update(
            {
                "executedQty": self.quantity if filled else "0",
                "fee": 0,  # a number, as the official options SDK's models declare it
                "side": self.side,
                "type": self.type,
                "timeInForce": self.time_in_force,
                "reduceOnly": False,
                "postOnly": False,
                "createTime": self.time_ms,
                "updateTime": self.update_ms,
                "status": _OPTION_STATUS.get(self.status, self.status),
                "avgPrice": self.price if filled else "0",
                "source": "API",
                "clientOrderId": self.client_order_id,
                "priceScale": OPTION_SCALE,
                "quantityScale": OPTION_SCALE,
                "optionSide": "CALL" if self.symbol.endswith("-C") else "PUT",
                "quoteAsset": "USDT",
                "mmp": False,
            }
        )
        return wire


_OPTION_STATUS = {"NEW": "ACCEPTED", "CANCELED": "CANCELLED"}  # Binance's options spell them so


def _scaled(value: str, decimals: int) -> str:
    return format(Decimal(value).quantize(Decimal(1).scaleb(-decimals)), "f")


@dataclass
class AlgoOrder:
    """A conditional order held by Binance's Algo Service (USDⓈ-M since 2025-12-09; COIN-M once migrated, the
    simulator's `coinm_algo_service` switch): STOP(_MARKET),
    TAKE_PROFIT(_MARKET) or TRAILING_STOP_MARKET. Its own id space (`algoId`) and statuses (`algoStatus`):
    the plain order endpoints neither list nor cancel it."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    quantity: str  # "0" with closePosition
    price: str  # "0" for the *_MARKET types
    trigger_price: str  # "0" for TRAILING_STOP_MARKET
    status: str
    create_ms: int
    update_ms: int
    price_precision: int
    quantity_precision: int
    working_type: str = "CONTRACT_PRICE"
    reduce_only: bool = False
    close_position: bool = False
    price_protect: bool = False
    activate_price: str | None = None  # TRAILING_STOP_MARKET only
    callback_rate: str | None = None
    good_till_date: int = 0

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"  # not triggered yet: nothing here ever triggers

    def to_wire(self, answer: str = "query") -> dict:
        """The order in Binance's field order. POST algoOrder (`answer="ack"`) answers the short form; GET
        algoOrder and openAlgoOrders add the fields of the order it triggers (none here: never triggered).
        Prices and quantities come back in the symbol's precision ("1" → "1.000"), unlike plain orders."""
        price, qty = self.price_precision, self.quantity_precision
        wire = {
            "algoId": self.algo_id,
            "clientAlgoId": self.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": self.type,
            "symbol": self.symbol,
            "side": self.side,
            "positionSide": "BOTH",
            "timeInForce": self.time_in_force,
            "quantity": _scaled(self.quantity, qty),
            "algoStatus": self.status,
        }
        if answer == "query":
            wire.update({"actualOrderId": "", "actualPrice": "0.00000"})
        wire.update(
            {
                "triggerPrice": _scaled(self.trigger_price, price),
                "price": _scaled(self.price, price),
                "icebergQuantity": None,
            }
        )
        if answer == "query":
            zero = _scaled("0", price)
            wire.update(
                {
                    "tpTriggerPrice": zero,
                    "tpPrice": zero,
                    "slTriggerPrice": zero,
                    "slPrice": zero,
                    "tpOrderType": "",
                }
            )
        wire.update(
            {
                "selfTradePreventionMode": "EXPIRE_MAKER",
                "workingType": self.working_type,
                "priceMatch": "NONE",
                "closePosition": self.close_position,
                "priceProtect": self.price_protect,
                "reduceOnly": self.reduce_only,
            }
        )
        if self.type == "TRAILING_STOP_MARKET":  # assumption: Binance's examples show only other types
            wire["activatePrice"] = _scaled(self.activate_price or "0", price)
            wire["callbackRate"] = self.callback_rate
        wire.update(
            {
                "createTime": self.create_ms,
                "updateTime": self.update_ms,
                "triggerTime": 0,
                "goodTillDate": self.good_till_date,
            }
        )
        return wire


@dataclass(eq=False)
class Countdown:
    """An armed countdown. Compared by identity: a replaced countdown must never fire."""

    account: "Account"
    venue: str
    symbol: str
    countdown_ms: int
    armed_at: float  # host clock, epoch seconds: when the request was applied
    expires_at: float
    armed_at_server_ms: int
    request_id: int | None
    replaced: bool = False  # set once a newer call (or a disarm) took its place

    def describe(self) -> dict:
        return {
            "api_key_last4": self.account.last4,
            "venue": self.venue,
            "symbol": self.symbol,
            "countdown_ms": self.countdown_ms,
            "armed_at": self.armed_at,
            "expires_at": self.expires_at,
            "armed_at_server_ms": self.armed_at_server_ms,
            "expires_at_server_ms": self.armed_at_server_ms + self.countdown_ms,
            "request_id": self.request_id,
        }


@dataclass(eq=False)
class Account:
    api_key: str
    verifier: Verifier
    trade: bool = True
    ip_whitelist: frozenset[str] | None = None
    options: bool = True  # the key may use /eapi (Binance's "Enable Options" permission)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    orders: dict[str, dict[int, Order]] = field(default_factory=dict, repr=False)  # symbol -> id -> order
    countdowns: dict[str, Countdown] = field(default_factory=dict, repr=False)  # symbol -> countdown
    # Filled and cancelled orders stay queryable (GET order) for a while, as on Binance; the newest only.
    closed: OrderedDict[int, Order] = field(default_factory=OrderedDict, repr=False)
    order_times: deque[float] = field(default_factory=deque, repr=False)  # for X-MBX-ORDER-COUNT-*
    # Conditional orders, apart from `orders` as in Binance's Algo Service: symbol -> algo id -> order.
    algo_orders: dict[str, dict[int, AlgoOrder]] = field(default_factory=dict, repr=False)
    closed_algo: OrderedDict[int, AlgoOrder] = field(default_factory=OrderedDict, repr=False)
    # Options' kill switches, one per underlying (option_countdowns.py): underlying -> config.
    option_countdowns: dict = field(default_factory=dict, repr=False)

    @property
    def last4(self) -> str:
        return last4(self.api_key)

    def allows_ip(self, ip: str) -> bool:
        return self.ip_whitelist is None or ip in self.ip_whitelist

    def describe(self) -> dict:
        return {
            "api_key_last4": self.last4,
            "key_type": self.verifier.key_type,
            "trade": self.trade,
            "options": self.options,
            "ip_whitelist": sorted(self.ip_whitelist) if self.ip_whitelist is not None else None,
        }

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        with self.lock:
            if symbol is not None:
                return list(self.orders.get(symbol, {}).values())
            return [order for by_id in self.orders.values() for order in by_id.values()]

    def open_algo_orders(self, symbol: str | None = None) -> list[AlgoOrder]:
        with self.lock:
            if symbol is not None:
                return list(self.algo_orders.get(symbol, {}).values())
            return [order for by_id in self.algo_orders.values() for order in by_id.values()]

    # The methods below expect `lock` to be held.

    def retire_algo(self, orders) -> None:
        for order in orders:
            self.closed_algo[order.algo_id] = order
            self.closed_algo.move_to_end(order.algo_id)
        while len(self.closed_algo) > CLOSED_ORDERS_KEPT:
            self.closed_algo.popitem(last=False)

    def find_algo(self, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder | None:
        """An open or recently closed algo order, by id (which wins) or client algo id. No symbol: Binance's
        algo order endpoints take none."""
        open_orders = [o for by_id in self.algo_orders.values() for o in by_id.values()]
        for order in (*open_orders, *reversed(self.closed_algo.values())):
            if order.algo_id == algo_id if algo_id is not None else order.client_algo_id == client_algo_id:
                return order
        return None

    def retire(self, orders) -> None:
        for order in orders:
            self.closed[order.order_id] = order
            self.closed.move_to_end(order.order_id)
        while len(self.closed) > CLOSED_ORDERS_KEPT:
            self.closed.popitem(last=False)

    def find(self, symbol: str, order_id: int | None, client_order_id: str | None) -> Order | None:
        """An open or recently closed order of `symbol`, by id (which wins) or client order id."""
        if order_id is not None:
            order = self.orders.get(symbol, {}).get(order_id) or self.closed.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        for order in (*self.orders.get(symbol, {}).values(), *reversed(self.closed.values())):
            if order.symbol == symbol and order.client_order_id == client_order_id:
                return order
        return None

    def note_order(self, now: float) -> None:
        self.order_times.append(now)
        self._forget_orders_before(now - 60)

    def order_counts(self, now: float) -> tuple[int, int]:
        """How many orders this account placed in the last 10 s and in the last minute."""
        self._forget_orders_before(now - 60)
        return sum(1 for t in self.order_times if t > now - 10), len(self.order_times)

    def _forget_orders_before(self, moment: float) -> None:
        while self.order_times and self.order_times[0] <= moment:
            self.order_times.popleft()
