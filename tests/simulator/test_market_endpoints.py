"""The public and order endpoints speak Binance's wire format, on both venues, over keep-alive HTTP/1.1."""

import http.client
import json

from .conftest import Trader, wait_until


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
    from simulator import Simulator

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


def _limit(symbol="BTCUSDT", quantity="0.01", price="50000", **extra):
    return {
        "symbol": symbol,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": quantity,
        "price": price,
        **extra,
    }


def test_it_queries_and_cancels_one_order_by_id_or_client_order_id(simulator, trader):
    placed = trader.signed("POST", "order", _limit(newClientOrderId="desk-1")).json()
    ref = {"symbol": "BTCUSDT", "orderId": placed["orderId"]}

    by_id = trader.signed("GET", "order", ref).json()
    by_client_id = trader.signed("GET", "openOrder", {"symbol": "BTCUSDT", "origClientOrderId": "desk-1"})
    cancelled = trader.signed("DELETE", "order", ref, where="body")
    again = trader.signed("DELETE", "order", ref)
    after = trader.signed("GET", "order", ref).json()
    no_longer_open = trader.signed("GET", "openOrder", ref)
    no_reference = trader.signed("GET", "order", {"symbol": "BTCUSDT"})
    other_symbol = trader.signed("GET", "order", {**ref, "symbol": "ETHUSDT"})

    # A query carries `time` and no `cumQty`; the answer to a new or cancelled order is the other way round.
    assert "cumQty" in placed and "time" not in placed
    assert by_id["orderId"] == placed["orderId"] and "time" in by_id and "cumQty" not in by_id
    assert by_client_id.json()["clientOrderId"] == "desk-1"
    assert (
        cancelled.status_code == 200
        and cancelled.json()["status"] == "CANCELED"
        and "cumQty" in cancelled.json()
    )
    assert again.json() == {"code": -2011, "msg": "Unknown order sent."}
    assert after["status"] == "CANCELED" and after["updateTime"] >= after["time"]
    assert no_longer_open.json() == {"code": -2013, "msg": "Order does not exist."}
    assert no_reference.json() == {
        "code": -1102,
        "msg": "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    }
    assert other_symbol.json()["code"] == -2013


def test_it_keeps_orders_cancelled_by_a_countdown_queryable(simulator, trader):
    order_id = trader.signed("POST", "order", _limit()).json()["orderId"]
    trader.countdown("BTCUSDT", 50)

    assert wait_until(simulator.exchange.cancellations)
    assert (
        trader.signed("GET", "order", {"symbol": "BTCUSDT", "orderId": order_id}).json()["status"]
        == "CANCELED"
    )


def test_it_checks_new_orders_against_the_symbols_filters(simulator, trader):
    def code(**params):
        return trader.signed("POST", "order", _limit(**params)).json().get("code")

    assert code(price="50000.123") == -1111  # BTCUSDT: 2 price decimals
    assert code(quantity="0.0001") == -1111  # and 3 quantity decimals
    assert code(quantity="0") == -4003
    assert code(quantity="2000000") == -4005
    assert code(price="0") == -4013
    assert code(price="2000000") == -4002
    assert code(quantity="0.001", price="100") == -4164  # notional 0.1 USDT < 5
    assert code(symbol="BTCUSD_PERP", quantity="1.5") == -1121  # a COIN-M symbol on /fapi
    assert code(type="STOP") == -4120  # conditional orders live on the algo-order endpoints
    assert code(newClientOrderId="has space") == -1100
    assert code(newClientOrderId="x" * 37) == -4015
    assert code(newClientOrderId="dup") is None
    assert code(newClientOrderId="dup") == -4116  # unique among open orders
    coinm = trader.signed("POST", "order", _limit("BTCUSD_PERP", quantity="1.5"), venue="dapi").json()
    assert coinm["code"] == -1111  # COIN-M quantities are whole contracts
    assert [o["clientOrderId"] for o in simulator.exchange.open_orders(trader.api_key)] == ["dup"]


def test_it_echoes_prices_and_quantities_in_the_scale_they_were_sent(simulator, trader):
    order = trader.signed("POST", "order", _limit("ETHUSDT", quantity="0.500", price="03000.10")).json()
    via_control = simulator.exchange.place_order(trader.api_key, "BTCUSDT", price="4.8E+4", quantity="1.0")

    assert (order["price"], order["origQty"], order["avgPrice"]) == ("3000.10", "0.500", "0.00000")
    assert (via_control["price"], via_control["origQty"]) == ("48000", "1.0")


def test_it_counts_an_accounts_orders_in_the_order_count_headers(simulator, trader):
    first = trader.signed("POST", "order", _limit())
    second = trader.signed("POST", "order", _limit(price="49000"))
    listed = trader.signed("GET", "openOrders", {"symbol": "BTCUSDT"})

    assert (first.headers["X-MBX-ORDER-COUNT-10S"], first.headers["X-MBX-ORDER-COUNT-1M"]) == ("1", "1")
    assert (second.headers["X-MBX-ORDER-COUNT-10S"], second.headers["X-MBX-ORDER-COUNT-1M"]) == ("2", "2")
    assert "X-MBX-ORDER-COUNT-1M" not in listed.headers
