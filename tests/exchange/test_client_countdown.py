"""countdownCancelAll and the order endpoints against the simulator, for every key type and both venues."""

import pytest

from heartbeats.exchange.client import CountdownAck
from tests.waiting import wait_for

COUNTDOWN = "/fapi/v1/countdownCancelAll"


@pytest.mark.parametrize("key", ["hmac", "ed25519", "rsa", "rsa-encrypted"])
def test_it_arms_and_disarms_with_every_key_type(simulator, make_client, key):
    client = make_client(key)
    ack = client.countdown("BTCUSDT", 120_000)
    assert isinstance(ack, CountdownAck)
    assert (ack.symbol, ack.countdown_ms, ack.http_status) == ("BTCUSDT", 120_000, 200)
    [armed] = simulator.exchange.countdowns(client.api_key_for_tests)
    assert (armed["symbol"], armed["countdown_ms"], armed["venue"]) == ("BTCUSDT", 120_000, "usdm")

    ack = client.countdown("BTCUSDT", 0)
    assert ack.countdown_ms == 0
    assert simulator.exchange.countdowns(client.api_key_for_tests) == []


def test_it_arms_coin_margined_symbols_on_dapi(simulator, make_client):
    client = make_client("ed25519", venue="coinm")
    assert client.prefix == "/dapi"
    ack = client.countdown("BTCUSD_PERP", 60_000)
    assert ack.countdown_ms == 60_000
    [armed] = simulator.exchange.countdowns(client.api_key_for_tests)
    assert (armed["symbol"], armed["venue"]) == ("BTCUSD_PERP", "coinm")
    paths = [e["path"] for e in simulator.exchange.requests_log()]
    assert paths == ["/dapi/v1/time", "/dapi/v1/countdownCancelAll"]


def test_it_parses_the_string_countdown_and_times_the_request_from_just_before_it_left(
    simulator, make_client
):
    client = make_client()
    simulator.exchange.inject(COUNTDOWN, latency_ms=150)
    ack = client.countdown("ETHUSDT", 30_000)
    entry = simulator.exchange.requests_log(COUNTDOWN)[-1]
    [armed] = simulator.exchange.countdowns(client.api_key_for_tests)

    assert type(ack.countdown_ms) is int
    assert ack.sent_at <= entry["received_at"] <= entry["responded_at"] <= ack.received_at
    assert ack.latency_ms == pytest.approx((ack.received_at - ack.sent_at) * 1000)
    assert ack.latency_ms >= 150
    # Conservative expiry: the request was applied after it was sent, never before.
    assert ack.sent_at + ack.countdown_ms / 1000 <= armed["expires_at"]
    assert ack.timestamp_ms == entry["timestamp"]
    assert ack.used_weight == entry["used_weight"]


def test_it_sends_what_the_exchange_expects(simulator, make_client):
    client = make_client(recv_window=7000)
    client.countdown("BTCUSDT", 120_000)
    entry = simulator.exchange.requests_log(COUNTDOWN)[-1]
    assert entry["method"] == "POST" and entry["recv_window"] == 7000
    assert entry["api_key_last4"] == client.api_key_for_tests[-4:]
    assert entry["weight"] == 10


def test_it_refuses_nonsense_before_sending(simulator, make_client):
    client = make_client()
    for symbol, countdown_ms in [
        ("BTCUSDT\n", 1000),
        ("btcusdt", 1000),
        ("BTC USDT", 1000),
        ("", 1000),
        ("BTCUSDT", -1),
        ("BTCUSDT", 1.5),
        ("BTCUSDT", True),
    ]:
        with pytest.raises(ValueError):
            client.countdown(symbol, countdown_ms)
    assert simulator.exchange.requests_log() == []


def test_it_places_lists_and_cancels_orders(simulator, make_client):
    client = make_client("rsa")
    order = client.place_order("BTCUSDT", "BUY", "0.010", "25000.5")
    assert order["status"] == "NEW" and order["price"] == "25000.5"
    client.place_order("ETHUSDT", "SELL", 1, 3000)
    assert {o["symbol"] for o in client.open_orders()} == {"BTCUSDT", "ETHUSDT"}
    assert [o["orderId"] for o in client.open_orders("BTCUSDT")] == [order["orderId"]]

    client.cancel_all_open_orders("BTCUSDT")
    assert [o["symbol"] for o in client.open_orders()] == ["ETHUSDT"]


def test_it_lets_the_exchange_cancel_orders_when_the_countdown_runs_out(simulator, make_client):
    client = make_client()
    client.place_order("SOLUSDT", "BUY", 1, 20)
    client.countdown("SOLUSDT", 200)
    wait_for(
        lambda: client.open_orders("SOLUSDT") == [], timeout=3, every=0.05, message="the orders cancelled"
    )
    assert [c["symbol"] for c in simulator.exchange.cancellations(client.api_key_for_tests)] == ["SOLUSDT"]


def test_it_checks_a_key_with_a_signed_open_orders_request(simulator, make_client):
    client = make_client("ed25519")
    assert client.check_key() is None
    assert client.check_key("BTCUSDT") is None
    assert [(e["path"], e["weight"]) for e in simulator.exchange.requests_log("/fapi/v1/openOrders")] == [
        ("/fapi/v1/openOrders", 40),
        ("/fapi/v1/openOrders", 1),
    ]


def test_it_never_shows_the_api_key_in_its_repr(make_client):
    client = make_client()
    text = repr(client)
    assert client.api_key_for_tests not in text
    assert client.api_key_for_tests[-4:] in text and "hmac" in text


def test_it_serves_many_threads_with_one_clock_sync(simulator, make_client):
    from concurrent.futures import ThreadPoolExecutor

    client = make_client("ed25519")
    symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT"]
    with ThreadPoolExecutor(len(symbols)) as pool:
        acks = list(pool.map(lambda s: client.countdown(s, 90_000), symbols))
    assert [a.symbol for a in acks] == symbols
    assert sorted(c["symbol"] for c in simulator.exchange.countdowns()) == sorted(symbols)
    assert len(simulator.exchange.requests_log("/fapi/v1/time")) == 1
