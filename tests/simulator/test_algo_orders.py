"""The Algo Service (USDⓈ-M conditional orders since 2025-12-09): its own endpoints, ids and statuses, apart
from plain orders, and a countdown expiry that cancels its orders only when the simulator is told to."""

import pytest
import requests

from simulator import Simulator, cli

from .conftest import Trader, start_of_next_minute_skew, wait_until

CANCEL_ALL_ACK = {"code": 200, "msg": "The operation of cancel all open order is done."}


def _stop(symbol="BTCUSDT", **params):
    return {
        "algoType": "CONDITIONAL",
        "symbol": symbol,
        "side": "SELL",
        "type": "STOP_MARKET",
        "quantity": "0.01",
        "triggerPrice": "40000",
        **params,
    }


def _place(trader, **params) -> dict:
    response = trader.signed("POST", "algoOrder", _stop(**params), where="body")
    assert response.status_code == 200, response.text
    return response.json()


def _open_algo_ids(trader, **params) -> list[int]:
    return [o["algoId"] for o in trader.signed("GET", "openAlgoOrders", params).json()]


def _code(response) -> int | None:
    return response.json().get("code") if response.status_code != 200 else None


def test_it_places_queries_and_cancels_an_algo_order(simulator, trader):
    placed = _place(trader, clientAlgoId="sl-1")

    assert placed["algoId"] >= 2_000_000_000_000_001  # its own id space, far from order ids
    assert (placed["algoType"], placed["orderType"], placed["algoStatus"]) == (
        "CONDITIONAL",
        "STOP_MARKET",
        "NEW",
    )
    # Echoed in the symbol's precision (BTCUSDT: 2 price, 3 quantity decimals), as Binance's examples show.
    assert (placed["quantity"], placed["triggerPrice"], placed["price"]) == ("0.010", "40000.00", "0.00")
    assert "actualOrderId" not in placed  # the short answer to a new algo order
    by_id = trader.signed("GET", "algoOrder", {"algoId": placed["algoId"]}).json()
    by_client_id = trader.signed("GET", "algoOrder", {"clientAlgoId": "sl-1"}).json()
    assert by_id == by_client_id
    assert by_id["actualOrderId"] == "" and by_id["clientAlgoId"] == "sl-1"

    cancelled = trader.signed("DELETE", "algoOrder", {"clientAlgoId": "sl-1"})

    assert cancelled.json() == {
        "algoId": placed["algoId"],
        "clientAlgoId": "sl-1",
        "code": "200",
        "msg": "success",
    }
    after = trader.signed("GET", "algoOrder", {"algoId": placed["algoId"]}).json()
    assert after["algoStatus"] == "CANCELED" and after["updateTime"] >= placed["updateTime"]
    assert _code(trader.signed("DELETE", "algoOrder", {"algoId": placed["algoId"]})) == -2011
    assert _open_algo_ids(trader) == []


def test_it_keeps_algo_orders_off_the_plain_order_endpoints(simulator, trader):
    plain = simulator.exchange.place_order(trader.api_key, "BTCUSDT", price="50000")
    algo = _place(trader)

    assert [o["orderId"] for o in trader.signed("GET", "openOrders", {}).json()] == [plain["orderId"]]
    assert _open_algo_ids(trader) == [algo["algoId"]]
    as_order = trader.signed("GET", "order", {"symbol": "BTCUSDT", "orderId": algo["algoId"]})
    assert _code(as_order) == -2013

    assert trader.signed("DELETE", "allOpenOrders", {"symbol": "BTCUSDT"}).json() == CANCEL_ALL_ACK

    assert trader.signed("GET", "openOrders", {}).json() == []
    assert _open_algo_ids(trader, symbol="BTCUSDT") == [algo["algoId"]]  # the stop-loss survived


