"""The order endpoints a kill switch and an "orders at stake" view need, plain and algo (conditional), against
the simulator: paths, signing, answers, weight recording and the error tree."""

import time

import pytest

from heartbeats.exchange.errors import FatalError, OutcomeUnknownError, RateLimitedError, TemporaryError

CANCEL_ALL_ACK = {"code": 200, "msg": "The operation of cancel all open order is done."}


@pytest.mark.parametrize("key", ["hmac", "ed25519", "rsa"])
def test_it_places_lists_and_cancels_algo_orders_with_every_key_type(simulator, make_client, key):
    client = make_client(key)
    stop = client.place_algo_order("BTCUSDT", "SELL", "STOP_MARKET", "0.010", "40000", clientAlgoId="sl")
    client.place_algo_order("ETHUSDT", "SELL", "STOP", 1, 2000, 1999.5)

    assert (stop["clientAlgoId"], stop["algoStatus"], stop["triggerPrice"]) == ("sl", "NEW", "40000.00")
    assert [o["algoId"] for o in client.open_algo_orders("BTCUSDT")] == [stop["algoId"]]
    assert {o["symbol"] for o in client.open_algo_orders()} == {"BTCUSDT", "ETHUSDT"}

    assert client.cancel_all_algo_open_orders("BTCUSDT") == CANCEL_ALL_ACK

    assert [o["symbol"] for o in client.open_algo_orders()] == ["ETHUSDT"]
    paths = [
        (e["method"], e["path"]) for e in simulator.exchange.requests_log() if e["path"] != "/fapi/v1/time"
    ]
    assert paths == [
        ("POST", "/fapi/v1/algoOrder"),
        ("POST", "/fapi/v1/algoOrder"),
        ("GET", "/fapi/v1/openAlgoOrders"),
        ("GET", "/fapi/v1/openAlgoOrders"),
        ("DELETE", "/fapi/v1/algoOpenOrders"),
        ("GET", "/fapi/v1/openAlgoOrders"),
    ]


def test_it_needs_both_cancel_alls_to_clear_a_symbol(simulator, make_client):
    """What the kill switch relies on: each cancel-all clears only its own kind of order."""
    client = make_client()
    client.place_order("BTCUSDT", "BUY", "0.010", "30000")
    client.place_algo_order("BTCUSDT", "SELL", "STOP_MARKET", "0.010", "25000")

    assert client.cancel_all_open_orders("BTCUSDT") == CANCEL_ALL_ACK
    assert client.open_orders("BTCUSDT") == [] and len(client.open_algo_orders("BTCUSDT")) == 1

    client.place_order("BTCUSDT", "BUY", "0.010", "30000")
    client.cancel_all_algo_open_orders("BTCUSDT")
    assert len(client.open_orders("BTCUSDT")) == 1 and client.open_algo_orders("BTCUSDT") == []


def test_it_sends_extra_parameters_as_binance_spells_them(simulator, make_client):
    client = make_client()
    # Below the 5 USDT notional: accepted only if reduceOnly arrived as "true".
    reduce_only = client.place_algo_order("BTCUSDT", "SELL", "STOP_MARKET", "0.001", "100", reduceOnly=True)
    close_all = client.place_algo_order(
        "BTCUSDT", "SELL", "TAKE_PROFIT_MARKET", None, "60000", closePosition=True
    )
    trailing = client.place_algo_order(
        "BTCUSDT", "SELL", "TRAILING_STOP_MARKET", "0.01", None, callbackRate=2
    )

    assert reduce_only["reduceOnly"] is True
    assert close_all["closePosition"] is True
    assert trailing["callbackRate"] == "2" and trailing["triggerPrice"] == "0.00"


def test_it_records_the_weight_of_every_algo_call(simulator, make_client):
    # The exchange's clock 1 s into a fresh minute, so the weight window does not roll mid-test.
    now_ms = int(time.time() * 1000)
    simulator.exchange.set_skew((now_ms // 60_000 + 1) * 60_000 + 1_000 - now_ms)
    client = make_client()
    client.open_algo_orders("BTCUSDT")
    before = client.used_weight

    client.open_algo_orders()  # 40 without a symbol, as on Binance

    assert client.used_weight == before + 40 == simulator.exchange.used_weight()


def test_it_classifies_algo_failures_like_every_other_call(simulator, make_client):
    client = make_client()
    client.sync_time()

    with pytest.raises(FatalError) as bad_symbol:
        client.open_algo_orders("NOPEUSDT")
    assert (bad_symbol.value.code, bad_symbol.value.endpoint) == (-1121, "GET /fapi/v1/openAlgoOrders")

    with pytest.raises(FatalError) as not_algo:  # a conditional order sent to the plain endpoint
        client.place_order("BTCUSDT", "SELL", "0.010", order_type="STOP_MARKET", stopPrice="40000")
    assert not_algo.value.code == -4120

    simulator.exchange.inject("/fapi/v1/algoOpenOrders", kind="unknown")
    with pytest.raises(OutcomeUnknownError):  # a DELETE may have been applied
        client.cancel_all_algo_open_orders("BTCUSDT")

    simulator.exchange.inject("/fapi/v1/openAlgoOrders", kind="unknown")
    with pytest.raises(TemporaryError):  # a read changed nothing
        client.open_algo_orders("BTCUSDT")

    simulator.exchange.inject("/fapi/v1/openAlgoOrders", kind="rate_limited", retry_after=7)
    with pytest.raises(RateLimitedError) as limited:
        client.open_algo_orders()
    assert limited.value.retry_after == 7


@pytest.mark.parametrize("body", [{}, [], {"code": 400, "msg": "no"}])
def test_it_treats_an_unacknowledged_algo_cancel_all_as_unknown(simulator, make_client, body):
    client = make_client()
    simulator.exchange.inject("/fapi/v1/algoOpenOrders", status=200, body=body)

    with pytest.raises(OutcomeUnknownError) as caught:
        client.cancel_all_algo_open_orders("BTCUSDT")

    assert caught.value.http_status == 200 and caught.value.endpoint == "DELETE /fapi/v1/algoOpenOrders"


def test_it_rejects_an_unexpected_open_algo_orders_answer(simulator, make_client):
    client = make_client()
    simulator.exchange.inject("/fapi/v1/openAlgoOrders", status=200, body={"orders": []})

    with pytest.raises(TemporaryError, match="openAlgoOrders"):
        client.open_algo_orders("BTCUSDT")


def test_it_knows_coin_margined_futures_have_no_algo_orders(simulator, make_client):
    usdm, coinm = make_client(), make_client(venue="coinm")

    assert usdm.has_algo_service and not coinm.has_algo_service
    for call in (
        lambda: coinm.open_algo_orders(),
        lambda: coinm.cancel_all_algo_open_orders("BTCUSD_PERP"),
        lambda: coinm.place_algo_order("BTCUSD_PERP", "SELL", "STOP_MARKET", 1, 40000),
    ):
        with pytest.raises(ValueError, match="COIN-M"):
            call()
    assert simulator.exchange.requests_log() == []  # refused before anything was sent


def test_it_checks_symbols_before_sending(simulator, make_client):
    client = make_client()
    with pytest.raises(ValueError):
        client.cancel_all_algo_open_orders("btc/usdt")
    with pytest.raises(ValueError):
        client.open_algo_orders("")
    assert simulator.exchange.requests_log() == []
