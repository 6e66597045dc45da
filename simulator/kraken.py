"""The Kraken Futures paths (/derivatives/api/v3/), served on the same port as the Binance ones and through
the same steps (request log, faults, latency, holds, clock skew), with Kraken's own authentication, nonce
rule, cost budget and answers.

Paths: GET instruments (public: ccxt's krakenfutures loads it before anything else, and every answer's
serverTime is the only clock Kraken Futures shows), POST cancelallordersafter (the dead man's switch), POST
cancelallorders (all, or one symbol's), GET openorders, POST sendorder (lmt and post orders rest; mkt and ioc
fill at once: nothing here moves prices).

Kraken answers its errors with HTTP 200 and {"result": "error", "serverTime": ..., "error": "<name>"}: the
only response its OpenAPI description lists for cancelallordersafter is 200, its examples include
"apiLimitExceeded" in that form, and python-kraken-sdk raises its own exceptions (KrakenAuthenticationError,
KrakenApiLimitExceededError, ...) only from a 200 answer (base_api FuturesClient.__check_response_data; its
issue #303 shows authenticationError arriving that way). Authentication, nonce and cost rules are described
in kraken_limits.py, with their sources.

The switch (docs.kraken.com, Futures API "Dead man's switch", POST /cancelallordersafter): `timeout` in
seconds, a uint32 in Kraken's OpenAPI description ("timeout uint32: The timeout specified in seconds"), 0
disarms; no other bound is documented. The answer is {"result": "success", "status": {"currentTime",
"triggerTime"}, "serverTime"}, triggerTime "0" when disarmed. One switch per account: "When the timer
expires, all orders are cancelled and then the timer remains disabled until the client provides a new
(non-zero) timeout"; at expiry every open Kraken order of the account is cancelled and recorded in the
exchange's cancellations (venue "kraken_futures", symbol "").
"""

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from . import symbols
from .book import Account, Order, last4
from .calls import Call
from .endpoints import BinanceApi, Incoming, Reply
from .errors import BinanceError
from .kraken_limits import KrakenVerifier

PATH_PREFIX = "/derivatives/"
API_PREFIX = "/derivatives/api/v3/"
VENUE = symbols.KRAKEN_FUTURES
MAX_TIMEOUT_S = 2**32 - 1  # uint32
# Costs from Kraken's "Futures Rate Limits" table; public endpoints cost nothing.
COSTS = {"cancelallordersafter": 25, "cancelallorders": 25, "openorders": 2, "sendorder": 10}
_DIGITS = re.compile(r"[0-9]{1,20}")
_RESTING = ("lmt", "post")
_FILLING = ("mkt", "ioc")


class KrakenError(Exception):
    """A refusal Kraken words as {"result": "error", "error": name}, with HTTP 200."""

    def __init__(self, name: str, status: int = 200):
        super().__init__(name)
        self.name = name
        self.status = status


@dataclass
class KrakenIncoming(Incoming):
    nonce: str | None = None
    authent: str | None = None


@dataclass(frozen=True)
class _Route:
    handler: object
    private: bool
    cost: int = 0


class KrakenParams:
    """The parameters of one request, from the query string and a form body, and the postData they were
    signed as: the raw query string followed by the raw body, exactly as sent."""

    def __init__(self, query: str, body: str):
        self.post_data = query + body
        self.values: dict[str, str] = {}
        for raw in (query, body):
            for name, value in parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="replace"):
                self.values.setdefault(name, value)

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.values.get(name, "").strip()
        if not value:
            if required:
                raise KrakenError("requiredArgumentMissing")
            return None
        return value

    def decimal(self, name: str, required: bool = True) -> Decimal | None:
        value = self.text(name, required)
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise KrakenError("invalidArgument") from None
        if not number.is_finite() or number <= 0:
            raise KrakenError("invalidArgument")
        return number

    def peek_timeout_ms(self) -> int | None:
        value = self.values.get("timeout", "").strip()
        return int(value) * 1000 if _DIGITS.fullmatch(value) else None


