"""The simulator's OKX paths (/api/v5) against clients we did not write: OKX's official SDK, python-okx (its
TradeAPI, whose generic signed request carries Cancel All After: 0.4.4 has no method of its own for it), and
ccxt's okx (cancel_all_orders_after and the private calls around it), their base URLs pointed at the
simulator. Then OKX's refusals, its rate limit, and what a switch that runs out cancels."""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from datetime import UTC, datetime

import ccxt
import okx.Trade as Trade
import pytest
import requests

from .conftest import wait_until

CAA = "/api/v5/trade/cancel-all-after"


class OkxKey:
    def __init__(self, simulator, **options):
        self.api_key = secrets.token_hex(16)
        self.secret = secrets.token_hex(16).upper()
        self.passphrase = "Pass-" + secrets.token_hex(4)
        simulator.exchange.okx.add_account(self.api_key, self.secret, self.passphrase, **options)


@pytest.fixture
def okx_key(simulator):
    simulator.exchange.okx.rates.scale = 0.001  # renewals in quick succession (the rate-limit test keeps 1)
    return OkxKey(simulator)


def _sdk(simulator, key: OkxKey, *, secret=None, passphrase=None) -> Trade.TradeAPI:
    return Trade.TradeAPI(
        key.api_key,
        secret or key.secret,
        passphrase or key.passphrase,
        flag="1",
        domain=simulator.url,
        debug=False,
    )


def _caa(api: Trade.TradeAPI, seconds: str, tag: str | None = None) -> dict:
    params = {"timeOut": seconds}
    if tag is not None:
        params["tag"] = tag
    return api._request_with_params("POST", CAA, params)


def _ccxt(simulator, key: OkxKey, **config) -> ccxt.okx:
    exchange = ccxt.okx(
        {
            "apiKey": key.api_key,
            "secret": key.secret,
            "password": key.passphrase,
            "timeout": 5000,
            # ccxt spaces Cancel All After a second apart itself (cost 10 at its 100 ms rateLimit).
            "enableRateLimit": False,
            **config,
        }
    )
    exchange.urls["api"]["rest"] = simulator.url
    exchange.options["fetchMarkets"] = {"types": ["swap"]}
    return exchange


def _raw(simulator, key: OkxKey, method: str, path: str, body: dict | None = None, *, timestamp=None, **h):
    """A request signed by hand, to reach what the SDKs will not send (a stale timestamp, a bad header)."""
    text = json.dumps(body) if body is not None else ""
    stamp = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    digest = hmac.new(key.secret.encode(), f"{stamp}{method}{path}{text}".encode(), hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "OK-ACCESS-KEY": key.api_key,
        "OK-ACCESS-SIGN": base64.b64encode(digest).decode(),
        "OK-ACCESS-TIMESTAMP": stamp,
        "OK-ACCESS-PASSPHRASE": key.passphrase,
        **h,
    }
    return requests.request(method, simulator.url + path, data=text or None, headers=headers, timeout=5)


# Clients we did not write ----------------------------------------------------------------------------------


def test_the_official_sdk_arms_renews_and_disarms_the_switch(simulator, okx_key):
    api = _sdk(simulator, okx_key)

    armed = _caa(api, "60")
    first = simulator.exchange.okx.switches(okx_key.api_key)
    time.sleep(0.02)
    renewed = _caa(api, "30")
    second = simulator.exchange.okx.switches(okx_key.api_key)

    assert armed["code"] == "0" and armed["msg"] == ""
    data = armed["data"][0]
    assert set(data) == {"triggerTime", "tag", "ts"} and data["tag"] == ""
    assert int(data["triggerTime"]) - int(data["ts"]) == 60  # seconds, as the docs' example shows them
    assert [s["countdown_ms"] for s in first] == [60_000]
    assert [s["countdown_ms"] for s in second] == [30_000]
    assert second[0]["armed_at"] > first[0]["armed_at"]
    assert renewed["code"] == "0"

    time.sleep(0.01)
    disarmed = _caa(api, "0")

    assert disarmed["data"][0]["triggerTime"] == "0"
    assert simulator.exchange.okx.switches() == []
    log = simulator.exchange.requests_log(CAA)
    assert [(e["venue"], e["countdown_ms"], e["status"]) for e in log] == [
        ("okx", 60_000, 200),
        ("okx", 30_000, 200),
        ("okx", 0, 200),
    ]


