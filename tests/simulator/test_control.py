"""The /_sim/ control interface: everything a test or the demo needs, over HTTP, as JSON."""

import time

import pytest
import requests

from .conftest import KEYS, Trader, public_pem


def _post(sim, endpoint, payload=None):
    return requests.post(f"{sim.url}/_sim/{endpoint}", json=payload or {}, timeout=5)


def _get(sim, endpoint, **params):
    return requests.get(f"{sim.url}/_sim/{endpoint}", params=params, timeout=5)


def test_it_registers_accounts_and_places_orders_over_http(simulator):
    trader = Trader(simulator, "ed25519")
    added = _post(
        simulator,
        "accounts",
        {"api_key": trader.api_key, "key_type": "ed25519", "public_key": public_pem(trader.key)},
    )
    rsa = Trader(simulator, "rsa")
    from_private = _post(
        simulator, "accounts", {"api_key": rsa.api_key, "key_type": "rsa", "private_key": KEYS["rsa"]}
    )
    order = _post(simulator, "orders", {"api_key": trader.api_key, "symbol": "BTCUSDT", "price": "50000"})

    assert added.status_code == 201
    assert added.json() == {
        "api_key_last4": trader.api_key[-4:],
        "key_type": "ed25519",
        "trade": True,
        "options": True,
        "ip_whitelist": None,
    }
    assert from_private.status_code == 201
    assert order.status_code == 201 and order.json()["status"] == "NEW"
    assert trader.countdown("BTCUSDT", 60000).status_code == 200
    assert rsa.countdown("ETHUSDT", 60000).status_code == 200
    listed = trader.signed("GET", "openOrders", {"symbol": "BTCUSDT"}).json()
    assert [o["orderId"] for o in listed] == [order.json()["orderId"]]
    assert _get(simulator, "orders", api_key=trader.api_key).json() == listed


def test_it_explains_bad_control_requests(simulator):
    assert (
        _post(simulator, "accounts", {"api_key": "k", "key_type": "rsa", "public_key": "junk"}).status_code
        == 400
    )
    assert _post(simulator, "accounts", {"api_key": "k", "key_type": "dsa", "secret": "x"}).status_code == 400
    assert _post(simulator, "faults", {"path": "/fapi/v1/time", "colour": "red"}).status_code == 400
    assert _post(simulator, "orders", {"api_key": "nobody", "symbol": "BTCUSDT"}).status_code == 404
    assert _get(simulator, "nothing").status_code == 404
    assert requests.get(f"{simulator.url}/_sim/reset", timeout=5).status_code == 405
    bad_json = requests.post(f"{simulator.url}/_sim/clock", data="{", timeout=5)
    assert bad_json.status_code == 400 and "error" in bad_json.json()


def test_it_injects_faults_holds_and_releases_over_http(simulator, trader):
    assert (
        _post(simulator, "faults", {"path": "/fapi/v1/countdownCancelAll", "kind": "unknown"}).status_code
        == 201
    )
    assert trader.countdown("BTCUSDT", 60000).status_code == 503
    assert _get(simulator, "faults").json()[0]["hits"] == 1

    _post(simulator, "faults", {"symbol": "ETHUSDT", "hold": "h1"})
    import threading

    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("r", trader.countdown("ETHUSDT", 60000)))
    thread.start()
    assert simulator.exchange.wait_held("h1") == 1
    assert _get(simulator, "held").json()[0]["name"] == "h1"
    assert _post(simulator, "release", {"name": "h1"}).json() == {"released": 1}
    thread.join(2)
    assert box["r"].status_code == 200

    assert requests.delete(f"{simulator.url}/_sim/faults", timeout=5).status_code == 200
    assert _get(simulator, "faults").json() == []


def test_it_sets_the_clock_latency_and_limits_over_http(simulator, trader):
    clock = _post(simulator, "clock", {"skew_ms": 2500}).json()
    assert clock["skew_ms"] == 2500
    assert abs(clock["server_time"] - (time.time() * 1000 + 2500)) < 200
    assert abs(trader.public("time").json()["serverTime"] - (time.time() * 1000 + 2500)) < 200

    assert _post(simulator, "latency", {"latency_ms": 100}).status_code == 200
    started = time.monotonic()
    trader.public("ping")
    assert time.monotonic() - started >= 0.1

    assert _post(simulator, "limits", {"weight_limit": 77}).json()["weight_limit"] == 77
    limits = trader.public("exchangeInfo").json()["rateLimits"]
    assert limits[0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 77,
    }


def test_it_shows_ground_truth_without_secrets(simulator, trader):
    simulator.exchange.place_order(trader.api_key, "BTCUSDT")
    trader.countdown("BTCUSDT", 60000)
    trader.countdown("NOPEUSDT", 60000)

    state = _get(simulator, "state").json()
    log = _get(simulator, "requests", path="/fapi/v1/countdownCancelAll")

    [countdown] = state["countdowns"]
    assert countdown["symbol"] == "BTCUSDT" and countdown["expires_at"] - countdown[
        "armed_at"
    ] == pytest.approx(60)
    assert len(state["open_orders"]) == 1 and state["accounts"][0]["api_key_last4"] == trader.api_key[-4:]
    assert [(e["symbol"], e["status"], e["code"], e["weight"]) for e in log.json()] == [
        ("BTCUSDT", 200, None, 10),
        ("NOPEUSDT", 400, -1121, 10),
    ]
    everything = state | {"log": log.json()}
    text = str(everything) + log.text
    assert "signature" not in text
    assert trader.api_key not in text and trader.key not in text


def test_it_resets_to_a_fresh_exchange(simulator, trader):
    trader.countdown("BTCUSDT", 60000)
    simulator.exchange.inject(path="/fapi/v1/time", status=500)
    simulator.exchange.set_skew(5000)

    assert _post(simulator, "reset", {"keep_accounts": True}).status_code == 200

    state = _get(simulator, "state").json()
    assert state["countdowns"] == [] and state["faults"] == [] and state["skew_ms"] == 0
    assert trader.public("time").status_code == 200
    assert trader.countdown("BTCUSDT", 60000).status_code == 200  # the account was kept
    _post(simulator, "reset")
    assert trader.countdown("BTCUSDT", 60000).status_code == 401
