"""KrakenFuturesClient against the simulator's Kraken Futures paths: the switch, the key check, orders, and
the reading of every failure into heartbeats.exchange.errors."""

import base64
import logging
import pickle
import secrets
import threading
import time

import pytest

from heartbeats.exchange import kraken
from heartbeats.exchange.client import CountdownAck
from heartbeats.exchange.errors import (
    FatalError,
    InvalidKeyError,
    OutcomeUnknownError,
    RateLimitedError,
    TemporaryError,
    TimestampError,
)
from heartbeats.exchange.kraken import KrakenFuturesClient, KrakenFuturesSigner

SWITCH = "/derivatives/api/v3/cancelallordersafter"


@pytest.fixture
def make_kraken(simulator):
    clients = []

    def make(*, register=True, secret=None, base_url=None, **options):
        api_key = secrets.token_urlsafe(42)
        secret = secret or base64.b64encode(secrets.token_bytes(64)).decode()
        if register:
            simulator.exchange.add_kraken_account(api_key, secret)
        options.setdefault("connect_timeout", 1.0)
        options.setdefault("read_timeout", 2.0)
        client = KrakenFuturesClient(
            base_url or simulator.url, api_key, KrakenFuturesSigner(secret), **options
        )
        client.api_key_for_tests, client.secret_for_tests = api_key, secret
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_it_arms_renews_and_disarms_the_account_switch(simulator, make_kraken):
    client = make_kraken()

    armed = client.countdown("", 60_000)
    renewed = client.countdown("", 30_000)
    countdown = simulator.exchange.countdowns()[0]
    disarmed = client.countdown("", 0)

    assert isinstance(armed, CountdownAck)
    assert (armed.symbol, armed.countdown_ms, armed.http_status, armed.used_weight) == ("", 60_000, 200, None)
    assert armed.sent_at <= armed.received_at and armed.latency_ms >= 0
    assert armed.timestamp_ms == pytest.approx(armed.sent_at * 1000, abs=50)
    assert renewed.countdown_ms == 30_000 and countdown["countdown_ms"] == 30_000
    assert disarmed.countdown_ms == 0 and simulator.exchange.countdowns() == []
    nonces = [int(e["nonce"]) for e in simulator.exchange.requests_log(SWITCH)]
    assert nonces == sorted(set(nonces))


@pytest.mark.parametrize("countdown_ms", [500, 1500, -1000, 2**32 * 1000, True, 1.0, "60000"])
def test_it_refuses_countdowns_kraken_cannot_take_and_sends_nothing(simulator, make_kraken, countdown_ms):
    client = make_kraken()

    with pytest.raises(ValueError):
        client.countdown("", countdown_ms)
    with pytest.raises(ValueError, match="scope"):
        client.countdown("PF_XBTUSD", 60_000)

    assert simulator.exchange.requests_log() == []


def test_the_facts_the_engine_reads(make_kraken):
    client = make_kraken()

    assert (kraken.MIN_COUNTDOWN_MS, kraken.MAX_COUNTDOWN_MS) == (1000, (2**32 - 1) * 1000)
    assert (kraken.RATE_LIMIT_BUDGET, kraken.RATE_LIMIT_WINDOW_S, kraken.RATE_LIMIT_SCOPE) == (
        500,
        10.0,
        "account",
    )
    assert kraken.COSTS["cancelallordersafter"] == kraken.COSTS["cancelallorders"] == 25
    assert kraken.COSTS["openorders"] == 2
    assert kraken.ACCEPT_AFTER_SIGNING_S is None and kraken.LOWER_NONCE_REFUSED_AT_ONCE is False
    assert (client.used_weight, client.used_weight_at, client.weight_limit) == (None, None, None)


def test_it_measures_the_clock_from_server_time(simulator, make_kraken):
    client = make_kraken()
    simulator.exchange.set_skew(-2_000)

    offset = client.sync_time()

    assert offset == client.offset_ms == pytest.approx(-2_000, abs=30)
    assert client.offset_error_ms is not None and client.synced_at is not None


def test_it_checks_the_key_lists_and_cancels_orders(simulator, make_kraken):
    client = make_kraken()
    simulator.exchange.place_order(client.api_key_for_tests, "PF_XBTUSD", "BUY", "50000", "0.01")
    simulator.exchange.place_order(client.api_key_for_tests, "PF_ETHUSD", "SELL", "4000", "0.1")

    client.check_key()
    listed = client.open_orders()
    one = client.cancel_all("PF_ETHUSD")
    rest = client.cancel_all()

    assert {o["symbol"] for o in listed} == {"PF_XBTUSD", "PF_ETHUSD"}
    assert (one["cancelOnly"], len(one["cancelledOrders"])) == ("PF_ETHUSD", 1)
    assert (rest["cancelOnly"], len(rest["cancelledOrders"])) == ("all", 1)
    assert client.open_orders() == []


def test_an_unknown_key_or_wrong_secret_is_fatal(make_kraken):
    unknown = make_kraken(register=False)
    forged = make_kraken()
    forged._signer = KrakenFuturesSigner(base64.b64encode(b"another secret").decode())

    for client in (unknown, forged):
        with pytest.raises(FatalError, match="authenticationError") as raised:
            client.countdown("", 60_000)
        assert raised.value.http_status == 200


