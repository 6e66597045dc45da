"""The public and order endpoints speak Binance's wire format, on both venues, over keep-alive HTTP/1.1."""

import http.client
import json

from .conftest import Trader


def test_it_lists_trading_and_delisted_usdm_symbols(simulator, trader):
    info = trader.public("exchangeInfo").json()

    assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
    by_name = {s["symbol"]: s for s in info["symbols"]}
    trading = [s for s in info["symbols"] if s["status"] == "TRADING"]
    assert len(trading) >= 30
    assert {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT"} <= set(
        by_name
    )
    assert by_name["LUNAUSDT"]["status"] == "SETTLING"
    assert by_name["BTCUSDT"]["contractType"] == "PERPETUAL" and by_name["BTCUSDT"]["quoteAsset"] == "USDT"
    assert {r["rateLimitType"] for r in info["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}


def test_it_lists_coin_margined_symbols_on_dapi(simulator, trader):
    info = trader.public("exchangeInfo", venue="dapi").json()
    by_name = {s["symbol"]: s for s in info["symbols"]}

    assert by_name["BTCUSD_PERP"]["contractStatus"] == "TRADING"
    assert "ETHUSD_PERP" in by_name and "BTCUSDT" not in by_name
    assert trader.public("time", venue="dapi").json()["serverTime"] > 0
    assert trader.public("ping", venue="dapi").json() == {}


def test_it_places_lists_and_cancels_orders(simulator, trader):
    placed = trader.signed(
        "POST",
        "order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.01",
            "price": "50000",
        },
        where="body",
    )
    market = trader.signed(
        "POST", "order", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "1"}
    )
    no_price = trader.signed(
        "POST",
        "order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1"},
    )
    bad_side = trader.signed("POST", "order", {"symbol": "BTCUSDT", "side": "UP", "type": "LIMIT"})

    assert placed.status_code == 200
    order = placed.json()
    assert order["status"] == "NEW" and order["price"] == "50000" and order["origQty"] == "0.01"
    assert market.json()["status"] == "FILLED"
    assert no_price.json()["code"] == -1102 and "'price'" in no_price.json()["msg"]
    assert bad_side.json() == {"code": -1117, "msg": "Invalid side."}

    listed = trader.signed("GET", "openOrders", {})
    assert [o["orderId"] for o in listed.json()] == [order["orderId"]]
    cancelled = trader.signed("DELETE", "allOpenOrders", {"symbol": "BTCUSDT"})
    assert cancelled.json() == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert trader.signed("GET", "openOrders", {"symbol": "BTCUSDT"}).json() == []


def test_it_answers_unknown_paths_and_methods_like_binance(simulator, trader):
    assert trader.session.get(f"{simulator.url}/fapi/v1/nothing").status_code == 404
    assert trader.session.get(f"{simulator.url}/fapi/v1/countdownCancelAll").status_code == 405


def test_it_keeps_connections_alive_with_exact_lengths(simulator):
    conn = http.client.HTTPConnection("127.0.0.1", simulator.port, timeout=5)
    conn.request("GET", "/fapi/v1/time")
    first = conn.getresponse()
    body = first.read()
    sock = conn.sock
    conn.request("GET", "/fapi/v1/nothing")
    second = conn.getresponse()
    second.read()
    conn.request("GET", "/fapi/v1/exchangeInfo")
    third = conn.getresponse()

    assert first.version == 11 and int(first.getheader("Content-Length")) == len(body)
    assert json.loads(body)["serverTime"] > 0
    assert second.status == 404
    assert len(json.loads(third.read())["symbols"]) >= 30
    assert conn.sock is sock  # one TCP connection for all three
    conn.close()


def test_it_never_logs_query_strings_in_its_access_log(capfd):
    from heartbeats.simulator import Simulator

    sim = Simulator(access_log=True)
    sim.start()
    try:
        trader = Trader(sim).register()
        trader.countdown("BTCUSDT", 60000)
    finally:
        sim.stop()
    err = capfd.readouterr().err
    assert "POST /fapi/v1/countdownCancelAll 200" in err
    assert "signature" not in err and "timestamp" not in err and trader.api_key not in err
