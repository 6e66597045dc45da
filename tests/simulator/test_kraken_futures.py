"""The simulator's Kraken Futures paths (/derivatives/api/v3/) against clients we did not write, Kraken's own
python-kraken-sdk (its Futures Trade client) and ccxt's krakenfutures, both pointed at the simulator and
otherwise unchanged, and against raw requests signed here for the edges (signature, nonce, cost budget)."""

import base64
import hashlib
import hmac
import secrets
import threading
import time
from urllib.parse import urlencode

import ccxt
import pytest
import requests
from kraken.exceptions import (
    KrakenApiLimitExceededError,
    KrakenAuthenticationError,
)
from kraken.futures import Trade

from .conftest import wait_until

SWITCH = "/derivatives/api/v3/cancelallordersafter"


def _secret() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


class KrakenTrader:
    """One Kraken Futures key, signing as Kraken's "Futures REST" guide says."""

    def __init__(self, sim, *, register=True):
        self.sim = sim
        self.api_key = secrets.token_urlsafe(42)
        self.secret = _secret()
        self.session = requests.Session()
        if register:
            response = self.session.post(
                f"{sim.url}/_sim/accounts",
                json={"venue": "kraken_futures", "api_key": self.api_key, "secret": self.secret},
                timeout=5,
            )
            assert response.status_code == 201, response.text

    def authent(self, post_data: str, nonce: str, path: str, secret: str | None = None) -> str:
        digest = hashlib.sha256((post_data + nonce + path).encode()).digest()
        key = base64.b64decode(secret or self.secret)
        return base64.b64encode(hmac.new(key, digest, hashlib.sha512).digest()).decode()

    def call(self, method, name, params=None, *, nonce=None, sign_path=None, secret=None, where="body"):
        post_data = urlencode(params or {})
        path = f"/derivatives/api/v3/{name}"
        nonce = str(time.time_ns() // 1000) if nonce is None else nonce
        headers = {
            "APIKey": self.api_key,
            "Authent": self.authent(post_data, nonce, sign_path or path.removeprefix("/derivatives"), secret),
        }
        if nonce:
            headers["Nonce"] = nonce
        url = f"{self.sim.url}{path}"
        if where == "body" and method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return self.session.post(url, data=post_data, headers=headers, timeout=5)
        return self.session.request(
            method, url + (f"?{post_data}" if post_data else ""), headers=headers, timeout=5
        )


def _sdk(sim, trader: KrakenTrader) -> Trade:
    return Trade(key=trader.api_key, secret=trader.secret, url=sim.url)


def _ccxt(sim, trader: KrakenTrader):
    exchange = ccxt.krakenfutures(
        {"apiKey": trader.api_key, "secret": trader.secret, "enableRateLimit": False}
    )
    for api in ("public", "private"):
        exchange.urls["api"][api] = f"{sim.url}/derivatives/api/"
    return exchange


def _place(sim, trader, symbol="PF_XBTUSD", price="50000"):
    response = requests.post(
        f"{sim.url}/_sim/orders",
        json={"api_key": trader.api_key, "symbol": symbol, "price": price, "quantity": "0.01"},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    return response.json()["orderId"]


def test_the_sdk_arms_renews_and_disarms_the_switch(simulator):
    trader = KrakenTrader(simulator)
    sdk = _sdk(simulator, trader)

    armed = sdk.dead_mans_switch(timeout=60)
    first = simulator.exchange.countdowns()[0]
    renewed = sdk.dead_mans_switch(timeout=90)
    second = simulator.exchange.countdowns()[0]
    disarmed = sdk.dead_mans_switch(timeout=0)

    assert armed["result"] == "success" and armed["status"]["triggerTime"] != "0"
    assert (first["venue"], first["symbol"], first["countdown_ms"]) == ("kraken_futures", "", 60_000)
    assert second["countdown_ms"] == 90_000 and second["armed_at"] >= first["armed_at"]
    assert renewed["status"]["currentTime"] <= renewed["status"]["triggerTime"]
    assert disarmed["status"]["triggerTime"] == "0"
    assert simulator.exchange.countdowns() == []


def test_ccxt_arms_renews_and_disarms_the_switch_without_a_nonce(simulator):
    trader = KrakenTrader(simulator)
    exchange = _ccxt(simulator, trader)

    armed = exchange.cancel_all_orders_after(60_000)  # ccxt takes milliseconds and sends seconds
    renewed = exchange.cancel_all_orders_after(30_000)
    countdown = simulator.exchange.countdowns()[0]
    disarmed = exchange.cancel_all_orders_after(0)

    assert armed["result"] == renewed["result"] == "success"
    assert countdown["countdown_ms"] == 30_000
    assert disarmed["status"]["triggerTime"] == "0"
    sent = simulator.exchange.requests_log(SWITCH)
    assert [e["nonce"] for e in sent] == [None, None, None]  # ccxt signs without one: Kraken allows it
    assert [e["status"] for e in sent] == [200, 200, 200]


def test_expiry_cancels_every_resting_order_of_the_account_only(simulator):
    trader, other = KrakenTrader(simulator), KrakenTrader(simulator)
    ids = [_place(simulator, trader, "PF_XBTUSD"), _place(simulator, trader, "PF_ETHUSD", "3000")]
    kept = _place(simulator, other)
    sdk = _sdk(simulator, trader)
    listed = sdk.request("GET", "/derivatives/api/v3/openorders")

    sdk.dead_mans_switch(timeout=1)
    record = wait_until(lambda: simulator.exchange.cancellations(trader.api_key))[0]

    assert {o["symbol"] for o in listed["openOrders"]} == {"PF_XBTUSD", "PF_ETHUSD"}
    assert sorted(record["order_ids"]) == sorted(ids)
    assert (record["venue"], record["symbol"]) == ("kraken_futures", "")
    assert record["cancelled_at"] - record["armed_at"] == pytest.approx(1.0, abs=0.2)
    assert simulator.exchange.open_orders(trader.api_key) == []
    assert [o["orderId"] for o in simulator.exchange.open_orders(other.api_key)] == [kept]
    assert simulator.exchange.countdowns() == []  # the timer stays disabled once it fired


def test_orders_are_placed_listed_and_cancelled_per_symbol(simulator):
    trader = KrakenTrader(simulator)
    sdk = _sdk(simulator, trader)
    placed = sdk.create_order(orderType="lmt", size=0.01, symbol="PF_ETHUSD", side="buy", limitPrice=3000)
    _place(simulator, trader, "PF_XBTUSD")

    cancelled = sdk.cancel_all_orders(symbol="PF_ETHUSD")
    left = _ccxt(simulator, trader).fetch_open_orders()

    assert placed["sendStatus"]["status"] == "placed"
    assert cancelled["cancelStatus"]["cancelledOrders"] == [{"order_id": placed["sendStatus"]["order_id"]}]
    assert [o["info"]["symbol"] for o in left] == ["PF_XBTUSD"]


def test_a_wrong_signature_gets_kraken_authentication_error(simulator):
    trader = KrakenTrader(simulator)
    forged = Trade(key=trader.api_key, secret=_secret(), url=simulator.url)
    unknown = Trade(key="nobody", secret=trader.secret, url=simulator.url)

    for client in (forged, unknown):
        with pytest.raises(KrakenAuthenticationError):
            client.dead_mans_switch(timeout=60)
    with_prefix = trader.call("POST", "cancelallordersafter", {"timeout": 60}, sign_path=SWITCH)
    exchange = _ccxt(simulator, trader)
    exchange.secret = _secret()
    with pytest.raises(ccxt.AuthenticationError):
        exchange.cancel_all_orders_after(60_000)

    # The path is hashed without /derivatives, as Kraken's guide and both clients do.
    assert with_prefix.status_code == 200
    assert with_prefix.json()["result"] == "error"
    assert with_prefix.json()["error"] == "authenticationError"
    assert simulator.exchange.countdowns() == []


def test_nonces_out_of_order_are_tolerated_briefly_and_duplicates_never(simulator):
    trader = KrakenTrader(simulator)
    simulator.exchange.set_kraken_nonce_tolerance(0.2)
    base = time.time_ns() // 1000

    first = trader.call("POST", "cancelallordersafter", {"timeout": 60}, nonce=str(base))
    late_but_brief = trader.call("POST", "cancelallordersafter", {"timeout": 61}, nonce=str(base - 5))
    duplicate = trader.call("POST", "cancelallordersafter", {"timeout": 62}, nonce=str(base))
    time.sleep(0.3)
    too_late = trader.call("POST", "cancelallordersafter", {"timeout": 63}, nonce=str(base - 3))
    higher = trader.call("POST", "cancelallordersafter", {"timeout": 0}, nonce=str(base + 1))

    assert first.json()["result"] == late_but_brief.json()["result"] == "success"
    assert duplicate.json()["error"] == "nonceDuplicate"
    assert too_late.json()["error"] == "nonceBelowThreshold"
    assert higher.json()["status"]["triggerTime"] == "0"
    assert simulator.exchange.countdowns() == []


def test_a_late_arm_signed_before_a_disarm_is_refused_once_the_tolerance_has_passed(simulator):
    trader = KrakenTrader(simulator)
    simulator.exchange.set_kraken_nonce_tolerance(0.1)
    requests.post(
        f"{simulator.url}/_sim/faults",
        json={"path": SWITCH, "countdown_ms": 60_000, "hold": "arm"},
        timeout=5,
    )
    arm_nonce = str(time.time_ns() // 1000)
    results = {}
    sender = threading.Thread(
        target=lambda: results.setdefault(
            "arm", trader.call("POST", "cancelallordersafter", {"timeout": 60}, nonce=arm_nonce)
        )
    )
    sender.start()
    simulator.exchange.wait_held("arm")
    disarm = trader.call("POST", "cancelallordersafter", {"timeout": 0})
    time.sleep(0.2)
    simulator.exchange.release("arm")
    sender.join(5)

    assert disarm.json()["status"]["triggerTime"] == "0"
    assert results["arm"].json()["error"] == "nonceBelowThreshold"
    assert simulator.exchange.countdowns() == []


def test_the_cost_budget_answers_api_limit_exceeded(simulator):
    trader = KrakenTrader(simulator)
    sdk = _sdk(simulator, trader)

    for _ in range(20):  # 20 x 25 = 500, the pool
        sdk.dead_mans_switch(timeout=60)
    with pytest.raises(KrakenApiLimitExceededError):
        sdk.dead_mans_switch(timeout=60)
    exchange = _ccxt(simulator, trader)
    exchange.markets = exchange.load_markets()  # public: costs nothing, so it still works
    with pytest.raises(ccxt.RateLimitExceeded):
        exchange.cancel_all_orders_after(60_000)
    time.sleep(0.6)  # 500 every 10 s: 25 come back within half a second

    assert sdk.dead_mans_switch(timeout=60)["result"] == "success"
    refused = [e for e in simulator.exchange.requests_log(SWITCH) if e["code"] == "apiLimitExceeded"]
    assert len(refused) == 2 and all(e["status"] == 200 and e["weight"] == 0 for e in refused)


def test_faults_skew_and_the_log_work_on_kraken_paths(simulator):
    trader = KrakenTrader(simulator)
    sdk = _sdk(simulator, trader)
    simulator.exchange.set_skew(3_600_000)
    simulator.exchange.inject(path=SWITCH, status=503, body={"result": "error", "error": "Unavailable"})

    with pytest.raises(Exception, match="503"):  # the SDK raises a plain Exception for a non-200
        sdk.dead_mans_switch(timeout=60)
    answer = sdk.dead_mans_switch(timeout=60)

    server_hour = time.strftime("%H", time.gmtime(time.time() + 3600))
    assert answer["serverTime"][11:13] == server_hour
    entries = simulator.exchange.requests_log(SWITCH)
    assert [(e["status"], e["fault"] is not None, e["applied_at"] is not None) for e in entries] == [
        (503, True, False),
        (200, False, True),
    ]
    assert all(e["api_key_last4"] == trader.api_key[-4:] and e["countdown_ms"] == 60_000 for e in entries)


def test_kraken_keys_and_binance_keys_stay_on_their_own_paths(simulator, trader):
    kraken_trader = KrakenTrader(simulator)
    binance_key_on_kraken = Trade(key=trader.api_key, secret=kraken_trader.secret, url=simulator.url)

    with pytest.raises(KrakenAuthenticationError):
        binance_key_on_kraken.dead_mans_switch(timeout=60)
    bad_secret = requests.post(
        f"{simulator.url}/_sim/accounts",
        json={"venue": "kraken_futures", "api_key": "x", "secret": "not base64!"},
        timeout=5,
    )

    assert bad_secret.status_code == 400 and "not base64" not in bad_secret.text