def iso(ms: int) -> str:
    """Kraken's time format: 2018-06-19T16:51:23.839Z."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def order_uuid(order: Order) -> str:
    return str(uuid.UUID(int=order.order_id))


def error_body(name: str, server_ms: int) -> dict:
    return {"result": "error", "serverTime": iso(server_ms), "error": name}


def refusal(status: int, name: str = "Server Error") -> Reply:
    """What a request the server could not read or process gets (no Kraken figure: assumption)."""
    return Reply(status, error_body(name, int(time.time() * 1000)))


# Handlers ------------------------------------------------------------------------------------------------


def _instrument(m: symbols.Market) -> dict:
    return {
        "symbol": m.symbol,
        "type": "flexible_futures",
        "underlying": f"rr_{m.base.lower()}usd",
        "tickSize": float(m.tick_size),
        "contractSize": 1,
        "tradeable": True,
        "impactMidSize": 1,
        "maxPositionSize": 1000000,
        "openingDate": "2022-01-01T00:00:00.000Z",
        "marginLevels": [{"numNonContractUnits": 0, "initialMargin": 0.02, "maintenanceMargin": 0.01}],
        "fundingRateCoefficient": 8,
        "maxRelativeFundingRate": 0.001,
        "isin": None,
        "contractValueTradePrecision": m.quantity_precision,
        "postOnly": False,
        "feeScheduleUid": "7fc4d7c0-464f-4029-a9bb-55856d0c5247",
        "retailMarginLevels": [],
        "category": "Layer 1",
        "tags": [],
    }


def _instruments(call: Call):
    return {
        "result": "success",
        "instruments": [_instrument(m) for m in symbols.KRAKEN_MARKETS],
        "serverTime": iso(call.server_ms),
    }


def _switch(call: Call):
    raw = call.params.text("timeout")
    if not _DIGITS.fullmatch(raw) or int(raw) > MAX_TIMEOUT_S:
        raise KrakenError("invalidArgument")  # assumption: Kraken names no error for a non-uint32 timeout
    timeout_s = int(raw)
    countdown = call.exchange.set_countdown(call.account, VENUE, "", timeout_s * 1000, call.entry["id"])
    trigger = iso(countdown.armed_at_server_ms + timeout_s * 1000) if countdown is not None else "0"
    return {
        "result": "success",
        "status": {"currentTime": iso(call.server_ms), "triggerTime": trigger},
        "serverTime": iso(call.server_ms),
    }


def _order_fields(order: Order) -> dict:
    return {
        "orderId": order_uuid(order),
        "cliOrdId": order.client_order_id,
        "type": order.type,
        "symbol": order.symbol,
        "side": order.side.lower(),
        "quantity": float(order.quantity),
        "filled": float(order.quantity) if order.status == "FILLED" else 0.0,
        "limitPrice": float(order.price),
        "reduceOnly": order.reduce_only,
        "timestamp": iso(order.time_ms),
        "lastUpdateTimestamp": iso(order.update_ms),
    }


def _open_order(order: Order) -> dict:
    """As Kraken's openorders lists an untouched limit order."""
    return {
        "order_id": order_uuid(order),
        "cliOrdId": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.lower(),
        "orderType": order.type,
        "limitPrice": float(order.price),
        "unfilledSize": float(order.quantity),
        "receivedTime": iso(order.time_ms),
        "status": "untouched",
        "filledSize": 0.0,
        "reduceOnly": order.reduce_only,
        "lastUpdateTime": iso(order.update_ms),
    }


def _cancel_all(call: Call):
    symbol = call.params.text("symbol", required=False)
    if symbol is not None:
        symbol = symbol.upper()
    cancelled = call.exchange.cancel_venue_orders(call.account, VENUE, symbol)
    return {
        "result": "success",
        "cancelStatus": {
            "receivedTime": iso(call.server_ms),
            "cancelOnly": symbol or "all",
            "status": "cancelled" if cancelled else "noOrdersToCancel",
            "cancelledOrders": [{"order_id": order_uuid(o)} for o in cancelled],
            "orderEvents": [
                {"uid": order_uuid(o), "order": _order_fields(o), "type": "CANCEL"} for o in cancelled
            ],
        },
        "serverTime": iso(call.server_ms),
    }


def _open_orders(call: Call):
    orders = [o for o in call.account.open_orders() if o.venue == VENUE]
    return {
        "result": "success",
        "openOrders": [_open_order(o) for o in orders],
        "serverTime": iso(call.server_ms),
    }


def _send_order(call: Call):
    p = call.params
    order_type = p.text("orderType").lower()
    symbol = p.text("symbol").upper()
    side = p.text("side").lower()
    size = p.decimal("size")
    if order_type not in _RESTING + _FILLING or side not in ("buy", "sell"):
        raise KrakenError("invalidArgument")  # stop and trailing orders are not simulated
    market = symbols.market(VENUE, symbol)
    if market is None:
        raise KrakenError("invalidArgument")  # assumption: Kraken's answer to an unknown symbol
    price = p.decimal("limitPrice", required=order_type in _RESTING)
    client_order_id = p.text("cliOrdId", required=False)
    try:
        order = call.exchange.new_order(
            call.account,
            market,
            side.upper(),
            order_type if order_type in _RESTING else "MARKET",
            "GTC",
            format(price, "f") if price is not None else "0",
            format(size, "f"),
            client_order_id,
        )
    except BinanceError:  # the client order id is in use by an open order
        return {
            "result": "success",
            "sendStatus": {"receivedTime": iso(call.server_ms), "status": "clientOrderIdAlreadyExist"},
            "serverTime": iso(call.server_ms),
        }
    event = {"order": _order_fields(order), "reducedQuantity": None, "type": "PLACE"}
    return {
        "result": "success",
        "sendStatus": {
            "order_id": order_uuid(order),
            "status": "placed",
            "receivedTime": iso(call.server_ms),
            "orderEvents": [event],
        },
        "serverTime": iso(call.server_ms),
    }


