"""Request weight is counted per client IP per calendar minute, with Binance's headers, 429 and 418."""

import pytest

from simulator import Simulator

from .conftest import Trader, start_of_next_minute_skew


@pytest.fixture
def small_sim():
    sim = Simulator(weight_limit=30, ban_after=2, ban_seconds=90)
    sim.start()
    sim.exchange.set_skew(start_of_next_minute_skew())
    yield sim
    sim.stop()


def test_it_reports_the_used_weight_on_every_response(simulator, trader):
    headers = [trader.public("time").headers, trader.public("exchangeInfo").headers]
    headers.append(trader.countdown("BTCUSDT", 1000).headers)
    headers.append(trader.countdown("NOPEUSDT", 1000).headers)  # errors count and report too
    headers.append(trader.signed("GET", "openOrders", {"symbol": "BTCUSDT"}).headers)
    headers.append(trader.signed("GET", "openOrders", {}).headers)

    assert [h["X-MBX-USED-WEIGHT-1M"] for h in headers] == ["1", "2", "12", "22", "23", "63"]
    info = trader.public("exchangeInfo").json()
    assert {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400} in info[
        "rateLimits"
    ]


def test_it_answers_429_then_bans_with_418_a_client_that_keeps_going(small_sim):
    client = Trader(small_sim)
    statuses = [client.public("time").status_code for _ in range(30)]
    assert statuses == [200] * 30

    limited = client.public("time")
    assert limited.status_code == 429
    assert limited.json()["code"] == -1003
    assert "request weight is 30 per minute" in limited.json()["msg"]
    assert 55 <= int(limited.headers["Retry-After"]) <= 60  # until the calendar minute ends
    assert limited.headers["X-MBX-USED-WEIGHT-1M"] == "30"

    assert [client.public("time").status_code for _ in range(2)] == [429, 429]  # ban_after=2 more tolerated
    banned = client.public("time")
    assert banned.status_code == 418
    assert banned.json()["code"] == -1003 and "banned until" in banned.json()["msg"]
    assert 88 <= int(banned.headers["Retry-After"]) <= 90
    assert client.public("time").status_code == 418

    small_sim.exchange.set_skew(small_sim.exchange.skew_ms + 60_000)  # next minute: still banned
    assert client.public("time").status_code == 418
    small_sim.exchange.set_skew(small_sim.exchange.skew_ms + 31_000)  # the ban is over
    assert client.public("time").status_code == 200


def test_it_counts_weight_per_client_ip(small_sim):
    first = Trader(small_sim, source="127.0.0.1")
    second = Trader(small_sim, source="127.0.0.2")
    for _ in range(30):
        first.public("time")

    assert first.public("time").status_code == 429
    other = second.public("time")
    assert other.status_code == 200
    assert other.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert small_sim.exchange.used_weight("127.0.0.1") == 30
    assert small_sim.exchange.used_weight("127.0.0.2") == 1
    assert {e["ip"] for e in small_sim.exchange.requests_log()} == {"127.0.0.1", "127.0.0.2"}


def test_it_counts_usdm_and_coinm_separately_and_resets_each_minute(small_sim):
    client = Trader(small_sim)
    for _ in range(30):
        client.public("time")

    assert client.public("time").status_code == 429
    assert client.public("time", venue="dapi").status_code == 200
    small_sim.exchange.set_skew(small_sim.exchange.skew_ms + 60_000)
    fresh = client.public("time")
    assert fresh.status_code == 200 and fresh.headers["X-MBX-USED-WEIGHT-1M"] == "1"
