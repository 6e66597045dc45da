"""The Binance paths: routing, weight, faults, authentication, and the futures endpoint handlers (the options
ones, under /eapi/v1/, are in options.py).

A request goes through the steps a real one meets, in this order: weight is counted when it arrives (429/418
refuse it there); a matching fault may delay it, hold it, replace its answer or drop the connection; latency
is spent; then it is delivered: key, timestamp, signature and permission are checked against the server
time at delivery, and the handler applies it. No lock is held while a request waits.

Paths, under /fapi/v1/ (USDⓈ-M) and /dapi/v1/ (COIN-M): time, ping, exchangeInfo, countdownCancelAll,
order (POST new, GET query, DELETE cancel), openOrder, openOrders, allOpenOrders. The Algo Service that holds
USDⓈ-M conditional orders since 2025-12-09: algoOrder (POST new, GET query, DELETE cancel), openAlgoOrders,
algoOpenOrders (DELETE), under /fapi/v1/; under /dapi/v1/ too once COIN-M has moved there (the exchange's
`coinm_algo_service` switch; until then those paths are unknown, 404, and COIN-M's conditional orders are
plain orders, as on Binance today).
Parameters come from the query string and a form body, as on Binance; other bodies (JSON) are not read.
Answers carry Binance's headers (X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-* after a new order, CORS), so
Binance's own connectors, python-binance and ccxt work against it unchanged.
"""

import time
from dataclasses import dataclass, field

from . import errors, options, rules, symbols
from .book import Account, AlgoOrder, Order, last4
from .calls import NONE, TRADE, USER_DATA, Call, Route
from .calls import fixed as _fixed
from .errors import BinanceError
from .exchange import Exchange
from .faults import Fault, Held
from .wire import Params

MAX_RECV_WINDOW = 60_000
DEFAULT_RECV_WINDOW = 5_000
NOT_FOUND_HTML = "<html><body><h2>404 Not found</h2></body></html>"
# Binance's API answers browsers too (CORS), for every path and status.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Headers": "Content-Type, X-MBX-APIKEY",
    "Access-Control-Max-Age": "600",
}


@dataclass
class Incoming:
    method: str
    path: str
    query: str  # raw, exactly as on the wire
    body: str  # raw form body, decoded as latin-1 so its bytes survive unchanged
    ip: str
    api_key: str | None
    received_at: float


@dataclass
class Reply:
    status: int
    body: object = None  # dict/list → JSON, str → text
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


# Handlers --------------------------------------------------------------------------------------------------


def _time(call: Call):
    return {"serverTime": call.server_ms}


def _ping(call: Call):
    return {}


def _exchange_info(call: Call):
    return symbols.exchange_info(call.venue, call.server_ms, call.exchange.limiter.limit)


def _countdown(call: Call):
    market = call.market()
    countdown_ms = call.params.long("countdownTime")
    call.exchange.set_countdown(call.account, call.venue, market.symbol, countdown_ms, call.entry["id"])
    return {"symbol": market.symbol, "countdownTime": str(countdown_ms)}


_SIDES = ("BUY", "SELL")
_TYPES = ("LIMIT", "MARKET")
_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")


def _new_order(call: Call):
    p = call.params
    market = call.market()
    side = p.text("side")
    if side not in _SIDES:
        raise errors.invalid_enum(-1117, "side")
    order_type = p.text("type")
    conditional = order_type in rules.CONDITIONAL_TYPES
    if conditional and call.exchange.serves_algo(call.venue):
        raise errors.algo_order_type()
    if order_type not in _TYPES and not conditional:
        raise errors.invalid_enum(-1116, "orderType")
    time_in_force, price = "GTC", None
    if order_type == "LIMIT" or (conditional and p.has("timeInForce")):
        time_in_force = p.text("timeInForce")
        if time_in_force not in _TIME_IN_FORCE:
            raise errors.invalid_enum(-1115, "timeInForce")
    extra = _conditional_fields(p, market, order_type) if conditional else {}
    quantity = None if extra.get("close_position") else p.decimal("quantity")
    if order_type in ("LIMIT", *_LIMIT_ALGO_TYPES):
        price = p.decimal("price")
    client_order_id = p.text("newClientOrderId", False)
    if client_order_id is not None:
        rules.check_client_order_id(client_order_id)
    # A conditional order's lot and notional are checked against the price it would fill near, as for algo
    # orders: its limit price, else its trigger.
    near = price if price is not None else extra.get("stop_price")
    rules.check_new_order(
        market,
        "LIMIT" if near is not None else "MARKET",
        near,
        quantity,
        reduce_only=bool(extra.get("reduce_only")),
    )
    order = call.exchange.new_order(
        call.account,
        market,
        side,
        order_type,
        time_in_force,
        rules.plain(price) if price is not None else "0",
        rules.plain(quantity) if quantity is not None else "0",
        client_order_id,
        **extra,
    )
    call.count_order()
    return order.to_wire("ack")