def test_the_official_sdk_lists_places_and_cancels_orders(simulator, okx_key):
    api = _sdk(simulator, okx_key)

    placed = api.place_order("BTC-USDT-SWAP", "cross", "buy", "limit", "1", px="1000", tag="desk1")
    pending = api.get_order_list()
    cancelled = api.cancel_multiple_orders([{"instId": "BTC-USDT-SWAP", "ordId": placed["data"][0]["ordId"]}])

    assert placed["code"] == "0" and placed["data"][0]["sCode"] == "0"
    assert [(o["instId"], o["tag"], o["state"]) for o in pending["data"]] == [
        ("BTC-USDT-SWAP", "desk1", "live")
    ]
    assert cancelled["code"] == "0" and cancelled["data"][0]["sCode"] == "0"
    assert api.get_order_list()["data"] == []


def test_ccxt_arms_renews_and_disarms_the_switch(simulator, okx_key):
    exchange = _ccxt(simulator, okx_key)

    armed = exchange.cancel_all_orders_after(60_000)
    time.sleep(0.02)
    exchange.cancel_all_orders_after(10_000)
    renewed = simulator.exchange.okx.switches(okx_key.api_key)
    time.sleep(0.02)
    disarmed = exchange.cancel_all_orders_after(0)

    assert armed["code"] == "0"
    assert [s["countdown_ms"] for s in renewed] == [10_000]
    assert disarmed["data"][0]["triggerTime"] == "0"
    assert simulator.exchange.okx.switches() == []


def test_ccxt_places_lists_and_cancels_orders(simulator, okx_key):
    exchange = _ccxt(simulator, okx_key)

    order = exchange.create_order("ETH/USDT:USDT", "limit", "sell", 2, 5000)
    listed = exchange.fetch_open_orders()
    exchange.cancel_order(order["id"], "ETH/USDT:USDT")

    assert [(o["id"], o["symbol"], o["status"]) for o in listed] == [(order["id"], "ETH/USDT:USDT", "open")]
    assert exchange.fetch_open_orders() == []


# OKX's refusals --------------------------------------------------------------------------------------------


def test_a_wrong_signature_a_wrong_passphrase_and_an_unknown_key_get_okxs_codes(simulator, okx_key):
    forged = _caa(_sdk(simulator, okx_key, secret="NOT-THE-SECRET"), "60")
    wrong_passphrase = _caa(_sdk(simulator, okx_key, passphrase="not-it"), "60")
    stranger = OkxKey.__new__(OkxKey)
    stranger.api_key, stranger.secret, stranger.passphrase = "unknown-key", "s", "p"
    unknown = _caa(_sdk(simulator, stranger), "60")

    assert forged == {"code": "50113", "data": [], "msg": "Invalid signature."}
    assert wrong_passphrase["code"] == "50105"
    assert unknown["code"] == "50111"
    statuses = [e["status"] for e in simulator.exchange.requests_log(CAA)]
    assert statuses == [401, 401, 401]  # the docs' table: every API-class refusal is a 401
    assert simulator.exchange.okx.switches() == []


def test_ccxt_raises_its_own_errors_for_okxs_refusals(simulator, okx_key):
    with pytest.raises(ccxt.AuthenticationError, match="50113"):
        _ccxt(simulator, okx_key, secret="NOT-THE-SECRET").cancel_all_orders_after(60_000)
    with pytest.raises(ccxt.AuthenticationError, match="50105"):
        _ccxt(simulator, okx_key, password="not-it").cancel_all_orders_after(60_000)
    simulator.exchange.set_skew(31_000)
    with pytest.raises(ccxt.InvalidNonce, match="50102"):
        _ccxt(simulator, okx_key).cancel_all_orders_after(60_000)