def test_it_cancels_all_algo_orders_of_one_symbol_only(simulator, trader):
    btc = [
        _place(trader)["algoId"],
        _place(trader, type="TAKE_PROFIT_MARKET", triggerPrice="60000")["algoId"],
    ]
    eth = _place(trader, symbol="ETHUSDT", triggerPrice="2000")["algoId"]
    plain = simulator.exchange.place_order(trader.api_key, "BTCUSDT", price="50000")

    response = trader.signed("DELETE", "algoOpenOrders", {"symbol": "BTCUSDT"})

    assert response.json() == CANCEL_ALL_ACK
    assert _open_algo_ids(trader) == [eth]
    assert [o["orderId"] for o in trader.signed("GET", "openOrders", {}).json()] == [plain["orderId"]]
    statuses = [trader.signed("GET", "algoOrder", {"algoId": i}).json()["algoStatus"] for i in btc]
    assert statuses == ["CANCELED", "CANCELED"]
    # Nothing left to cancel is not an error.
    assert trader.signed("DELETE", "algoOpenOrders", {"symbol": "BTCUSDT"}).json() == CANCEL_ALL_ACK


def test_it_lists_algo_orders_by_symbol_and_id(simulator, trader):
    first, second = _place(trader)["algoId"], _place(trader)["algoId"]
    eth = _place(trader, symbol="ETHUSDT", triggerPrice="2000")["algoId"]

    assert sorted(_open_algo_ids(trader)) == sorted([first, second, eth])
    assert _open_algo_ids(trader, symbol="BTCUSDT") == [first, second]
    assert _open_algo_ids(trader, algoId=second) == [second]
    assert _open_algo_ids(trader, algoType="CONDITIONAL", symbol="ETHUSDT") == [eth]


def test_it_holds_every_conditional_type_with_what_it_needs(simulator, trader):
    stop = _place(trader, type="STOP", price="39990.5", timeInForce="GTX")
    take_profit = _place(trader, type="TAKE_PROFIT", side="BUY", triggerPrice="30000", price="30000")
    trailing = trader.signed(
        "POST",
        "algoOrder",
        {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "TRAILING_STOP_MARKET"}
        | {"quantity": "0.01", "callbackRate": "1.5", "activatePrice": "45000"},
    ).json()
    close_all = trader.signed(
        "POST", "algoOrder", _stop(type="TAKE_PROFIT_MARKET", quantity="", closePosition="true")
    ).json()
    tiny_reduce_only = _place(trader, quantity="0.001", triggerPrice="100", reduceOnly="true")

    assert (stop["price"], stop["triggerPrice"], stop["timeInForce"]) == ("39990.50", "40000.00", "GTX")
    assert take_profit["side"] == "BUY" and take_profit["orderType"] == "TAKE_PROFIT"
    assert (trailing["callbackRate"], trailing["activatePrice"], trailing["triggerPrice"]) == (
        "1.5",
        "45000.00",
        "0.00",
    )
    assert close_all["closePosition"] is True and close_all["quantity"] == "0.000"
    assert tiny_reduce_only["reduceOnly"] is True  # below the 5 USDT notional, allowed as reduce-only
    assert len(_open_algo_ids(trader)) == 5


def test_it_refuses_conditional_types_on_the_plain_order_endpoint(simulator, trader):
    response = trader.signed(
        "POST",
        "order",
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "quantity": "0.01",
            "stopPrice": "40000",
        },
    )

    assert response.status_code == 400
    assert response.json()["code"] == -4120 and "Algo Order API" in response.json()["msg"]
    assert _open_algo_ids(trader) == [] and simulator.exchange.open_orders(trader.api_key) == []