def _conditional_fields(p: Params, market, order_type: str) -> dict:
    """A COIN-M conditional order's own parameters, as its New Order page lists them: stopPrice for STOP,
    TAKE_PROFIT and their *_MARKET forms, callbackRate (activationPrice optional) for TRAILING_STOP_MARKET,
    closePosition for the two *_MARKET stops only and never with quantity or reduceOnly."""
    fields = {
        "reduce_only": _flag(p, "reduceOnly"),
        "close_position": _flag(p, "closePosition"),
        "price_protect": _flag(p, "priceProtect"),
        "working_type": p.text("workingType", required=False) or "CONTRACT_PRICE",
    }
    if fields["close_position"]:
        if order_type not in _CLOSE_POSITION_TYPES:
            raise errors.not_required("closePosition")
        for forbidden in ("quantity", "reduceOnly"):
            if p.has(forbidden):
                raise errors.not_required(forbidden)
    if order_type == "TRAILING_STOP_MARKET":
        fields["callback_rate"] = rules.plain(p.decimal("callbackRate"))
        activation = p.decimal("activationPrice", required=False)
        if activation is not None:
            rules.check_price(market, activation)
            fields["activate_price"] = rules.plain(activation)
    else:
        stop_price = p.decimal("stopPrice")
        rules.check_price(market, stop_price)
        fields["stop_price"] = rules.plain(stop_price)
    return fields


def _found(call: Call, *, open_only: bool) -> Order:
    market = call.market(trading=False)
    order = call.exchange.find_order(
        call.account,
        market.symbol,
        *call.order_reference("origClientOrderId", errors.order_reference_missing),
    )
    if order is None or (open_only and order.status != "NEW"):
        raise errors.order_does_not_exist()
    return order


def _query_order(call: Call):
    return _found(call, open_only=False).to_wire()


def _query_open_order(call: Call):
    return _found(call, open_only=True).to_wire()


def _cancel_order(call: Call):
    market = call.market(trading=False)
    order = call.exchange.cancel_order(
        call.account,
        market.symbol,
        *call.order_reference("origClientOrderId", errors.order_reference_missing),
    )
    if order is None:
        raise errors.unknown_order()
    return order.to_wire("ack")


def _open_orders(call: Call):
    market = call.market(required=False, trading=False)
    orders = call.account.open_orders(market.symbol if market else None)
    pair = call.params.text("pair", required=False) if call.venue == symbols.COINM else None
    if pair is not None:  # COIN-M lists a pair's perpetual and delivery contracts together
        orders = [o for o in orders if o.symbol.split("_")[0] == pair]
    return [o.to_wire() for o in orders]


def _cancel_all(call: Call):
    market = call.market(trading=False)
    call.exchange.cancel_all(call.account, market.symbol)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def _open_orders_weight(params: Params) -> int:
    return 1 if params.has("symbol") else 40


# Algo Service (USDⓈ-M; COIN-M once migrated) ----------------------------------------------------------------

_ALGO_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")
_LIMIT_ALGO_TYPES = ("STOP", "TAKE_PROFIT")  # the two that carry a limit price once triggered
_CLOSE_POSITION_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")


def _flag(params: Params, name: str) -> bool:
    return (params.text(name, required=False) or "").strip().lower() == "true"  # Binance sends "true"/"false"