@pytest.mark.parametrize("skew_ms", [-31_000, 31_000])
def test_a_timestamp_more_than_30_s_from_the_servers_clock_is_expired(simulator, okx_key, skew_ms):
    simulator.exchange.set_skew(skew_ms)
    refused = _caa(_sdk(simulator, okx_key), "60")
    simulator.exchange.set_skew(-29_000 if skew_ms < 0 else 29_000)  # inside the 30 s, either way
    accepted = _caa(_sdk(simulator, okx_key), "60")

    assert refused == {"code": "50102", "data": [], "msg": "Timestamp request expired."}
    assert accepted["code"] == "0"


def test_malformed_requests_get_okxs_codes(simulator, okx_key):
    no_passphrase = _raw(simulator, okx_key, "POST", CAA, {"timeOut": "60"}, **{"OK-ACCESS-PASSPHRASE": ""})
    bad_stamp = _raw(simulator, okx_key, "POST", CAA, {"timeOut": "60"}, timestamp="1700000000000")
    out_of_range = _raw(simulator, okx_key, "POST", CAA, {"timeOut": "5"})
    too_long = _raw(simulator, okx_key, "POST", CAA, {"timeOut": "121"})
    no_timeout = _raw(simulator, okx_key, "POST", CAA, {"tag": "abc"})

    assert (no_passphrase.status_code, no_passphrase.json()["code"]) == (401, "50104")
    assert (bad_stamp.status_code, bad_stamp.json()["code"]) == (401, "50112")
    assert out_of_range.json()["code"] == too_long.json()["code"] == "51000"
    assert (no_timeout.status_code, no_timeout.json()["code"]) == (400, "50014")
    assert simulator.exchange.okx.switches() == []


def test_a_key_without_the_trade_permission_may_read_but_not_arm(simulator):
    reader = OkxKey(simulator, trade=False)
    api = _sdk(simulator, reader)

    assert api.get_order_list()["code"] == "0"
    assert _caa(api, "60")["code"] == "50120"


def test_cancel_all_after_is_limited_to_one_request_a_second_per_user_and_tag(simulator):
    key = OkxKey(simulator)
    api = _sdk(simulator, key)

    first = _caa(api, "60")
    second = _caa(api, "60")
    other_tag = _caa(api, "60", tag="desk2")
    response = _raw(simulator, key, "POST", CAA, {"timeOut": "60"})

    assert first["code"] == "0" and other_tag["code"] == "0"
    assert second == {"code": "50011", "data": [], "msg": "Too Many Requests"}
    assert response.status_code == 429
    with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
        _ccxt(simulator, key).cancel_all_orders_after(30_000)
    time.sleep(1.0)
    assert _caa(api, "30")["code"] == "0"  # a second later: allowed again
    assert [s["countdown_ms"] for s in simulator.exchange.okx.switches(key.api_key)] == [30_000, 60_000]


# What a switch that runs out cancels -----------------------------------------------------------------------


def test_an_account_switch_that_runs_out_cancels_every_pending_order(simulator, okx_key):
    okx = simulator.exchange.okx
    plain = [okx.place_order(okx_key.api_key, inst, tag=tag) for inst, tag in
             (("BTC-USDT-SWAP", ""), ("ETH-USDT-SWAP", "desk1"), ("BTC-USDT", "desk2"))]  # fmt: skip
    algo = okx.place_algo_order(okx_key.api_key, "BTC-USDT-SWAP")
    switch = okx.set_switch(okx.account(okx_key.api_key), "", 10, None)
    switch.expires_at = time.time() + 0.05  # the shortest real timeOut is 10 s: bring this one forward

    record = wait_until(lambda: simulator.exchange.cancellations(okx_key.api_key))[0]

    assert record["venue"] == "okx" and record["tag"] == ""
    assert sorted(record["order_ids"]) == sorted(o["ordId"] for o in plain)
    assert record["algo_ids"] == []  # OKX's page promises pending orders, not algo orders: they stay
    assert okx.open_orders(okx_key.api_key) == []
    assert [o["algoId"] for o in okx.open_algo_orders(okx_key.api_key)] == [algo["algoId"]]
    assert okx.switches() == []


