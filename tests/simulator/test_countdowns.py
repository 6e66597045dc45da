"""Countdowns run for real: they fire on time, cancel the symbol's orders, and each call replaces the last."""

import time

import pytest

from tests.waiting import scheduling_lag

from .conftest import wait_until


def test_it_cancels_the_symbols_orders_within_50ms_of_the_true_expiry(simulator, trader):
    ex = simulator.exchange
    btc = [ex.place_order(trader.api_key, "BTCUSDT", price="50000")["orderId"] for _ in range(2)]
    eth = ex.place_order(trader.api_key, "ETHUSDT", price="3000")["orderId"]

    sent = time.time()
    response = trader.countdown("BTCUSDT", 300)
    answered = time.time()

    assert response.status_code == 200
    assert response.json() == {"symbol": "BTCUSDT", "countdownTime": "300"}
    [armed] = ex.countdowns()
    assert sent <= armed["armed_at"] <= answered  # starts when applied, not when signed
    assert armed["expires_at"] - armed["armed_at"] == pytest.approx(0.3)

    with scheduling_lag() as lag:  # what a machine busy with other tests adds to any thread's wake-up
        [fired] = wait_until(ex.cancellations, timeout=2)
    assert fired["expires_at"] == armed["expires_at"]
    assert 0 <= fired["cancelled_at"] - fired["expires_at"] < 0.05 + lag()
    assert sorted(fired["order_ids"]) == sorted(btc)
    assert fired["symbol"] == "BTCUSDT" and fired["api_key_last4"] == trader.api_key[-4:]
    assert ex.open_orders(trader.api_key, "BTCUSDT") == []
    assert [o["orderId"] for o in ex.open_orders(trader.api_key, "ETHUSDT")] == [eth]
    assert ex.countdowns() == []


def test_it_stops_the_countdown_when_disarmed_with_zero(simulator, trader):
    ex = simulator.exchange
    ex.place_order(trader.api_key, "BTCUSDT")
    # Long enough for the disarm to come first even on a busy machine.
    assert trader.countdown("BTCUSDT", 1000).status_code == 200

    response = trader.countdown("BTCUSDT", 0)

    assert response.json() == {"symbol": "BTCUSDT", "countdownTime": "0"}
    assert ex.countdowns() == []
    # A witness armed after the disarm for as long: once it has fired, the stopped countdown's time has passed
    # too (countdowns fire in the order they run out).
    trader.countdown("ETHUSDT", 1000)
    wait_until(ex.cancellations, timeout=3)
    assert [c["symbol"] for c in ex.cancellations()] == ["ETHUSDT"]
    assert len(ex.open_orders(trader.api_key, "BTCUSDT")) == 1


def test_it_lets_the_last_call_win_in_both_directions(simulator, trader):
    ex = simulator.exchange
    ex.place_order(trader.api_key, "BTCUSDT")
    trader.countdown("BTCUSDT", 1000)
    trader.countdown("BTCUSDT", 5000)  # lengthened: the 1 s countdown must not fire
    trader.countdown("ETHUSDT", 1000)  # a witness: once it fired, the replaced 1 s one would have too

    wait_until(ex.cancellations, timeout=3)
    assert [c["symbol"] for c in ex.cancellations()] == ["ETHUSDT"]
    [armed] = ex.countdowns()
    assert armed["countdown_ms"] == 5000

    with scheduling_lag() as lag:
        trader.countdown("BTCUSDT", 100)  # shortened: fires 100 ms after this call, not 5 s after the last
        fired = wait_until(lambda: [c for c in ex.cancellations() if c["symbol"] == "BTCUSDT"], timeout=1)[0]
    assert fired["countdown_ms"] == 100
    assert 0 <= fired["cancelled_at"] - fired["expires_at"] < 0.05 + lag()


def test_it_keeps_countdowns_apart_per_account_and_symbol(simulator, trader):
    from .conftest import Trader

    other = Trader(simulator).register()
    ex = simulator.exchange
    ex.place_order(trader.api_key, "BTCUSDT")
    ex.place_order(other.api_key, "BTCUSDT")
    trader.countdown("BTCUSDT", 100)
    other.countdown("BTCUSDT", 5000)
    trader.countdown("ETHUSDT", 5000)

    [fired] = wait_until(ex.cancellations, timeout=1)

    assert fired["api_key_last4"] == trader.api_key[-4:]
    assert len(ex.open_orders(other.api_key, "BTCUSDT")) == 1
    assert {(c["api_key_last4"], c["symbol"]) for c in ex.countdowns()} == {
        (other.api_key[-4:], "BTCUSDT"),
        (trader.api_key[-4:], "ETHUSDT"),
    }


def test_it_runs_coin_margined_countdowns_on_dapi(simulator, trader):
    ex = simulator.exchange
    ex.place_order(trader.api_key, "BTCUSD_PERP", price="60000", quantity="1")

    response = trader.countdown("BTCUSD_PERP", 100)

    assert response.json() == {"symbol": "BTCUSD_PERP", "countdownTime": "100"}
    [fired] = wait_until(ex.cancellations, timeout=1)
    assert fired["venue"] == "coinm" and len(fired["order_ids"]) == 1


def test_it_refuses_symbols_of_the_other_venue_unknown_or_delisted(simulator, trader):
    assert trader.countdown("BTCUSD_PERP", 1000, venue="fapi").json()["code"] == -1121
    assert trader.countdown("NOPEUSDT", 1000).json() == {"code": -1121, "msg": "Invalid symbol."}
    delisted = trader.countdown("LUNAUSDT", 1000)
    assert delisted.status_code == 400 and delisted.json()["code"] == -1122
    assert simulator.exchange.countdowns() == []


def test_it_rejects_missing_and_malformed_parameters(simulator, trader):
    missing = trader.signed("POST", "countdownCancelAll", {"symbol": "BTCUSDT"})
    assert missing.status_code == 400
    assert missing.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'countdownTime' was not sent, was empty/null, or malformed.",
    }
    empty = trader.signed("POST", "countdownCancelAll", {"symbol": "", "countdownTime": 1000})
    assert empty.json()["code"] == -1102 and "'symbol'" in empty.json()["msg"]
    for bad in ("-5", "12a", "1.5"):
        malformed = trader.countdown("BTCUSDT", bad)
        assert malformed.status_code == 400 and malformed.json()["code"] == -1100, bad
    lower = trader.countdown("btcusdt", 1000)
    assert lower.json()["code"] == -1100
    assert simulator.exchange.countdowns() == []


def test_it_forgets_replaced_countdowns_under_fast_heartbeats(simulator, trader):
    ex = simulator.exchange
    account = ex.account(trader.api_key)
    for _ in range(3000):  # a long countdown re-armed far more often than it could ever expire
        ex.set_countdown(account, "usdm", "BTCUSDT", 3_600_000)
    ex.set_countdown(account, "usdm", "BTCUSDT", 50)

    [fired] = wait_until(ex.cancellations, timeout=1)

    assert fired["countdown_ms"] == 50
    assert len(ex._timers) < 1500  # replaced entries are dropped, not kept for an hour
