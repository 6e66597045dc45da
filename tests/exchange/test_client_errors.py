"""Every class of the error tree, produced by the simulator (real refusals where it can, injected faults
where only an outage would), each carrying the HTTP status, code, message and used weight."""

import pytest

from heartbeats.exchange.errors import (
    ExchangeError,
    FatalError,
    OutcomeUnknownError,
    RateLimitedError,
    TemporaryError,
)
from simulator import Simulator

from .conftest import KEYS

COUNTDOWN = "/fapi/v1/countdownCancelAll"


def _fail(client, expected, call=None):
    with pytest.raises(expected) as caught:
        (call or (lambda: client.countdown("BTCUSDT", 60_000)))()
    error = caught.value
    assert type(error) is expected, repr(error)
    assert error.__context__ is None and error.__cause__ is None
    return error


def _assert_facts(error, simulator, status, code):
    assert (error.http_status, error.code) == (status, code)
    assert error.msg
    # The used weight the exchange reported with this very answer.
    assert error.used_weight is not None
    assert error.used_weight == simulator.exchange.used_weight()
    assert error.endpoint == "POST /fapi/v1/countdownCancelAll"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"kind": "unavailable"}, 503, -1001),
        ({"kind": "internal"}, 503, -1001),
        ({"kind": "busy"}, 503, -1008),
        ({"code": -1001}, 503, -1001),
        ({"status": 502}, 502, -1001),
    ],
    ids=["503-service-unavailable", "503-internal", "-1008", "-1001", "502"],
)
def test_it_raises_temporary_errors_for_failures_that_changed_nothing(
    simulator, make_client, fault, status, code
):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, **fault)
    error = _fail(client, TemporaryError)
    _assert_facts(error, simulator, status, code)
    assert simulator.exchange.countdowns() == []


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"kind": "unknown"}, 503, -1006),
        ({"kind": "timeout"}, 503, -1007),
        ({"code": -1006, "status": 500}, 500, -1006),
        ({"status": 500}, 500, -1000),
        ({"status": 504}, 504, -1007),
    ],
    ids=["503-unknown", "-1007", "-1006", "500-unknown", "504"],
)
def test_it_raises_outcome_unknown_when_the_request_may_have_been_applied(
    simulator, make_client, fault, status, code
):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, apply=True, **fault)
    error = _fail(client, OutcomeUnknownError)
    _assert_facts(error, simulator, status, code)
    # It was in fact applied: exactly why "unknown" must never be read as "failed".
    assert [c["symbol"] for c in simulator.exchange.countdowns()] == ["BTCUSDT"]


def test_it_raises_rate_limited_with_retry_after(simulator, make_client):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, kind="rate_limited", retry_after=7)
    error = _fail(client, RateLimitedError)
    _assert_facts(error, simulator, 429, -1003)
    assert error.retry_after == 7.0 and error.banned is False


def test_it_raises_rate_limited_and_banned_on_418(simulator, make_client):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, status=418, code=-1003, retry_after=120)
    error = _fail(client, RateLimitedError)
    _assert_facts(error, simulator, 418, -1003)
    assert error.banned is True and error.retry_after == 120.0


def test_it_is_rate_limited_then_banned_by_the_exchanges_own_limiter():
    from heartbeats.exchange.client import FuturesClient
    from heartbeats.exchange.signing import load_signer

    with Simulator(weight_limit=25, ban_after=0) as sim:
        key_type, secret, _, material = KEYS["hmac"]
        sim.exchange.add_account("limited-key-0001", key_type, material)
        with FuturesClient(sim.url, "usdm", "limited-key-0001", load_signer(key_type, secret)) as client:
            client.countdown("BTCUSDT", 60_000)  # time (1) + countdown (10)
            client.countdown("BTCUSDT", 60_000)  # 21 of 25
            limited = _fail(client, RateLimitedError)
            banned = _fail(client, RateLimitedError)
            also_banned = _fail(client, RateLimitedError, lambda: client.server_time())

    assert (limited.http_status, limited.banned, limited.used_weight) == (429, False, 21)
    assert 1 <= limited.retry_after <= 60
    assert (banned.http_status, banned.banned) == (418, True)
    assert banned.retry_after > 60
    assert also_banned.banned and also_banned.endpoint == "GET /fapi/v1/time"
    assert client.used_weight == 21


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("bad-symbol", 400, -1121),
        ("delisted-symbol", 400, -1122),
        ("wrong-secret", 400, -1022),
        ("unknown-key", 401, -2015),
        ("ip-not-whitelisted", 401, -2015),
        ("no-trade-permission", 401, -2015),
    ],
)
def test_it_raises_fatal_errors_for_real_refusals(simulator, make_client, setup, status, code):
    symbol = {"bad-symbol": "NOPEUSDT", "delisted-symbol": "LUNAUSDT"}.get(setup, "BTCUSDT")
    if setup == "wrong-secret":
        client = make_client(register=False)
        simulator.exchange.add_account(client.api_key_for_tests, "hmac", "not-the-clients-secret")
    elif setup == "unknown-key":
        client = make_client(register=False)
    elif setup == "ip-not-whitelisted":
        client = make_client(ip_whitelist=["127.0.0.9"])
    elif setup == "no-trade-permission":
        client = make_client(register=False)
        simulator.exchange.add_account(client.api_key_for_tests, "hmac", KEYS["hmac"][3], trade=False)
    else:
        client = make_client()
    error = _fail(client, FatalError, lambda: client.countdown(symbol, 60_000))
    _assert_facts(error, simulator, status, code)
    assert simulator.exchange.countdowns() == []


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent."}, 400, -1102),
        ({"code": -2014}, 401, -2014),
        ({"status": 403, "body": "<html><head><title>403 Forbidden</title></head></html>"}, 403, None),
        (
            {"status": 400, "body": {"code": -4061, "msg": "Order's position side does not match."}},
            400,
            -4061,
        ),
    ],
    ids=["-1102", "-2014", "403-html", "other-4xx"],
)
def test_it_raises_fatal_errors_for_injected_refusals(simulator, make_client, fault, status, code):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, **fault)
    error = _fail(client, FatalError)
    _assert_facts(error, simulator, status, code)


def test_it_raises_fatal_without_sending_when_it_has_no_key(simulator):
    from heartbeats.exchange.client import FuturesClient

    with FuturesClient(simulator.url) as client:
        assert client.server_time() > 0
        with pytest.raises(FatalError, match="No API key"):
            client.countdown("BTCUSDT", 60_000)
    assert [e["path"] for e in simulator.exchange.requests_log()] == ["/fapi/v1/time"]


def test_it_recovers_as_soon_as_the_fault_is_gone(simulator, make_client):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, kind="unavailable", count=2)
    for _ in range(2):
        _fail(client, TemporaryError)
    assert client.countdown("BTCUSDT", 60_000).countdown_ms == 60_000


def test_every_error_class_is_an_exchange_error_with_its_facts(simulator, make_client):
    client = make_client()
    client.sync_time()
    errors = []
    for fault in ({"kind": "unavailable"}, {"kind": "unknown"}, {"kind": "rate_limited"}, {"code": -1121}):
        simulator.exchange.inject(COUNTDOWN, **fault)
        with pytest.raises(ExchangeError) as caught:
            client.countdown("BTCUSDT", 60_000)
        errors.append(caught.value)
    assert [type(e) for e in errors] == [TemporaryError, OutcomeUnknownError, RateLimitedError, FatalError]
    for error in errors:
        assert error.http_status and error.code and error.msg and error.used_weight is not None
