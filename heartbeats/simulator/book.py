"""One account's state on the exchange: its key, open orders and armed countdowns, under its own lock."""

import threading
from dataclasses import dataclass, field

from .keys import Verifier
from .symbols import COINM


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

    def to_wire(self) -> dict:
        filled = self.status == "FILLED"
        wire = {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_order_id,
            "price": self.price,
            "avgPrice": self.price if filled else "0.00",
            "origQty": self.quantity,
            "executedQty": self.quantity if filled else "0",
            "cumQty": self.quantity if filled else "0",
            "timeInForce": self.time_in_force,
            "type": self.type,
            "origType": self.type,
            "reduceOnly": False,
            "closePosition": False,
            "side": self.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE",
            "goodTillDate": 0,
            "time": self.time_ms,
            "updateTime": self.update_ms,
        }
        if self.venue == COINM:
            wire["pair"] = self.symbol.split("_")[0]
            wire["cumBase"] = "0"
        else:
            wire["cumQuote"] = "0"
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
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    orders: dict[str, dict[int, Order]] = field(default_factory=dict, repr=False)  # symbol -> id -> order
    countdowns: dict[str, Countdown] = field(default_factory=dict, repr=False)  # symbol -> countdown

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
            "ip_whitelist": sorted(self.ip_whitelist) if self.ip_whitelist is not None else None,
        }

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        with self.lock:
            if symbol is not None:
                return list(self.orders.get(symbol, {}).values())
            return [order for by_id in self.orders.values() for order in by_id.values()]
