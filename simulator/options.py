"""The Binance Options paths (/eapi/v1/): handlers and their routes, served by the same pipeline as the
futures paths (weight, faults, latency, key, timestamp, signature) on a venue of their own ("options": its
own weight count, and a key needs the options permission).

Paths: time, ping, exchangeInfo; order (POST new, GET query, DELETE cancel), openOrders, allOpenOrders (by
symbol), allOpenOrdersByUnderlying; countdownCancelAll (POST config, GET configs) and
countdownCancelAllHeartBeat. Weights as the official options SDK (binance-sdk-derivatives-trading-options
8.7.0) states them per endpoint. The kill switch's behaviour is described in option_countdowns.py.
Orders are LIMIT only (as on Binance) and never fill: nothing here moves prices.
"""

from decimal import Decimal

from . import errors, rules, symbols
from .calls import NONE, TRADE, USER_DATA, Call, Route, fixed
from .wire import Params

MIN_COUNTDOWN_MS = 5_000  # Binance: "Minimum acceptable value is 5,000"
_TIME_IN_FORCE = ("GTC", "IOC", "FOK")


def _time(call: Call):
    return {"serverTime": call.server_ms}


def _ping(call: Call):
    return {}


def _filters() -> list[dict]:
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": symbols.OPTION_MIN_PRICE,
            "maxPrice": symbols.OPTION_MAX_PRICE,
            "tickSize": "0.01",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": symbols.OPTION_MIN_QTY,
            "maxQty": symbols.OPTION_MAX_QTY,
            "stepSize": "0.01",
        },
    ]


def _option_symbol(m: symbols.Market) -> dict:
    _, expiry, strike, kind = m.symbol.split("-")
    return {
        "expiryDate": symbols.OPTION_EXPIRY_MS[expiry],
        "filters": _filters(),
        "symbol": m.symbol,
        "side": "CALL" if kind == "C" else "PUT",
        "strikePrice": strike,
        "underlying": m.underlying,
        "unit": 1,
        "makerFeeRate": "0.0002",
        "takerFeeRate": "0.0002",
        "liquidationFeeRate": "0.0019000",
        "minQty": symbols.OPTION_MIN_QTY,
        "maxQty": symbols.OPTION_MAX_QTY,
        "initialMargin": "0.15",
        "maintenanceMargin": "0.075",
        "minInitialMargin": "0.1",
        "minMaintenanceMargin": "0.05",
        "priceScale": symbols.OPTION_SCALE,
        "quantityScale": symbols.OPTION_SCALE,
        "quoteAsset": m.quote,
        "status": m.status,
    }


def _exchange_info(call: Call):
    """Shaped like the example on Binance's options Exchange Information page."""
    return {
        "timezone": "UTC",
        "serverTime": call.server_ms,
        "optionContracts": [
            {
                "baseAsset": u.removesuffix("USDT"),
                "quoteAsset": "USDT",
                "underlying": u,
                "settleAsset": "USDT",
            }
            for u in symbols.OPTION_UNDERLYINGS
        ],
        "optionAssets": [{"name": "USDT"}],
        "optionSymbols": [_option_symbol(m) for m in symbols.OPTION_MARKETS],
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": call.exchange.limiter.limit,
            },
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
    }


# Kill switch ---------------------------------------------------------------------------------------------


def _underlying(params: Params, name: str = "underlying", required: bool = True) -> str | None:
    value = params.text(name, required)
    if value is not None and value not in symbols.OPTION_UNDERLYINGS:
        raise errors.invalid_underlying()
    return value


def _set_countdown(call: Call):
    underlying = _underlying(call.params)
    countdown_ms = call.params.long("countdownTime")
    if 0 < countdown_ms < MIN_COUNTDOWN_MS:
        # Binance documents the minimum, not the error; assumption: its generic INVALID_PARAMETER.
        raise errors.invalid_parameter("countdownTime")
    call.exchange.options.configure(call.account, underlying, countdown_ms, call.entry["id"])
    return {"underlying": underlying, "countdownTime": countdown_ms}


def _get_countdowns(call: Call):
    """With `underlying`: its configuration, {} if it has none (assumption: Binance shows one object and says
    only active ones are returned). Without: the list of every active one (assumption, as the page promises
    "the auto-cancel parameters for each underlying symbol")."""
    underlying = _underlying(call.params, required=False)
    found = [
        {"underlying": c.underlying, "countdownTime": c.countdown_ms}
        for c in call.exchange.options.configured(call.account, underlying)
    ]
    if underlying is not None:
        return found[0] if found else {}
    return found


def _heartbeat(call: Call):
    listed = [u.strip() for u in call.params.text("underlyings").split(",") if u.strip()]
    return {"underlyings": call.exchange.options.heartbeat(call.account, listed, call.entry["id"])}


# Orders ----------------------------------------------------------------------------------------------------