def _new_algo_order(call: Call):
    """Checks in the order Binance's New Algo Order page lists the parameters. Where the page names no error
    (a forbidden combination, a missing trigger), the generic codes: -1102 missing, -1106 not required."""
    p = call.params
    market = call.market()
    algo_type = p.text("algoType")
    if algo_type != "CONDITIONAL":  # the only algoType the page allows; assumption: rejected like a bad enum
        raise errors.invalid_enum(-1116, "algoType")
    side = p.text("side")
    if side not in _SIDES:
        raise errors.invalid_enum(-1117, "side")
    order_type = p.text("type")
    if order_type not in rules.CONDITIONAL_TYPES:
        raise errors.invalid_enum(-1116, "orderType")
    time_in_force = p.text("timeInForce", required=False) or "GTC"
    if time_in_force not in _ALGO_TIME_IN_FORCE:
        raise errors.invalid_enum(-1115, "timeInForce")
    reduce_only, close_position = _flag(p, "reduceOnly"), _flag(p, "closePosition")
    quantity = None
    if close_position:
        if order_type not in _CLOSE_POSITION_TYPES:
            raise errors.not_required("closePosition")
        for forbidden in ("quantity", "reduceOnly"):  # the page: "cannot be used with" closePosition
            if p.has(forbidden):
                raise errors.not_required(forbidden)
    else:
        quantity = p.decimal("quantity")
    price = p.decimal("price") if order_type in _LIMIT_ALGO_TYPES else None
    trailing = order_type == "TRAILING_STOP_MARKET"
    trigger_price = None if trailing else p.decimal("triggerPrice")
    callback_rate = p.decimal("callbackRate") if trailing else None
    activate_price = p.decimal("activatePrice", required=False) if trailing else None
    client_algo_id = p.text("clientAlgoId", False)
    if client_algo_id is not None:
        rules.check_client_order_id(client_algo_id, "clientAlgoId")
    # Lot size and notional against the price the order would fill near: its limit price, else its trigger.
    rules.check_new_order(
        market,
        "LIMIT" if price is not None else "MARKET",
        price if price is not None else trigger_price,
        quantity,
        reduce_only=reduce_only,
    )
    if price is not None:
        rules.check_price(market, trigger_price)
    if activate_price is not None:
        rules.check_price(market, activate_price)
    order = call.exchange.new_algo_order(
        call.account,
        market,
        side,
        order_type,
        time_in_force,
        rules.plain(quantity) if quantity is not None else "0",
        rules.plain(price) if price is not None else "0",
        rules.plain(trigger_price) if trigger_price is not None else "0",
        client_algo_id,
        reduce_only=reduce_only,
        close_position=close_position,
        price_protect=_flag(p, "priceProtect"),
        working_type=p.text("workingType", required=False) or "CONTRACT_PRICE",
        callback_rate=rules.plain(callback_rate) if callback_rate is not None else None,
        activate_price=rules.plain(activate_price) if activate_price is not None else None,
        good_till_date=p.long("goodTillDate", required=False) or 0,
    )
    call.count_order()
    return order.to_wire("ack")


def _algo_reference(call: Call) -> tuple[int | None, str | None]:
    # camelCase as Binance's own connectors send them (one docs table spells them "algoid"/"clientalgoid").
    algo_id = call.params.long("algoId", required=False)
    client_algo_id = call.params.text("clientAlgoId", required=False)
    if algo_id is None and client_algo_id is None:
        raise errors.algo_reference_missing()
    return algo_id, client_algo_id


def _on_venue(call: Call, order: AlgoOrder | None) -> AlgoOrder | None:
    # One account, two venues: each venue's paths see only its own algo orders.
    return order if order is not None and symbols.MARKETS[order.symbol].venue == call.venue else None


def _query_algo_order(call: Call):
    order = _on_venue(call, call.exchange.find_algo_order(call.account, *_algo_reference(call)))
    if order is None:
        raise errors.order_does_not_exist()  # what clients see on Binance for an unknown algoId
    return order.to_wire()


def _cancel_algo_order(call: Call):
    reference = _algo_reference(call)
    found = _on_venue(call, call.exchange.find_algo_order(call.account, *reference))
    order = call.exchange.cancel_algo_order(call.account, *reference) if found is not None else None
    if order is None:
        raise errors.unknown_order()
    # Binance's documented answer, "code" a string here (unlike algoOpenOrders' number).
    return {"algoId": order.algo_id, "clientAlgoId": order.client_algo_id, "code": "200", "msg": "success"}


def _open_algo_orders(call: Call):
    market = call.market(required=False, trading=False)
    orders = call.account.open_algo_orders(market.symbol if market else None)
    algo_type = call.params.text("algoType", required=False)
    algo_id = call.params.long("algoId", required=False)
    return [
        o.to_wire()
        for o in orders
        if (algo_type is None or algo_type == "CONDITIONAL")
        and (algo_id is None or o.algo_id == algo_id)
        and _on_venue(call, o) is not None
    ]


