"""Binance's own Python connector (binance-futures-connector) works against the simulator as against Binance:
the same calls succeed with the same answers, and failures raise the same ClientError codes and messages.

The connector signs as it signs for Binance (its own encoding, parameter order and signature placement), so
these tests catch wire-format differences that our own client, written alongside the simulator, could share.
"""

import base64
import time

import pytest
from binance.cm_futures import CMFutures
from binance.error import ClientError
from binance.um_futures import UMFutures
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from .conftest import KEYS, Trader, another_key

KEY_TYPES = ["hmac", "ed25519", "rsa"]


class _Ed25519Signing:
    """binance-futures-connector 4.2.0 signs with HMAC or RSA only. For Ed25519 it keeps its own transport
    (encoding, parameter order, signature placement) and signs the payload as Binance's other connectors do:
    base64 of the raw Ed25519 signature, returned as bytes like its RSA signer."""

    def _get_sign(self, payload):
        key = ECC.import_key(self.private_key, passphrase=self.private_key_pass)
        return base64.b64encode(eddsa.new(key, "rfc8032").sign(payload.encode()))


class _Ed25519UMFutures(_Ed25519Signing, UMFutures):
    pass


class _Ed25519CMFutures(_Ed25519Signing, CMFutures):
    pass


def _connector(
    simulator, key_type: str, *, venue: str = "usdm", key: str | None = None, api_key=None, **options
):
    """A connector for a fresh registered account (or `api_key`), signing with `key` (default: its own)."""
    if api_key is None:
        api_key = Trader(simulator, key_type).register().api_key
    key = KEYS[key_type] if key is None else key
    signing = {"secret": key} if key_type == "hmac" else {"private_key": key}
    if key_type == "ed25519":
        cls = _Ed25519UMFutures if venue == "usdm" else _Ed25519CMFutures
    else:
        cls = UMFutures if venue == "usdm" else CMFutures
    return cls(key=api_key, base_url=simulator.url, timeout=5, **signing, **options)


