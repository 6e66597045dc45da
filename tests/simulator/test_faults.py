"""Faults, holds, latency and skew: the conditions the engine must survive, under the test's control."""

import threading
import time

import pytest
import requests

from .conftest import Trader, wait_until


def _in_thread(fn):
    box = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_it_holds_a_request_and_applies_it_late_at_release(simulator, trader):
    ex = simulator.exchange
    ex.inject("/fapi/v1/countdownCancelAll", symbol="BTCUSDT", hold="late")
    thread, box = _in_thread(lambda: trader.countdown("BTCUSDT", 60000, recv_window=5000))

    assert ex.wait_held("late") == 1
    assert ex.countdowns() == []  # received, not applied
    trader.countdown("BTCUSDT", 0)  # a disarm overtakes the held beat
    released_at = time.time()
    assert ex.release("late") == 1
    thread.join(2)

    assert box["result"].status_code == 200
    [armed] = ex.countdowns()  # the late beat re-armed it: exactly the race the engine must close
    assert armed["armed_at"] >= released_at
    entry = next(e for e in ex.requests_log() if e["held"] == "late")
    assert entry["received_at"] < released_at <= entry["delivered_at"]
    assert entry["applied_at"] >= released_at


def test_it_rejects_a_held_request_whose_timestamp_expired_before_delivery(simulator, trader):
    ex = simulator.exchange
    ex.inject(path="/fapi/v1/countdownCancelAll", hold="stale")
    thread, box = _in_thread(lambda: trader.countdown("BTCUSDT", 60000, recv_window=300))
    assert ex.wait_held("stale") == 1

    ex.set_skew(400)  # the exchange's clock moves on past the request's recvWindow while it is held
    ex.release("stale")
    thread.join(2)

    assert box["result"].status_code == 400
    assert box["result"].json()["code"] == -1021
    assert ex.countdowns() == []


def test_it_delivers_a_held_request_when_its_hold_times_out(simulator, trader):
    ex = simulator.exchange
    ex.inject(path="/fapi/v1/countdownCancelAll", hold="forgotten", hold_timeout=0.2)

    started = time.monotonic()
    response = trader.countdown("BTCUSDT", 60000)

    assert response.status_code == 200
    assert 0.2 <= time.monotonic() - started < 1
    assert ex.held() == []


def test_it_delays_one_client_without_blocking_another(simulator, trader):
    simulator.exchange.inject(symbol="ETHUSDT", latency_ms=1000)
    other = Trader(simulator).register()
    slow_thread, slow = _in_thread(lambda: trader.countdown("ETHUSDT", 60000))
    wait_until(
        lambda: [e for e in simulator.exchange.requests_log() if e["symbol"] == "ETHUSDT"]
    )  # in its delay

    started = time.monotonic()
    fast = other.countdown("BTCUSDT", 60000)
    fast_elapsed = time.monotonic() - started
    slow_thread.join(3)

    assert fast.status_code == 200 and fast_elapsed < 0.3
    assert slow["result"].status_code == 200
    entry = next(e for e in simulator.exchange.requests_log() if e["symbol"] == "ETHUSDT")
    assert entry["delivered_at"] - entry["received_at"] >= 1.0


def test_it_adds_global_latency_with_jitter(simulator, trader):
    simulator.exchange.set_latency(150, jitter_ms=50)
    started = time.monotonic()
    assert trader.public("time").status_code == 200
    assert 0.1 <= time.monotonic() - started < 0.5


def test_it_replies_with_an_injected_error_for_count_matching_requests_only(simulator, trader):
    ex = simulator.exchange
    ex.inject("/fapi/v1/countdownCancelAll", countdown_ms=60000, kind="unknown", count=2)

    other_value = trader.countdown("BTCUSDT", 30000)
    first, second, third = (trader.countdown("BTCUSDT", 60000) for _ in range(3))

    assert other_value.status_code == 200
    for response in (first, second):
        assert response.status_code == 503
        assert response.json() == {
            "code": -1006,
            "msg": "Unknown error, please check your request or try again later.",
        }
        assert "X-MBX-USED-WEIGHT-1M" in response.headers
    assert third.status_code == 200
    assert [c["countdown_ms"] for c in ex.countdowns()] == [60000]
    assert [f["hits"] for f in ex.faults()] == [2]


def test_it_can_apply_a_request_and_still_answer_with_an_error(simulator, trader):
    simulator.exchange.inject(path="/fapi/v1/countdownCancelAll", status=503, code=-1007, apply=True)

    response = trader.countdown("BTCUSDT", 60000)

    assert response.status_code == 503 and response.json()["code"] == -1007
    assert len(simulator.exchange.countdowns()) == 1  # the outcome really was unknown: it was applied


def test_it_replies_service_unavailable_without_applying(simulator, trader):
    simulator.exchange.inject(path="/fapi/v1/countdownCancelAll", kind="unavailable")

    response = trader.countdown("BTCUSDT", 60000)

    assert response.status_code == 503 and response.json()["msg"] == "Service Unavailable."
    assert simulator.exchange.countdowns() == []


def test_it_can_drop_the_connection_with_or_without_applying(simulator, trader):
    ex = simulator.exchange
    ex.inject(symbol="BTCUSDT", drop=True)
    ex.inject(symbol="ETHUSDT", drop=True, apply=True)

    with pytest.raises(requests.ConnectionError):
        trader.countdown("BTCUSDT", 60000)
    with pytest.raises(requests.ConnectionError):
        trader.countdown("ETHUSDT", 60000)

    assert [c["symbol"] for c in ex.countdowns()] == ["ETHUSDT"]
    assert trader.countdown("BTCUSDT", 60000).status_code == 200  # the session recovers


def test_it_matches_faults_by_api_key(simulator, trader):
    other = Trader(simulator).register()
    simulator.exchange.inject(api_key=other.api_key, status=429, retry_after=7)

    assert trader.countdown("BTCUSDT", 60000).status_code == 200
    limited = other.countdown("BTCUSDT", 60000)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"


def test_it_refuses_a_fault_that_does_nothing(simulator):
    with pytest.raises(ValueError):
        simulator.exchange.inject(path="/fapi/v1/time")
    with pytest.raises(ValueError):
        simulator.exchange.inject(kind="nonsense")


def test_it_drops_held_requests_when_stopped(simulator, trader):
    simulator.exchange.inject(path="/fapi/v1/countdownCancelAll", hold="never")
    thread, box = _in_thread(lambda: trader.countdown("BTCUSDT", 60000))
    assert simulator.exchange.wait_held("never") == 1

    simulator.stop()
    thread.join(2)

    assert not thread.is_alive()
    assert isinstance(box.get("error"), requests.ConnectionError)
    assert wait_until(lambda: simulator.exchange.countdowns() == [])
