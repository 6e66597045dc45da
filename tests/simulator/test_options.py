"""Binance Options (/eapi): a kill switch per underlying that heartbeats renew, checked about once a second;
a lapse cancels the underlying's orders and refuses new ones with -2010 until a heartbeat or a disarm."""

import time

import requests

from simulator import Simulator
from tests.waiting import scheduling_lag

from .conftest import Trader, start_of_next_minute_skew, wait_until

BTC_CALL, BTC_PUT, ETH_CALL = "BTC-261225-100000-C", "BTC-270326-90000-P", "ETH-261225-3000-C"


def _eapi(trader: Trader, method: str, path: str, params: dict, **options) -> requests.Response:
    return trader.signed(method, path, params, venue="eapi", **options)


def _arm(trader: Trader, underlying: str, countdown_ms: int) -> requests.Response:
    return _eapi(
        trader, "POST", "countdownCancelAll", {"underlying": underlying, "countdownTime": countdown_ms}
    )


def _new_order(trader: Trader, symbol: str, price="100", quantity="1") -> requests.Response:
    order = {"symbol": symbol, "side": "BUY", "type": "LIMIT", "quantity": quantity, "price": price}
    return _eapi(trader, "POST", "order", order, where="body")


def test_a_lapse_cancels_the_underlyings_orders_at_the_next_check_and_refuses_new_ones(simulator, trader):
    ex = simulator.exchange
    btc = [ex.place_order(trader.api_key, s, price="100")["orderId"] for s in (BTC_CALL, BTC_PUT)]
    eth = ex.place_order(trader.api_key, ETH_CALL, price="50")["orderId"]

    armed = _arm(trader, "BTCUSDT", 5000)  # Binance's minimum

    assert armed.status_code == 200
    assert armed.json() == {"underlying": "BTCUSDT", "countdownTime": 5000}
    with scheduling_lag() as lag:
        [fired] = wait_until(ex.cancellations, timeout=8)
    # Checked about once a second, as on Binance: fired at the first check after the true expiry.
    assert 0 <= fired["cancelled_at"] - fired["expires_at"] < 1.0 + 0.05 + lag()
    assert (fired["venue"], fired["underlying"]) == ("options", "BTCUSDT")
    assert sorted(fired["order_ids"]) == sorted(btc)
    assert [o["orderId"] for o in ex.open_orders(trader.api_key)] == [eth]

    refused = _new_order(trader, BTC_PUT)
    assert (refused.status_code, refused.json()) == (400, {"code": -2010, "msg": "NEW_ORDER_REJECTED"})
    assert _new_order(trader, ETH_CALL).status_code == 200  # another underlying, no countdown
    # The lapsed configuration stays: it is what refuses the orders.
    listed = _eapi(trader, "GET", "countdownCancelAll", {"underlying": "BTCUSDT"}).json()
    assert listed == {"underlying": "BTCUSDT", "countdownTime": 5000}

    renewed = _eapi(trader, "POST", "countdownCancelAllHeartBeat", {"underlyings": "BTCUSDT,ETHUSDT"})

    assert renewed.json() == {"underlyings": ["BTCUSDT"]}  # ETHUSDT has no countdown: left out
    accepted = _new_order(trader, BTC_PUT)
    assert accepted.status_code == 200 and accepted.json()["symbol"] == BTC_PUT
    assert _arm(trader, "BTCUSDT", 0).json() == {"underlying": "BTCUSDT", "countdownTime": 0}
    assert _eapi(trader, "GET", "countdownCancelAll", {}).json() == []
    assert ex.option_countdowns() == []


def test_a_heartbeat_restarts_the_countdown_from_when_it_is_applied(simulator, trader):
    _arm(trader, "BTCUSDT", 60_000)
    _arm(trader, "ETHUSDT", 30_000)
    [eth, btc] = simulator.exchange.option_countdowns()

    sent = time.time()
    renewed = _eapi(trader, "POST", "countdownCancelAllHeartBeat", {"underlyings": "BTCUSDT"})

    assert renewed.json() == {"underlyings": ["BTCUSDT"]}
    [eth_after, btc_after] = simulator.exchange.option_countdowns()
    assert btc_after["armed_at"] >= sent > btc["armed_at"]
    assert btc_after["expires_at"] == btc_after["armed_at"] + 60
    assert eth_after == eth
    listed = _eapi(trader, "GET", "countdownCancelAll", {}).json()
    assert sorted(listed, key=lambda c: c["underlying"]) == [
        {"underlying": "BTCUSDT", "countdownTime": 60_000},
        {"underlying": "ETHUSDT", "countdownTime": 30_000},
    ]


def test_the_check_interval_is_set_through_the_control_interface(simulator, trader):
    ex = simulator.exchange
    ex.place_order(trader.api_key, ETH_CALL, price="50")
    set_to = requests.post(f"{simulator.url}/_sim/options", json={"options_check_interval": 0.05}, timeout=5)
    assert set_to.json()["options_check_interval"] == 0.05
    # Shorter than Binance's 5 s minimum: set up directly, to time the loop and not the minimum.
    ex.options.configure(ex.account(trader.api_key), "ETHUSDT", 200)

    with scheduling_lag() as lag:
        [fired] = wait_until(ex.cancellations, timeout=2)

    assert 0 <= fired["cancelled_at"] - fired["expires_at"] < 0.05 + 0.05 + lag()
    ex.reset(keep_accounts=True)
    assert ex.state()["options_check_interval"] == 1.0


