"""The Binance Options client against the simulator's /eapi: the kill switch per underlying (configure, read,
heartbeat, turn off), the local refusal of a countdown Binance refuses, orders cancelled by underlying, and
the options error codes read into the same error tree as futures'."""

import secrets
import time

import pytest

from heartbeats.exchange.client import FuturesClient
from heartbeats.exchange.errors import (
    FatalError,
    OutcomeUnknownError,
    RateLimitedError,
    TemporaryError,
    TimestampError,
    classify,
)
from heartbeats.exchange.factory import make_client
from heartbeats.exchange.options import HeartbeatResult, OptionsClient, UnderlyingCountdown
from heartbeats.exchange.signing import load_signer

from .conftest import KEYS, RecordingSigner

EAPI = "/eapi/v1"
BTC_CALL = "BTC-261225-100000-C"
BTC_PUT = "BTC-261225-90000-P"
ETH_CALL = "ETH-261225-3000-C"


@pytest.fixture
def make_options_client(simulator):
    """make_options_client(key="hmac", **client_options) -> OptionsClient with a fresh API key the simulator
    knows (with the options permission)."""
    clients = []

    def make(key="hmac", **options):
        key_type, secret, passphrase, exchange_material = KEYS[key]
        api_key = secrets.token_hex(32)
        simulator.exchange.add_account(api_key, key_type, exchange_material)
        signer = RecordingSigner(load_signer(key_type, secret, passphrase))
        options.setdefault("connect_timeout", 1.0)
        options.setdefault("read_timeout", 2.0)
        client = OptionsClient(simulator.url, api_key, signer, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _calls(simulator, since: int = 0):
    return [
        (e["method"], e["path"].removeprefix(EAPI + "/"), e["status"], e["code"])
        for e in simulator.exchange.requests_log()[since:]
    ]


def _armed_at(simulator, underlying):
    return next(
        c["armed_at"] for c in simulator.exchange.option_countdowns() if c["underlying"] == underlying
    )


@pytest.mark.parametrize("key", ["hmac", "ed25519", "rsa"])
def test_it_configures_reads_renews_and_turns_off_a_switch(simulator, make_options_client, key):
    client = make_options_client(key)

    ack = client.set_countdown("BTCUSDT", 30_000)
    weight_after_set = client.used_weight
    every = client.countdowns()
    one = client.countdowns("BTCUSDT")
    none = client.countdowns("ETHUSDT")
    before = _armed_at(simulator, "BTCUSDT")
    beat = client.heartbeat(["BTCUSDT", "ETHUSDT"])
    after = _armed_at(simulator, "BTCUSDT")

    assert (ack.underlying, ack.countdown_ms, ack.http_status) == ("BTCUSDT", 30_000, 200)
    assert ack.sent_at <= ack.received_at and ack.timestamp_ms is not None
    assert every == one == [UnderlyingCountdown("BTCUSDT", 30_000)]
    assert none == []
    assert isinstance(beat, HeartbeatResult)
    assert beat.asked == ("BTCUSDT", "ETHUSDT")
    assert beat.renewed == {"BTCUSDT"}
    assert beat.missing == ("ETHUSDT",)  # no switch there: not renewed, a failure to show
    assert beat.ok is False
    assert after > before
    # time (1, the first sync), set (1), three reads (1 each), the heartbeat (10).
    assert (weight_after_set, beat.used_weight) == (2, 15)
    assert _calls(simulator) == [
        ("GET", "time", 200, None),
        ("POST", "countdownCancelAll", 200, None),
        ("GET", "countdownCancelAll", 200, None),
        ("GET", "countdownCancelAll", 200, None),
        ("GET", "countdownCancelAll", 200, None),
        ("POST", "countdownCancelAllHeartBeat", 200, None),
    ]

    off = client.set_countdown("BTCUSDT", 0)

    assert (off.underlying, off.countdown_ms) == ("BTCUSDT", 0)
    assert simulator.exchange.option_countdowns() == []
    assert client.countdowns() == []
    assert client.heartbeat(["BTCUSDT"]).missing == ("BTCUSDT",)


def test_a_heartbeat_of_every_armed_underlying_is_ok(simulator, make_options_client):
    client = make_options_client()
    client.set_countdown("BTCUSDT", 10_000)
    client.set_countdown("ETHUSDT", 60_000)

    beat = client.heartbeat("ETHUSDT,BTCUSDT,ETHUSDT")

    assert beat.asked == ("ETHUSDT", "BTCUSDT")
    assert (beat.renewed, beat.missing, beat.ok) == ({"BTCUSDT", "ETHUSDT"}, (), True)
    assert simulator.exchange.requests_log()[-1]["path"] == f"{EAPI}/countdownCancelAllHeartBeat"


def test_switch_calls_are_signed_at_the_moment_given(simulator, make_options_client):
    client = make_options_client()
    client.sync_time()
    at = time.time() - 1.0  # when the caller checked that they are still wanted

    ack = client.set_countdown("BTCUSDT", 10_000, signed_at=at)
    beat = client.heartbeat(["BTCUSDT"], signed_at=at)

    assert ack.timestamp_ms == beat.timestamp_ms == int(at * 1000) + client.offset_ms
    assert beat.ok


@pytest.mark.parametrize("countdown_ms", [1, 3_000, 4_999])
def test_it_refuses_a_countdown_binance_refuses_without_sending_it(
    simulator, make_options_client, countdown_ms
):
    client = make_options_client()

    with pytest.raises(ValueError, match="5,000 ms"):
        client.set_countdown("BTCUSDT", countdown_ms)

    assert simulator.exchange.requests_log() == []
    assert client.set_countdown("BTCUSDT", 5_000).countdown_ms == 5_000  # the bound itself is accepted


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.set_countdown("btcusdt", 10_000),
        lambda c: c.set_countdown("BTCUSDT", -1),
        lambda c: c.set_countdown("BTCUSDT", True),
        lambda c: c.heartbeat([]),
        lambda c: c.heartbeat(["BTC USDT"]),
        lambda c: c.cancel_all_open_orders("BTC-261225-100000-C&x=1"),
    ],
    ids=["lower-case", "negative", "bool", "no-underlying", "space", "injected-parameter"],
)
def test_it_refuses_malformed_arguments_without_sending(simulator, make_options_client, call):
    client = make_options_client()
    with pytest.raises(ValueError):
        call(client)
    assert simulator.exchange.requests_log() == []


