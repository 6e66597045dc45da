"""The OKX client against the simulator's /api/v5: the switch (arm, renew, disarm, tags, its bounds), the
clock, the key check, the orders, and every failure read into the error tree, with no secret let out."""

import logging
import pickle
import secrets
import time

import pytest

from heartbeats.exchange import okx
from heartbeats.exchange.errors import (
    FatalError,
    InvalidKeyError,
    OutcomeUnknownError,
    RateLimitedError,
    TemporaryError,
    TimestampError,
)
from heartbeats.exchange.okx import OkxClient, OkxSigner

CAA = "/api/v5/trade/cancel-all-after"


@pytest.fixture
def okx_client(simulator):
    """okx_client(register=True, secret=None, passphrase=None, **options) -> OkxClient with a fresh key."""
    simulator.exchange.okx.rates.scale = 0.001  # renewals in quick succession
    clients = []

    def make(*, register=True, secret=None, passphrase=None, trade=True, **options):
        api_key = secrets.token_hex(16)
        real_secret, real_passphrase = secrets.token_hex(16), "Pass-" + secrets.token_hex(4)
        if register:
            simulator.exchange.okx.add_account(api_key, real_secret, real_passphrase, trade=trade)
        signer = OkxSigner(secret or real_secret, passphrase or real_passphrase)
        options.setdefault("connect_timeout", 1.0)
        options.setdefault("read_timeout", 2.0)
        client = OkxClient(simulator.url, api_key, signer, **options)
        client.secrets_for_tests = (api_key, real_secret, real_passphrase)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _fail(expected, call):
    with pytest.raises(expected) as caught:
        call()
    error = caught.value
    assert type(error) is expected, repr(error)
    assert error.__context__ is None and error.__cause__ is None
    return error


# Facts -----------------------------------------------------------------------------------------------------


def test_the_module_states_okxs_facts():
    assert (okx.COUNTDOWN_OFF_MS, okx.COUNTDOWN_MIN_MS, okx.COUNTDOWN_MAX_MS) == (0, 10_000, 120_000)
    limit = okx.CANCEL_ALL_AFTER_RATE_LIMIT
    assert (limit.count, limit.window_s, limit.scope, limit.per_tag) == (1, 1.0, "user", True)
    assert okx.TIMESTAMP_TOLERANCE_MS == okx.ACCEPTED_AFTER_SIGNING_MS == 30_000


# The switch ------------------------------------------------------------------------------------------------


def test_it_arms_renews_and_disarms_the_accounts_switch(simulator, okx_client):
    client = okx_client()
    client.sync_time()

    armed = client.countdown("", 60_000)
    time.sleep(0.005)
    renewed = client.countdown("", 30_000)
    switches = simulator.exchange.okx.switches()
    time.sleep(0.005)
    disarmed = client.countdown("", 0)

    assert (armed.symbol, armed.countdown_ms, armed.http_status) == ("", 60_000, 200)
    assert armed.sent_at <= armed.received_at and armed.latency_ms >= 0
    assert armed.used_weight is None and client.used_weight is None and client.weight_limit is None
    assert abs(armed.timestamp_ms - simulator.exchange.server_time_ms()) < 5_000
    assert renewed.countdown_ms == 30_000
    assert [(s["tag"], s["countdown_ms"]) for s in switches] == [("", 30_000)]
    assert disarmed.countdown_ms == 0
    assert simulator.exchange.okx.switches() == []


def test_a_tag_scopes_the_switch(simulator, okx_client):
    client = okx_client()

    ack = client.countdown("desk7", 20_000)

    assert ack.symbol == "desk7"
    assert [(s["tag"], s["countdown_ms"]) for s in simulator.exchange.okx.switches()] == [("desk7", 20_000)]


@pytest.mark.parametrize("countdown_ms", [1, 9_000, 10_500, 121_000, -10_000, 60.0, True, "60000"])
def test_it_refuses_a_countdown_okx_would_not_take_without_sending_it(simulator, okx_client, countdown_ms):
    client = okx_client()
    with pytest.raises(ValueError):
        client.countdown("", countdown_ms)
    assert simulator.exchange.requests_log(CAA) == []


@pytest.mark.parametrize("scope", ["desk-1", "x" * 17, None, "d e"])
def test_it_refuses_a_scope_that_is_not_a_tag(simulator, okx_client, scope):
    with pytest.raises(ValueError):
        okx_client().countdown(scope, 60_000)
    assert simulator.exchange.requests_log(CAA) == []


def test_it_signs_at_the_moment_given_and_never_retries(simulator, okx_client):
    client = okx_client()
    client.sync_time()
    signed_at = time.time() - 31  # older than OKX's 30 s

    error = _fail(TimestampError, lambda: client.countdown("", 60_000, signed_at=signed_at))

    assert (error.http_status, error.code) == (401, 50102)
    assert len(simulator.exchange.requests_log(CAA)) == 1  # no resync-and-retry for the switch
    assert client.countdown("", 60_000, signed_at=time.time() - 25).countdown_ms == 60_000