def test_it_refuses_short_countdowns_unknown_underlyings_and_missing_parameters(simulator, trader):
    short = _arm(trader, "BTCUSDT", 4999)
    assert (short.status_code, short.json()) == (
        400,
        {"code": -1130, "msg": "Data sent for paramter 'countdownTime' is not valid."},
    )
    unknown = _arm(trader, "NOPEUSDT", 10_000)
    assert (unknown.status_code, unknown.json()) == (400, {"code": -1128, "msg": "Invalid underlying"})
    assert _eapi(trader, "GET", "countdownCancelAll", {"underlying": "BTCUSD"}).json()["code"] == -1128
    missing = _eapi(trader, "POST", "countdownCancelAll", {"countdownTime": 10_000}).json()
    assert missing["code"] == -1102 and "'underlying'" in missing["msg"]
    assert _arm(trader, "ETHUSDT", 0).status_code == 200  # disarming what was never armed is fine
    assert _new_order(trader, "BTC-261225-12345-C").json() == {"code": -1121, "msg": "Invalid symbol."}
    assert simulator.exchange.option_countdowns() == []


def test_it_places_queries_lists_and_cancels_options_orders(simulator, trader):
    placed = _new_order(trader, BTC_CALL, price="150.5", quantity="0.25")
    other = _new_order(trader, ETH_CALL)

    ack = placed.json()
    assert set(ack) == {
        "orderId",
        "symbol",
        "price",
        "quantity",
        "side",
        "type",
        "createDate",
        "reduceOnly",
        "postOnly",
        "mmp",
    }
    assert (ack["price"], ack["quantity"]) == ("150.5", "0.25")
    assert placed.headers["X-MBX-ORDER-COUNT-1M"] == "1"
    queried = _eapi(trader, "GET", "order", {"symbol": BTC_CALL, "orderId": ack["orderId"]}).json()
    assert (queried["status"], queried["optionSide"], queried["quoteAsset"]) == ("ACCEPTED", "CALL", "USDT")
    by_underlying = _eapi(trader, "GET", "openOrders", {"underlying": "ETHUSDT"}).json()
    assert [o["orderId"] for o in by_underlying] == [other.json()["orderId"]]
    cancelled = _eapi(trader, "DELETE", "order", {"symbol": BTC_CALL, "orderId": ack["orderId"]})
    assert cancelled.json()["status"] == "CANCELLED"
    again = _eapi(trader, "DELETE", "order", {"symbol": BTC_CALL, "orderId": ack["orderId"]})
    assert again.json() == {"code": -2013, "msg": "Order does not exist."}
    done = _eapi(trader, "DELETE", "allOpenOrdersByUnderlying", {"underlying": "ETHUSDT"})
    assert done.json() == {"code": 0, "msg": "success", "data": 0}
    assert _eapi(trader, "GET", "openOrders", {}).json() == []
    assert _new_order(trader, BTC_CALL, price="0.01").json()["code"] == -4013
    assert _new_order(trader, BTC_CALL, quantity="0.001").json()["code"] == -1111


def test_a_key_without_the_options_permission_is_refused_on_eapi_only(simulator):
    trader = Trader(simulator).register(options=False)

    refused = _arm(trader, "BTCUSDT", 10_000)

    assert refused.status_code == 401
    assert refused.json() == {
        "code": -2015,
        "msg": "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1",
    }
    assert trader.countdown("BTCUSDT", 10_000).status_code == 200  # futures are still allowed


def test_options_weight_is_counted_apart_and_refused_with_the_options_code():
    with Simulator(weight_limit=12, ban_after=1) as sim:
        sim.exchange.set_skew(start_of_next_minute_skew())
        client = Trader(sim)

        used = [
            client.public("exchangeInfo", venue="eapi").headers["X-MBX-USED-WEIGHT-1M"] for _ in range(12)
        ]
        limited = client.public("time", venue="eapi")
        futures = client.public("time", venue="fapi")
        client.public("time", venue="eapi")
        banned = client.public("time", venue="eapi")

    assert used == [str(n) for n in range(1, 13)]
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json() == {
        "code": -1008,
        "msg": "Too much request weight used; current limit is 12 request weight per 1 MINUTE. "
        "Please use the websocket for live updates to avoid polling the API.",
    }
    assert futures.status_code == 200 and futures.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert banned.status_code == 418 and banned.json()["code"] == -1008


def test_options_exchange_info_lists_contracts_by_underlying(simulator, trader):
    info = trader.public("exchangeInfo", venue="eapi").json()

    contracts = {c["underlying"] for c in info["optionContracts"]}
    assert contracts == {"BTCUSDT", "ETHUSDT", "BNBUSDT"}
    btc = next(s for s in info["optionSymbols"] if s["symbol"] == BTC_CALL)
    assert (btc["underlying"], btc["side"], btc["strikePrice"], btc["quoteAsset"]) == (
        "BTCUSDT",
        "CALL",
        "100000",
        "USDT",
    )
    assert {f["filterType"] for f in btc["filters"]} == {"PRICE_FILTER", "LOT_SIZE"}
    assert info["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 2400,
    }
