"""COIN-M conditional orders, both ways Binance has them: plain orders on /dapi/v1/order today, and in an
Algo Service (/dapi/v1/algoOrder) once they move there as announced (the `coinm_algo_service` switch)."""

import pytest
import requests

from simulator import Simulator, cli

from .conftest import wait_until

SYMBOL = "BTCUSD_PERP"
CANCEL_ALL_ACK = {"code": 200, "msg": "The operation of cancel all open order is done."}
ALGO_PATHS = [("POST", "algoOrder"), ("GET", "algoOrder"), ("DELETE", "algoOrder")] + [
    ("GET", "openAlgoOrders"),
    ("DELETE", "algoOpenOrders"),
]


def _order(trader, order_type, **params):
    sent = {"symbol": SYMBOL, "side": "SELL", "type": order_type, "quantity": "1", **params}
    sent = {k: v for k, v in sent.items() if v is not None}
    return trader.signed("POST", "order", sent, where="body", venue="dapi")


def _conditional_orders(trader) -> dict[str, dict]:
    """One of each conditional type, placed on /dapi/v1/order; by type."""
    placed = [
        _order(trader, "STOP_MARKET", stopPrice="40000"),
        _order(trader, "TAKE_PROFIT_MARKET", stopPrice="90000", quantity=None, closePosition="true"),
        _order(trader, "STOP", price="39990.5", stopPrice="40000"),
        _order(trader, "TAKE_PROFIT", price="90000", stopPrice="89990", timeInForce="GTC"),
        _order(trader, "TRAILING_STOP_MARKET", callbackRate="1.5", activationPrice="70000"),
    ]
    assert all(r.status_code == 200 for r in placed), [r.text for r in placed]
    return {r.json()["type"]: r.json() for r in placed}


def _switch(simulator, on: bool) -> dict:
    response = requests.post(f"{simulator.url}/_sim/options", json={"coinm_algo_service": on}, timeout=5)
    assert response.status_code == 200
    return response.json()


def _open_ids(trader) -> list[int]:
    return [o["orderId"] for o in trader.signed("GET", "openOrders", {"symbol": SYMBOL}, venue="dapi").json()]


def test_it_takes_coin_margined_conditional_orders_as_plain_orders_by_default(simulator, trader):
    assert simulator.exchange.coinm_algo_service is False

    placed = _conditional_orders(trader)

    stop = placed["STOP_MARKET"]
    assert (stop["status"], stop["stopPrice"], stop["price"], stop["origQty"]) == ("NEW", "40000", "0", "1")
    assert placed["STOP"]["price"] == "39990.5" and placed["TAKE_PROFIT"]["stopPrice"] == "89990"
    close_all = placed["TAKE_PROFIT_MARKET"]
    assert close_all["closePosition"] is True and close_all["origQty"] == "0"
    trailing = placed["TRAILING_STOP_MARKET"]
    assert (trailing["priceRate"], trailing["activatePrice"]) == ("1.5", "70000")
    assert sorted(_open_ids(trader)) == sorted(o["orderId"] for o in placed.values())
    queried = trader.signed("GET", "order", {"symbol": SYMBOL, "orderId": stop["orderId"]}, venue="dapi")
    assert queried.json()["type"] == "STOP_MARKET" and queried.json()["time"] >= stop["updateTime"]
    for method, path in ALGO_PATHS:  # no Algo Service on COIN-M yet: Binance does not know these paths
        response = trader.signed(method, path, {"symbol": SYMBOL, "algoId": 1}, venue="dapi")
        assert response.status_code == 404, (method, path)

    cancelled = trader.signed("DELETE", "allOpenOrders", {"symbol": SYMBOL}, venue="dapi")

    assert cancelled.json() == CANCEL_ALL_ACK
    assert _open_ids(trader) == []


@pytest.mark.parametrize(
    ("order_type", "params", "code"),
    [
        ("STOP_MARKET", {}, -1102),  # stopPrice is mandatory
        ("STOP", {"stopPrice": "40000"}, -1102),  # and so is a STOP's price
        ("TRAILING_STOP_MARKET", {}, -1102),  # callbackRate
        ("STOP_MARKET", {"stopPrice": "40000.05"}, -1111),  # BTCUSD_PERP: one price decimal
        ("STOP", {"stopPrice": "40000", "price": "40000", "closePosition": "true"}, -1106),
        ("STOP_MARKET", {"stopPrice": "40000", "closePosition": "true"}, -1106),  # not with quantity
        (
            "STOP_MARKET",
            {"stopPrice": "40000", "quantity": None, "closePosition": "true"} | {"reduceOnly": "true"},
            -1106,
        ),
        ("OCO", {"stopPrice": "40000"}, -1116),
    ],
)
def test_it_checks_coin_margined_conditional_orders(simulator, trader, order_type, params, code):
    response = _order(trader, order_type, **params)

    assert response.status_code == 400 and response.json()["code"] == code
    assert simulator.exchange.open_orders(trader.api_key) == []