ROUTES = {
    "instruments": {"GET": _Route(_instruments, private=False)},
    "cancelallordersafter": {"POST": _Route(_switch, True, COSTS["cancelallordersafter"])},
    "cancelallorders": {"POST": _Route(_cancel_all, True, COSTS["cancelallorders"])},
    "openorders": {"GET": _Route(_open_orders, True, COSTS["openorders"])},
    "sendorder": {"POST": _Route(_send_order, True, COSTS["sendorder"])},
}


# The pipeline --------------------------------------------------------------------------------------------


class KrakenApi(BinanceApi):
    """The steps of BinanceApi.handle (log, faults, latency, hold), with Kraken's checks at delivery."""

    def handle(self, req: KrakenIncoming) -> Reply:
        ex = self.exchange
        methods = ROUTES.get(req.path[len(API_PREFIX) :]) if req.path.startswith(API_PREFIX) else None
        if methods is None:
            return Reply(404, error_body("notFound", ex.server_time_ms()))
        route = methods.get(req.method)
        if route is None:
            return Reply(405, error_body("notFound", ex.server_time_ms()))
        params = KrakenParams(req.query, req.body)
        entry = ex.log.open(
            method=req.method,
            path=req.path,
            venue=VENUE,
            ip=req.ip,
            api_key_last4=last4(req.api_key) if req.api_key else None,
            symbol=params.values.get("symbol"),
            countdown_ms=params.peek_timeout_ms(),
            nonce=req.nonce,
            received_at=req.received_at,
        )
        fault = ex.faults_table.take(
            req.method, req.path, entry["symbol"], entry["countdown_ms"], req.api_key
        )
        if fault is not None:
            ex.log.update(entry, fault=fault.id)
        self._spend_latency(fault)
        held = self._hold(fault, entry) if fault is not None and fault.hold is not None else None
        try:
            if held is not None and held.dropped:
                reply = Reply(0, drop=True)
            else:
                reply = self._outcome(fault, req, route, VENUE, params, entry)
        finally:
            if held is not None:
                ex.faults_table.finish(held)
        error = reply.body.get("error") if isinstance(reply.body, dict) else None
        ex.log.update(
            entry,
            status=None if reply.drop else reply.status,
            code=error if isinstance(error, str) else None,
            responded_at=time.time(),
        )
        return reply

    def _deliver(self, req, route, venue, params, entry) -> Reply:
        ex = self.exchange
        delivered_at = time.time()
        server_ms = ex.server_time_ms(delivered_at)
        ex.log.update(entry, delivered_at=delivered_at, server_time_ms=server_ms)
        try:
            account = self._authenticate(req, route, params, delivered_at, entry) if route.private else None
            call = Call(ex, venue, params, account, server_ms, entry)
            body = route.handler(call)
        except KrakenError as exc:
            return Reply(exc.status, error_body(exc.name, server_ms))
        ex.log.update(entry, applied_at=time.time())
        return Reply(200, body)

    def _authenticate(self, req, route, params, now: float, entry: dict) -> Account:
        """Key, Authent, cost budget, then nonce; every refusal of the credentials is authenticationError."""
        ex = self.exchange
        if not req.api_key or not req.authent:
            raise KrakenError("authenticationError")
        account = ex.account(req.api_key)
        if account is None or not isinstance(account.verifier, KrakenVerifier):
            raise KrakenError("authenticationError")
        nonce = (req.nonce or "").strip()
        endpoint_path = req.path.removeprefix("/derivatives")
        if not account.verifier.verify_kraken(params.post_data, nonce, endpoint_path, req.authent):
            raise KrakenError("authenticationError")
        if not account.trade:  # the key lacks "General API - Full Access" (assumption: refused the same way)
            raise KrakenError("authenticationError")
        taken, spent = ex.kraken.charge(req.api_key, route.cost, now)
        ex.log.update(entry, weight=route.cost if taken else 0, used_weight=spent)
        if not taken:
            raise KrakenError("apiLimitExceeded")
        if nonce:
            if not _DIGITS.fullmatch(nonce):
                raise KrakenError("authenticationError")  # assumption: a nonce is an integer
            refused = ex.kraken.check_nonce(req.api_key, int(nonce), now)
            if refused is not None:
                raise KrakenError(refused)
        return account


def incoming(handler, path: str, query: str, body: bytes, received_at: float) -> KrakenIncoming:
    """The request as the Kraken pipeline reads it, from the HTTP handler (form bodies only, as Binance's)."""
    content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return KrakenIncoming(
        method=handler.command,
        path=path,
        query=query,
        body=body.decode("latin-1") if content_type in ("", "application/x-www-form-urlencoded") else "",
        ip=handler.client_address[0],
        api_key=handler.headers.get("APIKey"),
        received_at=received_at,
        nonce=handler.headers.get("Nonce"),
        authent=handler.headers.get("Authent"),
    )