def test_a_tags_switch_cancels_only_the_orders_with_that_tag(simulator, okx_key):
    okx = simulator.exchange.okx
    mine = okx.place_order(okx_key.api_key, "BTC-USDT-SWAP", tag="desk1")
    other = okx.place_order(okx_key.api_key, "BTC-USDT-SWAP", tag="desk2")
    untagged = okx.place_order(okx_key.api_key, "ETH-USDT-SWAP")
    api = _sdk(simulator, okx_key)
    assert _caa(api, "10", tag="desk1")["data"][0]["tag"] == "desk1"
    assert _caa(api, "60")["code"] == "0"  # the account's own switch, still far from running out
    okx.account(okx_key.api_key).switches["desk1"].expires_at = time.time() + 0.05

    record = wait_until(lambda: simulator.exchange.cancellations(okx_key.api_key))[0]

    assert (record["tag"], record["order_ids"]) == ("desk1", [mine["ordId"]])
    left = {o["ordId"] for o in okx.open_orders(okx_key.api_key)}
    assert left == {other["ordId"], untagged["ordId"]}
    assert [s["tag"] for s in okx.switches(okx_key.api_key)] == [""]


def test_a_renewed_or_disarmed_switch_never_fires(simulator, okx_key):
    okx = simulator.exchange.okx
    okx.place_order(okx_key.api_key, "BTC-USDT-SWAP")
    api = _sdk(simulator, okx_key)
    _caa(api, "10")
    okx.account(okx_key.api_key).switches[""].expires_at = time.time() + 0.05
    time.sleep(0.02)
    _caa(api, "0")
    time.sleep(0.1)
    simulator.exchange.okx.expire_due(time.time() + 1)

    assert simulator.exchange.cancellations() == []
    assert len(okx.open_orders(okx_key.api_key)) == 1


# The simulator's own machinery on OKX paths ----------------------------------------------------------------


def test_the_control_api_registers_okx_keys_and_rests_orders(simulator):
    url = simulator.url + "/_sim/"
    added = requests.post(
        url + "accounts", json={"venue": "okx", "api_key": "okx-key-1", "secret": "S", "passphrase": "P"}
    )
    placed = requests.post(
        url + "orders", json={"venue": "okx", "api_key": "okx-key-1", "instId": "ETH-USDT-SWAP", "tag": "t1"}
    )
    listed = requests.get(url + "orders", params={"venue": "okx", "api_key": "okx-key-1"})
    unknown = requests.post(url + "orders", json={"venue": "okx", "api_key": "okx-key-1", "instId": "NOPE"})

    assert added.status_code == 201 and added.json()["venue"] == "okx"
    assert placed.status_code == 201 and placed.json()["tag"] == "t1"
    assert [o["instId"] for o in listed.json()] == ["ETH-USDT-SWAP"]
    assert unknown.status_code == 400
    assert any(a.get("venue") == "okx" for a in requests.get(url + "accounts").json())


def test_faults_holds_and_skew_apply_to_okx_paths(simulator, okx_key):
    api = _sdk(simulator, okx_key)
    simulator.exchange.inject(CAA, kind="unavailable")
    refused = _caa(api, "60")
    simulator.exchange.inject(CAA, status=504, apply=True)
    lost = _caa(api, "60")  # applied, but the answer is a gateway timeout
    applied = simulator.exchange.okx.switches(okx_key.api_key)

    assert refused["code"] == "50001"
    assert lost["code"] == "50004"
    assert [s["countdown_ms"] for s in applied] == [60_000]

    simulator.exchange.inject(CAA, hold="late")
    answers = []
    sender = threading.Thread(target=lambda: answers.append(_caa(api, "0")))
    sender.start()
    assert simulator.exchange.wait_held("late") == 1
    assert simulator.exchange.okx.switches(okx_key.api_key) != []  # not applied while held
    simulator.exchange.release("late")
    sender.join(5)
    assert answers[0]["code"] == "0" and simulator.exchange.okx.switches() == []
    held = [e for e in simulator.exchange.requests_log(CAA) if e["held"]]
    assert held and held[0]["timestamp"] is not None