def test_the_cost_budget_is_rate_limited_with_a_retry_after(make_kraken):
    client = make_kraken()
    for _ in range(20):
        client.countdown("", 60_000)

    with pytest.raises(RateLimitedError) as raised:
        client.countdown("", 60_000)

    assert raised.value.retry_after == pytest.approx(0.5)  # 25 at 500 per 10 s
    assert not raised.value.banned


def test_a_nonce_below_the_threshold_is_a_timestamp_error(simulator, make_kraken):
    client = make_kraken()
    simulator.exchange.set_kraken_nonce_tolerance(0.05)
    client.countdown("", 60_000)
    time.sleep(0.1)
    client._last_nonce = 0  # as a twin process with the same key and a clock behind would sign

    with pytest.raises(TimestampError, match="nonceBelowThreshold"):
        client.countdown("", 60_000, signed_at=time.time() - 10)


def test_nonces_increase_strictly_across_threads(make_kraken):
    client = make_kraken()
    seen, lock = [], threading.Lock()

    def take():
        for _ in range(200):
            nonce = int(client._nonce(1_000.0))
            with lock:
                seen.append(nonce)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(seen)) == len(seen) == 1600


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"result": "error", "error": "Unavailable"}, TemporaryError),
        (200, {"result": "error", "error": "nonceDuplicate"}, TemporaryError),
        (200, {"result": "error", "error": "Server Error"}, OutcomeUnknownError),
        (200, {"result": "error", "error": "unknownError"}, OutcomeUnknownError),
        (200, {"result": "error", "error": "requiredArgumentMissing"}, FatalError),
        (200, {"result": "success"}, OutcomeUnknownError),  # not an acknowledgement of this request
        (200, "<html>maintenance</html>", OutcomeUnknownError),
        (429, "Too Many Requests", RateLimitedError),
        (502, "Bad Gateway", TemporaryError),
        (504, "Gateway Timeout", OutcomeUnknownError),
        (403, "Forbidden", FatalError),
    ],
)
def test_each_failure_maps_to_the_error_tree(simulator, make_kraken, status, body, expected):
    client = make_kraken()
    simulator.exchange.inject(path=SWITCH, status=status, body=body)

    with pytest.raises(expected) as raised:
        client.countdown("", 60_000)

    assert type(raised.value) is expected
    assert raised.value.endpoint == f"POST {SWITCH}"
    assert len(simulator.exchange.requests_log(SWITCH)) == 1  # never retried inside


def test_a_read_timeout_or_a_dropped_connection_leaves_the_outcome_unknown(simulator, make_kraken):
    client = make_kraken(read_timeout=0.3)
    simulator.exchange.inject(path=SWITCH, latency_ms=600)
    with pytest.raises(OutcomeUnknownError, match="No answer"):
        client.countdown("", 60_000)
    simulator.exchange.inject(path=SWITCH, drop=True, apply=True)
    with pytest.raises(OutcomeUnknownError, match="Connection lost"):
        client.countdown("", 60_000)
    with pytest.raises(TemporaryError):  # a GET changes nothing: its failure is only temporary
        simulator.exchange.inject(path="/derivatives/api/v3/openorders", drop=True)
        client.open_orders()


def test_a_refused_connection_is_temporary(make_kraken, closed_port):
    client = make_kraken(base_url=f"http://127.0.0.1:{closed_port}")

    with pytest.raises(TemporaryError, match="Could not connect"):
        client.countdown("", 60_000)


def test_secrets_stay_out_of_reprs_errors_and_logs(simulator, make_kraken, caplog):
    client = make_kraken()
    forged = make_kraken()
    forged._signer = KrakenFuturesSigner(base64.b64encode(b"x" * 32).decode())
    caplog.set_level(logging.DEBUG)

    client.countdown("", 60_000)
    with pytest.raises(FatalError) as raised:
        forged.countdown("", 60_000)

    text = " ".join([repr(client), repr(client._signer), str(raised.value), repr(raised.value), caplog.text])
    for secret in (client.api_key_for_tests, client.secret_for_tests, forged.api_key_for_tests):
        assert secret not in text
    assert client.api_key_for_tests[-4:] in repr(client)
    with pytest.raises(TypeError):
        pickle.dumps(client._signer)


@pytest.mark.parametrize("secret", ["", "   ", "not base64!", "YWJj*", None])
def test_a_malformed_secret_is_an_invalid_key_error(secret):
    with pytest.raises(InvalidKeyError) as raised:
        KrakenFuturesSigner(secret)

    if secret and secret.strip():
        assert secret not in str(raised.value)


def test_the_signature_is_krakens_documented_one():
    # The example inputs of Kraken's "Futures REST" guide (its secret printed without the base64 padding,
    # restored here); the expected value computed as the guide's five steps say, with the standard library.
    import hashlib
    import hmac

    secret = "rttp4AzwRfYEdQ7R7X8Z/04Y4TZPa97pqCypi3xXxAqftygftnI6H9yGV+OcUOOJeFtZkr8mVwbAndU3Kz4Q+eG="
    post_data, nonce, path = "symbol=fi_xbtusd_180615", "1415957147987", "/api/v3/orderbook"
    digest = hashlib.sha256((post_data + nonce + path).encode()).digest()
    expected = base64.b64encode(hmac.new(base64.b64decode(secret), digest, hashlib.sha512).digest()).decode()

    assert KrakenFuturesSigner(secret).sign(post_data, nonce, path) == expected