def test_its_clock_offset_follows_the_exchanges(simulator, okx_client):
    client = okx_client()
    simulator.exchange.set_skew(45_000)

    offset = client.sync_time()

    assert abs(offset - 45_000) < 1_000 and client.offset_ms == offset
    assert client.offset_error_ms is not None and client.synced_at is not None
    assert client.countdown("", 60_000).countdown_ms == 60_000  # signed on the exchange's clock


# Orders ----------------------------------------------------------------------------------------------------


def test_check_key_open_orders_and_cancel_all(simulator, okx_client):
    client = okx_client()
    api_key = client.secrets_for_tests[0]
    book = simulator.exchange.okx
    plain = [book.place_order(api_key, "BTC-USDT-SWAP", px=str(1000 + i)) for i in range(23)]
    plain.append(client.place_order("ETH-USDT-SWAP", "sell", 1, 4000, tag="desk1"))
    algo = [
        book.place_algo_order(api_key, "BTC-USDT-SWAP"),
        book.place_algo_order(api_key, "BTC-USDT", ord_type="trigger"),
    ]

    client.check_key()
    listed = client.open_orders()
    listed_algo = client.open_algo_orders()
    cancelled = client.cancel_all()

    assert len(listed) == 24 and len(listed_algo) == 2
    assert sorted(cancelled.orders) == sorted(o["ordId"] for o in plain)
    assert sorted(cancelled.algo_orders) == sorted(o["algoId"] for o in algo)
    assert cancelled.ok
    assert client.open_orders() == [] and client.open_algo_orders() == []


def test_orders_are_listed_page_by_page(simulator, okx_client):
    client = okx_client()
    api_key = client.secrets_for_tests[0]
    for _ in range(205):
        simulator.exchange.okx.place_order(api_key, "SOL-USDT-SWAP")

    listed = client.open_orders()

    assert len({o["ordId"] for o in listed}) == 205
    pages = [e for e in simulator.exchange.requests_log("/api/v5/trade/orders-pending")]
    assert len(pages) == 3


# Failures --------------------------------------------------------------------------------------------------


def test_a_wrong_secret_passphrase_or_key_is_fatal(simulator, okx_client):
    for client, code in (
        (okx_client(secret="0" * 32), 50113),
        (okx_client(passphrase="not-it"), 50105),
        (okx_client(register=False), 50111),
    ):
        error = _fail(FatalError, lambda c=client: c.countdown("", 60_000))
        assert (error.http_status, error.code) == (401, code)
        assert error.endpoint == "POST /api/v5/trade/cancel-all-after"
        _fail(FatalError, client.check_key)


def test_a_key_without_trade_permission_is_fatal_for_the_switch(simulator, okx_client):
    client = okx_client(trade=False)
    client.check_key()  # reading is allowed
    error = _fail(FatalError, lambda: client.countdown("", 60_000))
    assert (error.http_status, error.code) == (200, 50120)


def test_the_rate_limit_is_a_rate_limited_error(simulator, okx_client):
    client = okx_client()
    simulator.exchange.okx.rates.scale = 1.0
    client.countdown("", 60_000)

    error = _fail(RateLimitedError, lambda: client.countdown("", 60_000))

    assert (error.http_status, error.code, error.banned) == (429, 50011, False)
    assert client.countdown("other", 60_000).symbol == "other"  # counted per tag


def test_the_rate_limit_answered_with_200_is_a_rate_limited_error_too(simulator, okx_client):
    client = okx_client()
    simulator.exchange.inject(
        CAA, status=200, body={"code": "50011", "data": [], "msg": "Rate limit reached."}
    )
    error = _fail(RateLimitedError, lambda: client.countdown("", 60_000))
    assert (error.http_status, error.code) == (200, 50011)


BUSY = {"code": "50013", "data": [], "msg": "Systems are busy. Please try again later."}
SOMEONE_ELSES_ACK = {"code": "0", "data": [{"triggerTime": "0", "tag": "", "ts": "1"}], "msg": ""}


@pytest.mark.parametrize(
    ("fault", "expected", "status", "code"),
    [
        ({"kind": "unavailable"}, TemporaryError, 503, 50001),
        ({"status": 429, "body": BUSY}, TemporaryError, 429, 50013),
        ({"status": 504}, OutcomeUnknownError, 504, 50004),
        ({"status": 500}, OutcomeUnknownError, 500, 50026),
        ({"status": 502, "body": "<html><title>Bad gateway</title></html>"}, TemporaryError, 502, None),
        ({"status": 200, "body": SOMEONE_ELSES_ACK}, OutcomeUnknownError, 200, None),
        ({"status": 200, "body": "not json"}, OutcomeUnknownError, 200, None),
    ],
    ids=["50001", "50013", "50004", "50026", "html-502", "not-this-request", "unreadable-200"],
)
def test_outages_are_read_into_the_tree(simulator, okx_client, fault, expected, status, code):
    client = okx_client()
    client.sync_time()
    simulator.exchange.inject(CAA, **fault)

    error = _fail(expected, lambda: client.countdown("", 60_000))

    assert (error.http_status, error.code) == (status, code)