def test_it_answers_bad_algo_requests_with_binances_codes(simulator, trader):
    def new(**params):
        return _code(trader.signed("POST", "algoOrder", _stop(**params)))

    assert new(symbol="NOPEUSDT") == -1121
    assert new(symbol="BTCUSD_PERP") == -1121  # a COIN-M symbol on /fapi
    assert new(symbol="LUNAUSDT") == -1122  # not trading
    assert new(algoType="") == -1102
    assert new(algoType="VP") == -1116
    assert new(side="UP") == -1117
    assert new(type="LIMIT") == -1116
    assert new(timeInForce="DAY") == -1115
    assert new(triggerPrice="") == -1102
    assert new(type="STOP") == -1102  # STOP needs a limit price
    assert new(type="TRAILING_STOP_MARKET") == -1102  # and a trailing stop its callbackRate
    assert new(quantity="") == -1102
    assert new(quantity="", closePosition="true", reduceOnly="true") == -1106
    assert new(closePosition="true") == -1106  # with a quantity
    assert new(type="STOP", price="40000", quantity="", closePosition="true") == -1106
    assert new(triggerPrice="40000.001") == -1111
    assert new(triggerPrice="0") == -4013
    assert new(type="STOP", price="40000", triggerPrice="2000000") == -4002  # the trigger is checked too
    assert new(quantity="0.001", triggerPrice="100") == -4164  # notional 0.1 USDT
    assert new(clientAlgoId="has space") == -1100
    assert new(clientAlgoId="x" * 37) == -4015
    assert new(clientAlgoId="dup") is None
    assert new(clientAlgoId="dup") == -4116  # unique among open algo orders
    bad_id = trader.signed("POST", "algoOrder", _stop(clientAlgoId="a b")).json()
    assert "'clientAlgoId'" in bad_id["msg"]

    assert _code(trader.signed("GET", "algoOrder", {"algoId": 5})) == -2013
    assert _code(trader.signed("GET", "algoOrder", {"algoId": "five"})) == -1100
    assert _code(trader.signed("DELETE", "algoOrder", {"clientAlgoId": "nobody"})) == -2011
    neither = trader.signed("DELETE", "algoOrder", {})
    assert neither.json() == {
        "code": -1102,
        "msg": "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!",
    }
    assert _code(trader.signed("DELETE", "algoOpenOrders", {})) == -1102  # symbol is mandatory
    assert _code(trader.signed("DELETE", "algoOpenOrders", {"symbol": "NOPEUSDT"})) == -1121
    assert _code(trader.signed("GET", "openAlgoOrders", {"symbol": "NOPEUSDT"})) == -1121
    assert len(_open_algo_ids(trader)) == 1


def test_it_has_no_algo_service_on_coin_margined_futures_by_default(simulator, trader):
    for method, path in [("POST", "algoOrder"), ("GET", "openAlgoOrders"), ("DELETE", "algoOpenOrders")]:
        response = trader.signed(method, path, _stop("BTCUSD_PERP"), venue="dapi")
        assert response.status_code == 404


def test_it_asks_for_trade_permission_to_change_but_not_to_read(simulator):
    reader = Trader(simulator).register(trade=False)

    assert _code(reader.signed("POST", "algoOrder", _stop())) == -2015
    assert _code(reader.signed("DELETE", "algoOpenOrders", {"symbol": "BTCUSDT"})) == -2015
    assert reader.signed("GET", "openAlgoOrders", {}).json() == []


def _on_server_time(sim, trader):
    """Signed requests for a simulator whose clock was skewed: timestamps from its clock, not ours."""
    return lambda *args: trader.signed(*args, timestamp=sim.exchange.server_time_ms())