def test_a_countdown_expiry_cancels_plain_conditional_orders_with_the_others(simulator, trader):
    placed = _conditional_orders(trader)
    via_control = simulator.exchange.place_order(
        trader.api_key, SYMBOL, "SELL", "500", order_type="STOP", stop_price="510"
    )
    assert via_control["status"] == "NEW" and via_control["price"] == "500"
    placed["via control"] = via_control
    limit = simulator.exchange.place_order(trader.api_key, SYMBOL, price="50000")

    assert trader.countdown(SYMBOL, 50).status_code == 200
    [fired] = wait_until(simulator.exchange.cancellations, timeout=2)

    assert sorted(fired["order_ids"]) == sorted([limit["orderId"], *(o["orderId"] for o in placed.values())])
    assert fired["algo_ids"] == [] and _open_ids(trader) == []


def test_after_the_migration_conditional_orders_live_in_coin_margined_algo_orders(simulator, trader):
    before = _conditional_orders(trader)  # placed the day before: still plain orders
    assert _switch(simulator, True)["coinm_algo_service"] is True

    refused = _order(trader, "STOP_MARKET", stopPrice="40000")
    assert refused.status_code == 400 and refused.json()["code"] == -4120  # as USDⓈ-M answers
    params = {"algoType": "CONDITIONAL", "symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET"}
    placed = trader.signed(
        "POST", "algoOrder", params | {"quantity": "1", "triggerPrice": "40000"}, where="body", venue="dapi"
    ).json()
    usdm = simulator.exchange.place_algo_order(trader.api_key, "BTCUSDT", quantity="0.01")

    assert placed["symbol"] == SYMBOL and placed["algoStatus"] == "NEW"
    listed = trader.signed("GET", "openAlgoOrders", {}, venue="dapi").json()
    assert [o["algoId"] for o in listed] == [placed["algoId"]]  # each venue sees its own
    assert trader.signed("GET", "algoOrder", {"algoId": usdm["algoId"]}, venue="dapi").status_code == 400
    assert sorted(_open_ids(trader)) == sorted(o["orderId"] for o in before.values())

    cancelled = trader.signed("DELETE", "algoOpenOrders", {"symbol": SYMBOL}, venue="dapi")

    assert cancelled.json() == CANCEL_ALL_ACK
    assert simulator.exchange.open_algo_orders(trader.api_key) == [
        simulator.exchange.open_algo_orders(trader.api_key, "BTCUSDT")[0]
    ]
    assert len(_open_ids(trader)) == len(before)  # the plain ones are allOpenOrders' to cancel

    _switch(simulator, False)  # and back: the paths are unknown again
    assert trader.signed("GET", "openAlgoOrders", {}, venue="dapi").status_code == 404


@pytest.mark.parametrize("expiry_cancels", [False, True])
def test_a_countdown_expiry_treats_coin_margined_algo_orders_like_usdm_ones(
    simulator, trader, expiry_cancels
):
    _switch(simulator, True)
    simulator.exchange.set_expiry_cancels_algo_orders(expiry_cancels)
    algo = simulator.exchange.place_algo_order(trader.api_key, SYMBOL, quantity="1", trigger_price="40000")

    assert trader.countdown(SYMBOL, 50).status_code == 200
    [fired] = wait_until(simulator.exchange.cancellations, timeout=2)

    assert fired["algo_ids"] == ([algo["algoId"]] if expiry_cancels else [])
    assert len(simulator.exchange.open_algo_orders(trader.api_key)) == (0 if expiry_cancels else 1)


def test_it_takes_the_coinm_switch_from_the_constructor_the_command_line_and_back_on_reset(simulator):
    parser = cli.argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args([]).coinm_algo_service is False
    assert parser.parse_args(["--coinm-algo-service"]).coinm_algo_service is True
    with pytest.raises(ValueError, match="Algo Service"):
        simulator.exchange.place_algo_order("any", SYMBOL)
    with pytest.raises(ValueError, match="Algo Service"):  # set-up refuses what Binance would
        simulator.exchange.place_order("any", "BTCUSDT", order_type="STOP_MARKET", stop_price="500")

    with Simulator(coinm_algo_service=True) as sim:
        assert requests.get(f"{sim.url}/_sim/options", timeout=5).json()["coinm_algo_service"] is True
        sim.exchange.set_coinm_algo_service(False)
        assert sim.exchange.state()["coinm_algo_service"] is False
        sim.exchange.reset()
        assert sim.exchange.coinm_algo_service is True