def _cancel_all_algo(call: Call):
    market = call.market(trading=False)
    call.exchange.cancel_all_algo(call.account, market.symbol)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def _build_routes() -> dict[str, tuple[str, dict[str, Route]]]:
    table = {
        "time": {"GET": Route(_time, NONE, _fixed(1))},
        "ping": {"GET": Route(_ping, NONE, _fixed(1))},
        "exchangeInfo": {"GET": Route(_exchange_info, NONE, _fixed(1))},
        "countdownCancelAll": {"POST": Route(_countdown, TRADE, _fixed(10))},
        "order": {
            # New orders weigh 0 against the IP limit on Binance futures (they count against order limits).
            "POST": Route(_new_order, TRADE, _fixed(0)),
            "GET": Route(_query_order, USER_DATA, _fixed(1)),
            "DELETE": Route(_cancel_order, TRADE, _fixed(1)),
        },
        "openOrder": {"GET": Route(_query_open_order, USER_DATA, _fixed(1))},
        "openOrders": {"GET": Route(_open_orders, USER_DATA, _open_orders_weight)},
        "allOpenOrders": {"DELETE": Route(_cancel_all, TRADE, _fixed(1))},
    }
    algo_service = {  # weights as on Binance's pages
        "algoOrder": {
            # 0 against the IP limit, like a new plain order: it counts against the order rate limits.
            "POST": Route(_new_algo_order, TRADE, _fixed(0)),
            "GET": Route(_query_algo_order, USER_DATA, _fixed(1)),
            "DELETE": Route(_cancel_algo_order, TRADE, _fixed(1)),
        },
        "openAlgoOrders": {"GET": Route(_open_algo_orders, USER_DATA, _open_orders_weight)},
        "algoOpenOrders": {"DELETE": Route(_cancel_all_algo, TRADE, _fixed(1))},
    }
    routes = {}
    for prefix, venue in (("/fapi/v1/", symbols.USDM), ("/dapi/v1/", symbols.COINM)):
        for name, methods in table.items():
            routes[prefix + name] = (venue, methods)
    for name, methods in algo_service.items():
        routes["/fapi/v1/" + name] = (symbols.USDM, methods)
        routes["/dapi/v1/" + name] = (symbols.COINM, methods)  # served only while the venue has one
    for name, methods in options.ROUTES.items():
        routes["/eapi/v1/" + name] = (symbols.OPTIONS, methods)
    return routes


ROUTES = _build_routes()
ALGO_PATHS = frozenset(
    p for p in ROUTES if p.rsplit("/", 1)[1] in ("algoOrder", "openAlgoOrders", "algoOpenOrders")
)


# The pipeline ----------------------------------------------------------------------------------------------