def _error(call) -> tuple[int, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.status_code, raised.value.error_code, raised.value.error_message


def test_it_answers_the_connectors_public_calls_on_both_venues(simulator):
    um, cm = UMFutures(base_url=simulator.url, timeout=5), CMFutures(base_url=simulator.url, timeout=5)

    assert isinstance(um.time()["serverTime"], int) and isinstance(cm.time()["serverTime"], int)
    assert um.ping() == {} and cm.ping() == {}
    usdm = {s["symbol"]: s for s in um.exchange_info()["symbols"]}
    coinm = {s["symbol"]: s for s in cm.exchange_info()["symbols"]}
    btc = usdm["BTCUSDT"]
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"], btc["marginAsset"]) == (
        "TRADING",
        "BTC",
        "USDT",
        "USDT",
    )
    assert {f["filterType"] for f in btc["filters"]} >= {"PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL"}
    assert coinm["BTCUSD_PERP"]["contractStatus"] == "TRADING" and "BTCUSDT" not in coinm


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_it_arms_and_disarms_countdowns_for_the_connector(simulator, key_type):
    um = _connector(simulator, key_type)
    cm = _connector(simulator, key_type, venue="coinm", api_key=um.key)

    assert um.countdown_cancel_order("BTCUSDT", 60000) == {"symbol": "BTCUSDT", "countdownTime": "60000"}
    assert cm.countdown_cancel_order("BTCUSD_PERP", 90000, recvWindow=10000) == {
        "symbol": "BTCUSD_PERP",
        "countdownTime": "90000",
    }
    armed = {c["symbol"]: c["countdown_ms"] for c in simulator.exchange.countdowns()}
    assert armed == {"BTCUSDT": 60000, "BTCUSD_PERP": 90000}

    assert um.countdown_cancel_order("BTCUSDT", 0) == {"symbol": "BTCUSDT", "countdownTime": "0"}
    assert cm.countdown_cancel_order("BTCUSD_PERP", 0)["countdownTime"] == "0"
    assert simulator.exchange.countdowns() == []


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_it_places_queries_lists_and_cancels_orders_for_the_connector(simulator, key_type):
    um = _connector(simulator, key_type)

    # Numbers as the connector's users pass them: floats and ints, encoded by the connector itself.
    btc = um.new_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=0.01, price=50000
    )
    # A client order id with the characters Binance allows that need URL-encoding.
    eth = um.new_order(
        symbol="ETHUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.500",
        price="3000.10",
        newClientOrderId="desk/7:a.b_c-d",
    )

    assert isinstance(btc["orderId"], int) and len(btc["clientOrderId"]) == 22
    assert (btc["status"], btc["type"], btc["timeInForce"], btc["side"]) == ("NEW", "LIMIT", "GTC", "BUY")
    assert (btc["price"], btc["origQty"], btc["executedQty"]) == ("50000", "0.01", "0")
    assert isinstance(btc["updateTime"], int)
    assert (eth["clientOrderId"], eth["price"], eth["origQty"]) == ("desk/7:a.b_c-d", "3000.10", "0.500")
    assert {o["orderId"] for o in um.get_orders()} == {btc["orderId"], eth["orderId"]}
    assert [o["orderId"] for o in um.get_orders(symbol="BTCUSDT")] == [btc["orderId"]]
    assert um.query_order("ETHUSDT", origClientOrderId="desk/7:a.b_c-d")["orderId"] == eth["orderId"]
    assert um.get_open_orders("BTCUSDT", orderId=btc["orderId"])["clientOrderId"] == btc["clientOrderId"]

    cancelled = um.cancel_order("ETHUSDT", orderId=eth["orderId"])
    assert (cancelled["orderId"], cancelled["status"]) == (eth["orderId"], "CANCELED")
    assert um.query_order("ETHUSDT", orderId=eth["orderId"])["status"] == "CANCELED"
    assert um.cancel_open_orders("BTCUSDT") == {
        "code": 200,
        "msg": "The operation of cancel all open order is done.",
    }
    assert um.get_orders() == []


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_it_handles_coin_margined_orders_for_the_connector(simulator, key_type):
    cm = _connector(simulator, key_type, venue="coinm")

    order = cm.new_order(
        symbol="BTCUSD_PERP", side="BUY", type="LIMIT", timeInForce="GTC", quantity=2, price=40000
    )

    assert (order["symbol"], order["pair"], order["status"], order["origQty"]) == (
        "BTCUSD_PERP",
        "BTCUSD",
        "NEW",
        "2",
    )
    assert [o["orderId"] for o in cm.get_orders(pair="BTCUSD")] == [order["orderId"]]
    assert cm.cancel_open_orders("BTCUSD_PERP")["code"] == 200
    assert cm.get_orders() == []


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_it_raises_binances_errors_in_the_connector(simulator, key_type):
    um = _connector(simulator, key_type)
    forged = _connector(simulator, key_type, api_key=um.key, key=another_key(key_type))
    stranger = _connector(simulator, key_type, api_key="x" * 64)

    assert _error(lambda: um.countdown_cancel_order("NOPEUSDT", 1000)) == (400, -1121, "Invalid symbol.")
    assert _error(lambda: forged.countdown_cancel_order("BTCUSDT", 1000)) == (
        400,
        -1022,
        "Signature for this request is not valid.",
    )
    assert _error(lambda: stranger.get_orders()) == (
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1",
    )
    assert _error(
        lambda: um.new_order(
            symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=1, price=1.234
        )
    ) == (400, -1111, "Precision is over the maximum defined for this asset.")
    assert _error(lambda: um.cancel_order("BTCUSDT", orderId=1)) == (400, -2011, "Unknown order sent.")
    simulator.exchange.set_skew(-10_000)  # the connector's clock now runs 10 s ahead of the exchange
    assert _error(lambda: um.countdown_cancel_order("BTCUSDT", 1000)) == (
        400,
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    assert simulator.exchange.countdowns() == []


def test_it_reports_used_weight_and_order_counts_to_the_connector(simulator, time_machine):
    um = _connector(simulator, "hmac", show_limit_usage=True)
    # Weight is counted per calendar minute; keep the three calls inside one: they start a second into the
    # next (the connector and the simulator read the same clock).
    time_machine.move_to(60 * (time.time() // 60 + 1) + 1, tick=True)

    um.time()
    placed = um.new_order(symbol="SOLUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=1, price=20)
    listed = um.get_orders()

    assert placed["data"]["status"] == "NEW"
    assert placed["limit_usage"]["x-mbx-order-count-10s"] == "1"
    assert placed["limit_usage"]["x-mbx-order-count-1m"] == "1"
    # time (1) + order (0) + openOrders without a symbol (40)
    assert listed["limit_usage"]["x-mbx-used-weight-1m"] == "41"