@pytest.mark.parametrize("key", ["hmac", "ed25519"])
def test_an_unknown_underlying_is_fatal_with_binances_message(simulator, make_options_client, key):
    client = make_options_client(key)

    with pytest.raises(FatalError) as configured:
        client.set_countdown("NOPEUSDT", 10_000)
    with pytest.raises(FatalError) as read:
        client.countdowns("BTCUSD")

    for error, endpoint in ((configured.value, "POST"), (read.value, "GET")):
        assert type(error) is FatalError
        assert (error.http_status, error.code, error.msg) == (400, -1128, "Invalid underlying")
        assert error.endpoint == f"{endpoint} {EAPI}/countdownCancelAll"
        assert error.used_weight is not None
    assert simulator.exchange.option_countdowns() == []


@pytest.mark.parametrize("skew_ms", [3000, -3000], ids=["exchange-ahead", "exchange-behind"])
@pytest.mark.parametrize("key", ["hmac", "ed25519"])
def test_a_skewed_clock_raises_timestamp_error_once_and_a_resync_repairs_it(
    simulator, make_options_client, key, skew_ms
):
    client = make_options_client(key, recv_window=2000)
    client.set_countdown("BTCUSDT", 30_000)
    simulator.exchange.set_skew(skew_ms)
    before = len(simulator.exchange.requests_log())

    with pytest.raises(TimestampError) as configured:
        client.set_countdown("BTCUSDT", 30_000)
    with pytest.raises(TimestampError):
        client.heartbeat(["BTCUSDT"])

    assert (configured.value.http_status, configured.value.code) == (400, -1021)
    # Neither synced nor retried inside: the caller decides again after a sync.
    assert _calls(simulator, before) == [
        ("POST", "countdownCancelAll", 400, -1021),
        ("POST", "countdownCancelAllHeartBeat", 400, -1021),
    ]
    client.sync_time()
    assert abs(client.offset_ms - skew_ms) <= 50
    assert client.set_countdown("BTCUSDT", 30_000).countdown_ms == 30_000
    assert client.heartbeat(["BTCUSDT"]).ok
    assert _calls(simulator, before)[2:] == [
        ("GET", "time", 200, None),
        ("POST", "countdownCancelAll", 200, None),
        ("POST", "countdownCancelAllHeartBeat", 200, None),
    ]


def test_a_signed_read_resyncs_and_retries_once_on_a_skewed_clock(simulator, make_options_client):
    client = make_options_client(recv_window=2000)
    client.countdowns()
    simulator.exchange.set_skew(-3000)
    before = len(simulator.exchange.requests_log())

    assert client.countdowns() == []

    assert _calls(simulator, before) == [
        ("GET", "countdownCancelAll", 400, -1021),
        ("GET", "time", 200, None),
        ("GET", "countdownCancelAll", 200, None),
    ]


def test_429_is_rate_limited_with_retry_after(simulator, make_options_client):
    client = make_options_client()
    client.sync_time()
    simulator.exchange.inject(
        f"{EAPI}/countdownCancelAllHeartBeat", status=429, code=-1008, msg="Too many requests.", retry_after=7
    )

    with pytest.raises(RateLimitedError) as caught:
        client.heartbeat(["BTCUSDT"])

    error = caught.value
    assert (error.http_status, error.code, error.retry_after, error.banned) == (429, -1008, 7.0, False)
    assert error.endpoint == f"POST {EAPI}/countdownCancelAllHeartBeat"


def test_418_is_banned(simulator, make_options_client):
    client = make_options_client()
    client.sync_time()
    simulator.exchange.inject(f"{EAPI}/countdownCancelAll", status=418, code=-1008, retry_after=120)

    with pytest.raises(RateLimitedError) as caught:
        client.set_countdown("BTCUSDT", 10_000)

    assert (caught.value.http_status, caught.value.banned, caught.value.retry_after) == (418, True, 120.0)


