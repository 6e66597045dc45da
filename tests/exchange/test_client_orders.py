"""The order endpoints a kill switch and an "orders at stake" view need, plain and algo (conditional), against
the simulator: paths, signing, answers, weight recording and the error tree."""

import time

import pytest

from heartbeats.exchange import client as client_module
from heartbeats.exchange.client import has_algo_service
from heartbeats.exchange.errors import (
    FatalError,
    NoAlgoServiceError,
    OutcomeUnknownError,
    RateLimitedError,
    TemporaryError,
)

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


def test_it_learns_from_a_404_that_coin_margined_futures_have_no_algo_service_yet(simulator, make_client):
    usdm, coinm = make_client(), make_client(venue="coinm")
    assert usdm.has_algo_service and coinm.has_algo_service  # COIN-M: not asked yet

    with pytest.raises(NoAlgoServiceError) as first:
        coinm.open_algo_orders("BTCUSD_PERP")

    assert (first.value.http_status, first.value.endpoint) == (404, "GET /dapi/v1/openAlgoOrders")
    assert isinstance(first.value, ValueError)  # as before: a call the venue cannot take
    assert not coinm.has_algo_service and not has_algo_service(simulator.url + "/", "coinm")
    assert usdm.has_algo_service and make_client(venue="coinm").has_algo_service is False  # per base URL
    sent = len(simulator.exchange.requests_log())
    for call in (
        lambda: coinm.open_algo_orders(),
        lambda: coinm.cancel_all_algo_open_orders("BTCUSD_PERP"),
        lambda: coinm.place_algo_order("BTCUSD_PERP", "SELL", "STOP_MARKET", 1, 40000),
    ):
        with pytest.raises(NoAlgoServiceError, match="COIN-M"):
            call()
    assert len(simulator.exchange.requests_log()) == sent  # remembered: refused before anything was sent


def test_it_notices_the_coin_margined_migration_once_the_404_is_old(simulator, make_client, monkeypatch):
    monkeypatch.setattr(client_module, "ALGO_SERVICE_MEMO_SECONDS", 0.2)
    coinm = make_client(venue="coinm")
    with pytest.raises(NoAlgoServiceError):
        coinm.cancel_all_algo_open_orders("BTCUSD_PERP")
    simulator.exchange.set_coinm_algo_service(True)  # migration day
    with pytest.raises(NoAlgoServiceError):  # still remembered: not asked
        coinm.open_algo_orders("BTCUSD_PERP")

    time.sleep(0.25)

    assert coinm.has_algo_service
    stop = coinm.place_algo_order("BTCUSD_PERP", "SELL", "STOP_MARKET", 1, 40000)
    assert [o["algoId"] for o in coinm.open_algo_orders("BTCUSD_PERP")] == [stop["algoId"]]
    with pytest.raises(FatalError) as plain:  # the plain endpoint refuses them now, as on USD-M
        coinm.place_order("BTCUSD_PERP", "SELL", 1, order_type="STOP_MARKET", stopPrice="40000")
    assert plain.value.code == -4120 and not isinstance(plain.value, NoAlgoServiceError)
    assert coinm.cancel_all_algo_open_orders("BTCUSD_PERP") == CANCEL_ALL_ACK
    assert coinm.open_algo_orders() == []


def test_a_404_with_binances_error_body_or_on_usdm_is_not_a_missing_algo_service(simulator, make_client):
    usdm, coinm = make_client(), make_client(venue="coinm")
    simulator.exchange.set_coinm_algo_service(True)  # its paths known, so faults can stand in for them
    simulator.exchange.inject("/fapi/v1/openAlgoOrders", status=404, body="<html>Not found</html>")
    simulator.exchange.inject("/dapi/v1/openAlgoOrders", status=404, code=-1121, msg="Invalid symbol.")

    with pytest.raises(FatalError) as on_usdm:
        usdm.open_algo_orders("BTCUSDT")
    with pytest.raises(FatalError) as with_code:
        coinm.open_algo_orders("BTCUSD_PERP")

    assert not isinstance(on_usdm.value, NoAlgoServiceError) and on_usdm.value.http_status == 404
    assert not isinstance(with_code.value, NoAlgoServiceError) and with_code.value.code == -1121
    assert usdm.has_algo_service and coinm.has_algo_service


def test_it_checks_symbols_before_sending(simulator, make_client):
    client = make_client()
    with pytest.raises(ValueError):
        client.cancel_all_algo_open_orders("btc/usdt")
    with pytest.raises(ValueError):
        client.open_algo_orders("")
    assert simulator.exchange.requests_log() == []