def _check_order(price: str, quantity: str) -> None:
    """PRICE_FILTER and LOT_SIZE with the codes of Binance's options error page."""
    for value in (price, quantity):
        if max(0, -Decimal(value).as_tuple().exponent) > symbols.OPTION_SCALE:
            raise errors.BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
    qty, px = Decimal(quantity), Decimal(price)
    if qty <= 0:
        raise errors.BinanceError(400, -4003, "Quantity less than zero.")
    if qty < Decimal(symbols.OPTION_MIN_QTY):
        raise errors.BinanceError(400, -4004, "Quantity less than min quantity.")
    if qty > Decimal(symbols.OPTION_MAX_QTY):
        raise errors.BinanceError(400, -4005, "Quantity greater than max quantity.")
    if px < Decimal(symbols.OPTION_MIN_PRICE):
        raise errors.BinanceError(400, -4013, "Price less than min price.")
    if px > Decimal(symbols.OPTION_MAX_PRICE):
        raise errors.BinanceError(400, -4002, "Price greater than max price.")


def _new_order(call: Call):
    p = call.params
    market = call.market()
    side = p.text("side")
    if side not in ("BUY", "SELL"):
        raise errors.invalid_enum(-1117, "side")
    if p.text("type") != "LIMIT":  # "LIMIT (only support limit)"
        raise errors.invalid_enum(-1116, "orderType")
    quantity = p.decimal("quantity")
    price = p.decimal("price")  # mandatory for LIMIT
    time_in_force = p.text("timeInForce", required=False) or "GTC"
    if time_in_force not in _TIME_IN_FORCE:
        raise errors.invalid_enum(-1115, "timeInForce")
    client_order_id = p.text("clientOrderId", required=False)
    if client_order_id is not None:
        rules.check_client_order_id(client_order_id, "clientOrderId")
    _check_order(price, quantity)
    if call.exchange.options.refuses_orders(call.account, market.underlying):
        raise errors.new_order_rejected()  # the underlying's kill switch ran out: no heartbeat since
    order = call.exchange.new_order(
        call.account,
        market,
        side,
        "LIMIT",
        time_in_force,
        rules.plain(price),
        rules.plain(quantity),
        client_order_id,
    )
    call.count_order()
    return order.to_wire("result" if p.text("newOrderRespType", required=False) == "RESULT" else "ack")


def _query_order(call: Call):
    market = call.market(trading=False)
    order = call.exchange.find_order(
        call.account,
        market.symbol,
        *call.order_reference("clientOrderId", errors.option_order_reference_missing),
    )
    if order is None:
        raise errors.order_does_not_exist()
    return order.to_wire()


def _cancel_order(call: Call):
    market = call.market(trading=False)
    order = call.exchange.cancel_order(
        call.account,
        market.symbol,
        *call.order_reference("clientOrderId", errors.option_order_reference_missing),
    )
    if order is None:
        raise errors.order_does_not_exist()  # options' page lists -2013 only, no -2011
    return order.to_wire()


def _open_orders(call: Call):
    market = call.market(required=False, trading=False)
    underlying = _underlying(call.params, required=False)
    orders = call.account.open_orders(market.symbol if market else None)
    return [
        o.to_wire()
        for o in orders
        if o.venue == symbols.OPTIONS
        and (underlying is None or symbols.MARKETS[o.symbol].underlying == underlying)
    ]


def _cancel_all(call: Call):
    market = call.market(trading=False)
    call.exchange.cancel_all(call.account, market.symbol)
    return {"code": 0, "msg": "success"}


def _cancel_all_by_underlying(call: Call):
    underlying = _underlying(call.params)
    for market in symbols.OPTION_MARKETS:
        if market.underlying == underlying:
            call.exchange.cancel_all(call.account, market.symbol)
    return {"code": 0, "msg": "success", "data": 0}  # as in Binance's example


def _open_orders_weight(params: Params) -> int:
    return 1 if params.has("symbol") else 40


ROUTES = {
    "time": {"GET": Route(_time, NONE, fixed(1))},
    "ping": {"GET": Route(_ping, NONE, fixed(1))},
    "exchangeInfo": {"GET": Route(_exchange_info, NONE, fixed(1))},
    "countdownCancelAll": {
        "POST": Route(_set_countdown, TRADE, fixed(1)),
        "GET": Route(_get_countdowns, TRADE, fixed(1)),
    },
    "countdownCancelAllHeartBeat": {"POST": Route(_heartbeat, TRADE, fixed(10))},
    "order": {
        "POST": Route(_new_order, TRADE, fixed(0)),  # counted against the order limits instead
        "GET": Route(_query_order, TRADE, fixed(1)),
        "DELETE": Route(_cancel_order, TRADE, fixed(1)),
    },
    "openOrders": {"GET": Route(_open_orders, USER_DATA, _open_orders_weight)},
    "allOpenOrders": {"DELETE": Route(_cancel_all, TRADE, fixed(1))},
    "allOpenOrdersByUnderlying": {"DELETE": Route(_cancel_all_by_underlying, TRADE, fixed(5))},
}