def test_a_read_timeout_and_a_dropped_connection_leave_the_outcome_unknown(simulator, okx_client):
    client = okx_client(read_timeout=0.2)
    client.sync_time()
    simulator.exchange.inject(CAA, latency_ms=600)
    _fail(OutcomeUnknownError, lambda: client.countdown("", 60_000))
    simulator.exchange.inject(CAA, drop=True, apply=True)
    _fail(OutcomeUnknownError, lambda: client.countdown("", 30_000))
    time.sleep(0.5)
    # A GET that fails the same way changed nothing: temporary.
    simulator.exchange.inject("/api/v5/trade/orders-pending", drop=True)
    _fail(TemporaryError, client.check_key)


def test_a_closed_port_is_temporary(closed_port):
    client = OkxClient(f"http://127.0.0.1:{closed_port}", "k", OkxSigner("s", "p"), connect_timeout=0.5)
    _fail(TemporaryError, lambda: client.countdown("", 60_000))


# Secrets ---------------------------------------------------------------------------------------------------


def test_the_signer_and_client_never_show_their_secrets(okx_client):
    client = okx_client()
    api_key, secret, passphrase = client.secrets_for_tests
    text = repr(client) + str(client) + repr(client._signer)
    assert secret not in text and passphrase not in text and api_key not in text
    with pytest.raises(TypeError):
        pickle.dumps(client._signer)
    with pytest.raises(InvalidKeyError):
        OkxSigner("", "p")
    with pytest.raises(InvalidKeyError):
        OkxSigner("s", "")


def test_no_secret_reaches_errors_or_logs(simulator, okx_client, caplog):
    client = okx_client(passphrase="wrong-passphrase-123")
    api_key, secret, _ = client.secrets_for_tests
    with caplog.at_level(logging.DEBUG):
        error = _fail(FatalError, lambda: client.countdown("", 60_000))
    seen = repr(error) + str(error) + caplog.text + repr(pickle.loads(pickle.dumps(error)))
    for secret_text in (api_key, secret, "wrong-passphrase-123"):
        assert secret_text not in seen


@pytest.mark.parametrize("header", ["OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-PASSPHRASE"])
def test_okxs_credential_headers_are_redacted(header):
    from heartbeats.exchange.redact import redact

    for text in (f"{header}: s3cr3tvalue", f"{{'{header}': 's3cr3tvalue'}}", f"{header}=s3cr3tvalue"):
        assert "s3cr3tvalue" not in redact(text)


def test_cancel_all_with_a_tag_cancels_only_the_orders_carrying_it(simulator, okx_client):
    client = okx_client()
    api_key = client.secrets_for_tests[0]
    book = simulator.exchange.okx
    mine = book.place_order(api_key, "BTC-USDT-SWAP", tag="mm1")
    mine_algo = book.place_algo_order(api_key, "BTC-USDT-SWAP", tag="mm1")
    book.place_order(api_key, "BTC-USDT-SWAP", tag="MM1")  # tags are case-sensitive
    book.place_order(api_key, "ETH-USDT-SWAP")
    book.place_algo_order(api_key, "ETH-USDT-SWAP")

    cancelled = client.cancel_all("mm1")

    assert cancelled.orders == (mine["ordId"],) and cancelled.algo_orders == (mine_algo["algoId"],)
    assert (cancelled.found_orders, cancelled.found_algo_orders) == (1, 1) and cancelled.ok
    assert len(client.open_orders()) == 2 and len(client.open_algo_orders()) == 1
    with pytest.raises(ValueError):
        client.cancel_all("not a tag")


def test_accounts_on_one_host_share_a_fresh_clock_measurement_until_okx_refuses_a_timestamp(
    simulator, okx_client
):
    okx._clocks.clear()  # nothing measured earlier in this process (another test's, on this simulator)

    def asked():
        return len(simulator.exchange.requests_log("/api/v5/public/time"))

    start = asked()
    first, second = okx_client(), okx_client()
    first.sync_time()
    second.sync_time()  # a desk's accounts starting together: OKX limits /public/time per address
    assert asked() == start + 1
    assert second.offset_ms == first.offset_ms and second.synced_at is not None

    simulator.exchange.set_skew(-35_000)
    with pytest.raises(TimestampError):
        second.countdown("", 60_000)
    first.sync_time()  # measured afresh: the shared reading is what OKX just refused
    assert asked() == start + 2
    assert first.offset_ms < -30_000