def test_it_charges_binances_weights_and_counts_new_algo_orders_as_orders(simulator, trader):
    simulator.exchange.set_skew(start_of_next_minute_skew())  # no minute boundary inside the test
    signed = _on_server_time(simulator, trader)

    def used(response) -> int:
        return int(response.headers["X-MBX-USED-WEIGHT-1M"])

    placed = signed("POST", "algoOrder", _stop())
    plain = signed(
        "POST",
        "order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        | {"quantity": "0.01", "price": "50000"},
    )
    steps = [
        signed("GET", "algoOrder", {"algoId": placed.json()["algoId"]}),
        signed("GET", "openAlgoOrders", {"symbol": "BTCUSDT"}),
        signed("GET", "openAlgoOrders", {}),
        signed("DELETE", "algoOrder", {"algoId": placed.json()["algoId"]}),
        signed("DELETE", "algoOpenOrders", {"symbol": "BTCUSDT"}),
    ]

    assert used(placed) == 0 and used(plain) == 0  # new orders weigh nothing against the IP limit
    assert [used(r) for r in steps] == [1, 2, 42, 43, 44]
    # They count against the account's order rate, together with plain orders.
    assert (placed.headers["X-MBX-ORDER-COUNT-10S"], placed.headers["X-MBX-ORDER-COUNT-1M"]) == ("1", "1")
    assert plain.headers["X-MBX-ORDER-COUNT-1M"] == "2"
    assert "X-MBX-ORDER-COUNT-1M" not in steps[1].headers


def test_it_refuses_algo_requests_over_the_weight_limit():
    with Simulator(weight_limit=30, ban_after=0, ban_seconds=60) as sim:
        sim.exchange.set_skew(start_of_next_minute_skew())
        signed = _on_server_time(sim, Trader(sim).register())

        limited = signed("GET", "openAlgoOrders", {})  # 40 > 30
        banned = signed("GET", "openAlgoOrders", {})  # ban_after=0: the next refusal bans
        after_ban = signed("DELETE", "algoOpenOrders", {"symbol": "BTCUSDT"})

        assert (limited.status_code, limited.json()["code"]) == (429, -1003)
        assert (banned.status_code, after_ban.status_code) == (418, 418)


def test_it_applies_faults_to_the_algo_paths(simulator, trader):
    simulator.exchange.inject("/fapi/v1/algoOpenOrders", kind="unknown", apply=True)
    _place(trader)

    response = trader.signed("DELETE", "algoOpenOrders", {"symbol": "BTCUSDT"})

    assert (response.status_code, response.json()["code"]) == (503, -1006)
    assert _open_algo_ids(trader) == []  # applied, answer lost


# Countdown expiry ------------------------------------------------------------------------------------------


def _arm_and_wait_for_expiry(simulator, trader):
    """Places a plain order and a stop-loss on BTCUSDT and a stop-loss on ETHUSDT, lets a 50 ms countdown
    on BTCUSDT run out, and returns its cancellation record with the algo orders."""
    plain = simulator.exchange.place_order(trader.api_key, "BTCUSDT", price="50000")["orderId"]
    btc = simulator.exchange.place_algo_order(
        trader.api_key, "BTCUSDT", quantity="0.01", trigger_price="40000"
    )
    eth = simulator.exchange.place_algo_order(trader.api_key, "ETHUSDT", quantity="0.1", trigger_price="2000")
    assert trader.countdown("BTCUSDT", 50).status_code == 200
    [fired] = wait_until(simulator.exchange.cancellations, timeout=2)
    assert fired["order_ids"] == [plain]
    return fired, btc["algoId"], eth["algoId"]


def test_it_leaves_algo_orders_when_a_countdown_runs_out_by_default(simulator, trader):
    assert simulator.exchange.expiry_cancels_algo_orders is False

    fired, btc, eth = _arm_and_wait_for_expiry(simulator, trader)

    assert fired["algo_ids"] == []
    assert simulator.exchange.open_orders(trader.api_key) == []
    assert sorted(_open_algo_ids(trader)) == sorted([btc, eth])