class BinanceApi:
    def __init__(self, exchange: Exchange):
        self.exchange = exchange

    def handle(self, req: Incoming) -> Reply:
        found = ROUTES.get(req.path)
        if req.method == "OPTIONS":  # a browser's CORS preflight: no weight, no authentication
            return Reply(200, "", {**CORS_HEADERS, **PREFLIGHT_HEADERS})
        if found is not None and req.path in ALGO_PATHS and not self.exchange.serves_algo(found[0]):
            found = None  # COIN-M before its migration: Binance does not know these paths
        if found is None:
            return Reply(404, NOT_FOUND_HTML, dict(CORS_HEADERS))
        venue, methods = found
        route = methods.get(req.method)
        if route is None:
            body = {"code": -1000, "msg": f"Request method '{req.method}' not supported"}
            return Reply(405, body, dict(CORS_HEADERS))

        params = Params(req.query, req.body)
        entry = self._open_entry(req, venue, params)
        refusal = self._charge(req, route, venue, params, entry)
        if refusal is not None:
            return self._finish(entry, req, venue, _error_reply(refusal))
        fault = self.exchange.faults_table.take(
            req.method, req.path, entry["symbol"], entry["countdown_ms"], req.api_key
        )
        if fault is not None:
            self.exchange.log.update(entry, fault=fault.id)
        self._spend_latency(fault)
        held = self._hold(fault, entry) if fault is not None and fault.hold is not None else None
        try:
            if held is not None and held.dropped:  # the simulator is stopping or was reset
                reply = Reply(0, drop=True)
            else:
                reply = self._outcome(fault, req, route, venue, params, entry)
        finally:
            if held is not None:
                self.exchange.faults_table.finish(held)
        return self._finish(entry, req, venue, reply)

    def _open_entry(self, req: Incoming, venue: str, params: Params) -> dict:
        return self.exchange.log.open(
            method=req.method,
            path=req.path,
            venue=venue,
            ip=req.ip,
            api_key_last4=last4(req.api_key) if req.api_key else None,
            # Options' kill switch names an underlying: faults match it like a symbol.
            symbol=params.values.get("symbol") or params.values.get("underlying"),
            underlyings=params.values.get("underlyings"),  # an options heartbeat's list, as sent
            countdown_ms=params.peek_long("countdownTime"),
            timestamp=params.peek_long("timestamp"),
            recv_window=params.peek_long("recvWindow"),
            received_at=req.received_at,
        )

    def _charge(self, req: Incoming, route: Route, venue: str, params: Params, entry: dict):
        """Counts the weight on arrival, whatever happens next; returns the 429/418 refusal, if any."""
        ex = self.exchange
        weight = route.weight(params)
        used, refusal = ex.limiter.charge(req.ip, venue, weight, ex.server_time_ms(req.received_at))
        ex.log.update(entry, weight=0 if refusal else weight, used_weight=used)
        return refusal

    def _spend_latency(self, fault: Fault | None) -> None:
        delay = self.exchange.latency_seconds() + (fault.latency_ms / 1000 if fault else 0)
        if delay > 0:
            time.sleep(delay)

    def _hold(self, fault: Fault, entry: dict) -> Held:
        held = self.exchange.faults_table.hold(fault.hold, entry["id"], time.time())
        self.exchange.log.update(entry, held=fault.hold)
        held.released.wait(fault.hold_timeout)
        return held

    def _outcome(self, fault, req, route, venue, params, entry) -> Reply:
        if fault is None:
            return self._deliver(req, route, venue, params, entry)
        if fault.apply or not (fault.replies or fault.drop):
            reply = self._deliver(req, route, venue, params, entry)
        if fault.drop:
            return Reply(0, drop=True)
        if fault.replies:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return Reply(fault.status, fault.body, headers)
        return reply

    def _deliver(self, req: Incoming, route: Route, venue: str, params: Params, entry: dict) -> Reply:
        ex = self.exchange
        delivered_at = time.time()
        server_ms = ex.server_time_ms(delivered_at)
        ex.log.update(entry, delivered_at=delivered_at, server_time_ms=server_ms)
        try:
            if params.error is not None:
                raise params.error
            account = None
            if route.security != NONE:
                account = self._authenticate(req, route, venue, params, server_ms)
            call = Call(ex, venue, params, account, server_ms, entry)
            body = route.handler(call)
        except BinanceError as exc:
            return _error_reply(exc)
        ex.log.update(entry, applied_at=time.time())
        return Reply(200, body, call.headers)

    def _authenticate(
        self, req: Incoming, route: Route, venue: str, params: Params, server_ms: int
    ) -> Account:
        if not req.api_key:
            raise errors.key_format_invalid()
        account = self.exchange.account(req.api_key)
        if account is None or not account.allows_ip(req.ip):
            raise errors.rejected_key(req.ip)
        timestamp = params.long("timestamp")
        recv_window = params.long("recvWindow", required=False)
        if recv_window is None:
            recv_window = DEFAULT_RECV_WINDOW
        elif recv_window > MAX_RECV_WINDOW:
            raise errors.bad_recv_window()
        if params.signature is None or not params.signature.strip():
            raise errors.mandatory("signature")
        if not account.verifier.verify(params.payload, params.signature):
            raise errors.bad_signature()
        # Binance's rule: accept if timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow.
        if timestamp >= server_ms + 1000:
            raise errors.ahead_of_server()
        if server_ms - timestamp > recv_window:
            raise errors.outside_recv_window()
        if route.security == TRADE and not account.trade:
            raise errors.rejected_key(req.ip)
        if venue == symbols.OPTIONS and not account.options:
            raise errors.rejected_key(req.ip)
        return account

    def _finish(self, entry: dict, req: Incoming, venue: str, reply: Reply) -> Reply:
        if not reply.drop:
            used = self.exchange.limiter.used(req.ip, venue, self.exchange.server_time_ms())
            reply.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
            reply.headers.update(CORS_HEADERS)
        code = reply.body.get("code") if isinstance(reply.body, dict) and reply.status != 200 else None
        self.exchange.log.update(
            entry, status=None if reply.drop else reply.status, code=code, responded_at=time.time()
        )
        return reply


def _error_reply(exc: BinanceError) -> Reply:
    return Reply(exc.status, exc.body(), dict(exc.headers))
