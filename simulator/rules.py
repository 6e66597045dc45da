"""Binance's checks of a new order against its symbol's filters, and of the ids that name an order.

Prices and quantities stay decimal strings in the sent scale (Binance echoes "0.010" as "0.010"); only their
value is compared, never a float.
"""

import re
from decimal import Decimal, InvalidOperation

from . import errors, symbols
from .errors import BinanceError
from .symbols import USDM, Market

CLIENT_ORDER_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
_CLIENT_ORDER_ID = re.compile(CLIENT_ORDER_ID_RANGE[1:-1])
MAX_PRICE = Decimal(symbols.MAX_PRICE)
MAX_QTY = Decimal(symbols.MAX_QTY)
MAX_MARKET_QTY = Decimal(symbols.MAX_MARKET_QTY)
MIN_NOTIONAL = Decimal(symbols.MIN_NOTIONAL)
# Since 2025-12-09 USDⓈ-M takes these only on the algo order endpoints (POST /fapi/v1/order answers -4120).
# COIN-M still takes them as plain orders (untriggered here: nothing moves prices) until it moves them to an
# Algo Service too, as Binance announced (the exchange's `coinm_algo_service` switch).
CONDITIONAL_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")


def plain(text: str) -> str:
    """The value as Binance echoes it: the sent scale kept, no exponent or leading zeros ("4.8E+4" → "48000",
    "050.10" → "50.10")."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return format(value, "f")


def canonical(text: str) -> str:
    """`plain`, for a value that must be positive (a price or quantity given to the control interface)."""
    value = plain(text)
    if Decimal(value) <= 0:
        raise ValueError(f"{text!r} must be a positive number")
    return value


def _decimals(value: Decimal) -> int:
    return max(0, -value.as_tuple().exponent)


def _reject(code: int, msg: str) -> BinanceError:
    return BinanceError(400, code, msg)


def check_client_order_id(value: str, name: str = "newClientOrderId") -> None:
    """Also `clientAlgoId`: Binance documents the same rule for it."""
    if len(value) > 36:
        raise _reject(-4015, "Client order id length should not be more than 36 chars")
    if not _CLIENT_ORDER_ID.fullmatch(value):
        raise errors.illegal_chars(name, CLIENT_ORDER_ID_RANGE)


def check_new_order(
    market: Market, order_type: str, price: str | None, quantity: str | None, *, reduce_only: bool = False
) -> None:
    """PRICE_FILTER, LOT_SIZE / MARKET_LOT_SIZE and MIN_NOTIONAL, with Binance's codes and messages. No
    quantity (a closePosition order) skips the lot and notional checks; reduce-only orders skip the notional
    one, as Binance's message says."""
    if quantity is None:
        if price is not None:
            check_price(market, price)
        return
    qty = Decimal(quantity)
    if _decimals(qty) > market.quantity_precision:
        raise _reject(-1111, "Precision is over the maximum defined for this asset.")
    if qty <= 0:
        raise _reject(-4003, "Quantity less than or equal to zero.")
    step = Decimal(market.step_size)
    if qty < step:
        raise _reject(-4004, "Quantity less than min quantity.")
    if qty > (MAX_MARKET_QTY if order_type == "MARKET" else MAX_QTY):
        raise _reject(-4005, "Quantity greater than max quantity.")
    if qty % step:
        raise _reject(-4023, "Quantity not increased by step size.")
    if price is None:
        return
    value = check_price(market, price)
    if market.venue == USDM and not reduce_only and value * qty < MIN_NOTIONAL:
        raise _reject(
            -4164, f"Order's notional must be no smaller than {MIN_NOTIONAL} (unless you choose reduce only)."
        )


def check_price(market: Market, price: str) -> Decimal:
    """PRICE_FILTER alone: for a limit price, and for an algo order's trigger price."""
    value = Decimal(price)
    if _decimals(value) > market.price_precision:
        raise _reject(-1111, "Precision is over the maximum defined for this asset.")
    tick = Decimal(market.tick_size)
    if value < tick:
        raise _reject(-4013, "Price less than min price.")
    if value > MAX_PRICE:
        raise _reject(-4002, "Price greater than max price.")
    if value % tick:
        raise _reject(-4014, "Price not increased by tick size.")
    return value