def test_it_cancels_the_symbols_algo_orders_on_expiry_when_switched_on(simulator, trader):
    switched = requests.post(
        f"{simulator.url}/_sim/options", json={"expiry_cancels_algo_orders": True}, timeout=5
    )
    assert switched.json() == {
        "expiry_cancels_algo_orders": True,
        "coinm_algo_service": False,
        "options_check_interval": 1.0,
    }

    fired, btc, eth = _arm_and_wait_for_expiry(simulator, trader)

    assert fired["algo_ids"] == [btc]
    assert _open_algo_ids(trader) == [eth]  # another symbol's countdown, untouched
    # "Canceled by the system" is EXPIRED in Binance's algo statuses.
    assert trader.signed("GET", "algoOrder", {"algoId": btc}).json()["algoStatus"] == "EXPIRED"


def test_it_takes_the_expiry_switch_from_the_constructor_the_command_line_and_back_on_reset():
    parser = cli.argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args([]).expiry_cancels_algo_orders is False
    assert parser.parse_args(["--expiry-cancels-algo-orders"]).expiry_cancels_algo_orders is True

    with Simulator(expiry_cancels_algo_orders=True) as sim:
        assert requests.get(f"{sim.url}/_sim/options", timeout=5).json() == {
            "expiry_cancels_algo_orders": True,
            "coinm_algo_service": False,
            "options_check_interval": 1.0,
        }
        sim.exchange.set_expiry_cancels_algo_orders(False)
        assert sim.exchange.state()["expiry_cancels_algo_orders"] is False
        sim.exchange.reset()
        assert sim.exchange.expiry_cancels_algo_orders is True


# Control interface -----------------------------------------------------------------------------------------


def test_it_places_and_lists_algo_orders_through_the_control_interface(simulator, trader):
    url = f"{simulator.url}/_sim/algo_orders"
    placed = requests.post(
        url, json={"api_key": trader.api_key, "symbol": "ETHUSDT", "triggerPrice": "2500", "reduceOnly": True}
    )
    trailing = requests.post(
        url,
        json={
            "api_key": trader.api_key,
            "symbol": "BTCUSDT",
            "type": "TRAILING_STOP_MARKET",
            "callbackRate": 1,
        },
    )

    assert placed.status_code == 201 and trailing.status_code == 201
    assert (placed.json()["orderType"], placed.json()["side"], placed.json()["reduceOnly"]) == (
        "STOP_MARKET",
        "SELL",
        True,
    )
    listed = requests.get(url, params={"api_key": trader.api_key, "symbol": "ETHUSDT"}, timeout=5).json()
    assert listed == trader.signed("GET", "openAlgoOrders", {"symbol": "ETHUSDT"}).json()
    state = requests.get(f"{simulator.url}/_sim/state", timeout=5).json()
    assert {o["algoId"] for o in state["algo_orders"]} == {placed.json()["algoId"], trailing.json()["algoId"]}
    assert state["open_orders"] == []

    requests.post(f"{simulator.url}/_sim/reset", json={"keep_accounts": True}, timeout=5)
    assert requests.get(url, params={"api_key": trader.api_key}, timeout=5).json() == []


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"symbol": "BTCUSDT", "type": "LIMIT"}, 400),
        ({"symbol": "BTCUSD_PERP"}, 400),
        ({"symbol": "BTCUSDT", "type": "STOP"}, 400),  # no price
        ({"symbol": "BTCUSDT", "type": "TRAILING_STOP_MARKET"}, 400),  # no callbackRate
        ({"symbol": "BTCUSDT", "triggerPrice": "-1"}, 400),
        ({"symbol": "BTCUSDT", "api_key": "nobody"}, 404),
    ],
)
def test_it_explains_bad_control_algo_orders(simulator, trader, payload, status):
    response = requests.post(
        f"{simulator.url}/_sim/algo_orders", json={"api_key": trader.api_key, **payload}, timeout=5
    )
    assert response.status_code == status and "error" in response.json()


def test_it_refuses_unknown_control_options(simulator):
    response = requests.post(f"{simulator.url}/_sim/options", json={"expiry_cancels": True}, timeout=5)
    assert response.status_code == 400
    assert simulator.exchange.expiry_cancels_algo_orders is False