def test_the_exchanges_own_options_limiter_is_rate_limited(make_options_client, simulator):
    simulator.exchange.set_limits(weight_limit=12)
    client = make_options_client()
    client.sync_time()  # 1
    client.heartbeat(["BTCUSDT"])  # 11

    with pytest.raises(RateLimitedError) as caught:
        client.heartbeat(["BTCUSDT"])

    error = caught.value
    assert (error.http_status, error.code, error.banned) == (429, -1008, False)
    assert 1 <= error.retry_after <= 60


def test_an_answer_that_does_not_acknowledge_the_heartbeat_is_outcome_unknown(simulator, make_options_client):
    client = make_options_client()
    client.sync_time()
    simulator.exchange.inject(
        f"{EAPI}/countdownCancelAllHeartBeat", status=200, body={"underlyings": ["XRPUSDT"]}
    )

    with pytest.raises(OutcomeUnknownError):
        client.heartbeat(["BTCUSDT"])


def test_cancelling_by_underlying_cancels_only_that_underlyings_orders(simulator, make_options_client):
    client = make_options_client()
    btc_call = client.place_order(BTC_CALL, "BUY", "0.1", "100")
    btc_put = client.place_order(BTC_PUT, "SELL", "0.2", "200")
    eth_call = client.place_order(ETH_CALL, "BUY", "0.3", "50")

    assert {o["orderId"] for o in client.open_orders(underlying="BTCUSDT")} == {
        btc_call["orderId"],
        btc_put["orderId"],
    }
    assert client.cancel_all_by_underlying("BTCUSDT")["code"] == 0

    assert [o["orderId"] for o in client.open_orders()] == [eth_call["orderId"]]
    assert client.query_order(BTC_CALL, btc_call["orderId"])["status"] == "CANCELLED"
    assert client.query_order(ETH_CALL, eth_call["orderId"])["status"] == "ACCEPTED"

    assert client.cancel_all_open_orders(ETH_CALL)["code"] == 0
    assert client.open_orders(ETH_CALL) == []
    client.check_key()
    assert [e["path"] for e in simulator.exchange.requests_log()[-6:]] == [
        f"{EAPI}/openOrders",
        f"{EAPI}/order",
        f"{EAPI}/order",
        f"{EAPI}/allOpenOrders",
        f"{EAPI}/openOrders",
        f"{EAPI}/openOrders",
    ]


def test_it_reads_time_and_the_listed_underlyings(simulator, make_options_client):
    simulator.exchange.set_skew(2000)
    client = make_options_client()

    assert abs(client.sync_time() - 2000) <= 50
    assert client.underlyings() == {"BNBUSDT", "BTCUSDT", "ETHUSDT"}
    assert client.weight_limit == simulator.exchange.limiter.limit
    assert [e["path"] for e in simulator.exchange.requests_log()] == [f"{EAPI}/time", f"{EAPI}/exchangeInfo"]
    assert repr(client).startswith(f"<OptionsClient {simulator.url}/eapi api_key=…")


def test_a_key_without_the_options_permission_is_fatal(simulator, make_options_client):
    client = make_options_client()
    simulator.exchange.add_account(
        client._api_key, "hmac", KEYS["hmac"][3], options=False
    )  # the same key, its options permission taken away

    with pytest.raises(FatalError) as caught:
        client.check_key()

    assert (caught.value.http_status, caught.value.code) == (401, -2015)


def test_the_futures_client_refuses_options_and_the_factory_picks_the_options_client(simulator):
    with pytest.raises(ValueError, match="Options is not a futures venue"):
        FuturesClient(simulator.url, "options")
    with make_client(simulator.url, "options") as made:
        assert isinstance(made, OptionsClient)
    with make_client(simulator.url, "coinm") as made:
        assert isinstance(made, FuturesClient) and made.prefix == "/dapi"


@pytest.mark.parametrize(
    ("status", "code", "futures", "options"),
    [
        (400, -1008, TemporaryError, RateLimitedError),
        (503, -1008, TemporaryError, RateLimitedError),
        (429, -1008, RateLimitedError, RateLimitedError),
        (418, -1008, RateLimitedError, RateLimitedError),
        (400, -1128, FatalError, FatalError),
        (400, -1130, FatalError, FatalError),
        (503, -1128, TemporaryError, FatalError),
        (400, -1021, TimestampError, TimestampError),
        (400, -1022, FatalError, FatalError),
        (401, -2014, FatalError, FatalError),
        (401, -2015, FatalError, FatalError),
        (503, -1001, TemporaryError, TemporaryError),
    ],
)
def test_options_codes_are_read_as_options_means_them(status, code, futures, options):
    assert type(classify(status, code, "", mutating=True)) is futures
    assert type(classify(status, code, "", mutating=True, venue="usdm")) is futures
    assert type(classify(status, code, "", mutating=True, venue="options")) is options
