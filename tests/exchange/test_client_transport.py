"""What happens below HTTP: timeouts, refused and dropped connections, keep-alive, source addresses."""

import logging
import select
import socket
import time

import pytest

from heartbeats.exchange.client import FuturesClient
from heartbeats.exchange.errors import FatalError, OutcomeUnknownError, TemporaryError
from tests.waiting import wait_for

COUNTDOWN = "/fapi/v1/countdownCancelAll"


def test_it_calls_a_countdown_that_outlasts_the_read_timeout_uncertain(simulator, make_client):
    client = make_client(read_timeout=0.3)
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, latency_ms=900)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError) as caught:
        client.countdown("BTCUSDT", 60_000)
    assert time.monotonic() - started < 0.8  # gave up at the read timeout, not when the answer came
    error = caught.value
    assert error.http_status is None and error.code is None and "0.3 s" in error.msg
    assert error.__context__ is None and error.__cause__ is None
    # And the exchange did apply it, later: "unknown" is the only honest answer.
    wait_for(simulator.exchange.countdowns, timeout=3, message="the countdown applied late")


def test_it_calls_a_slow_read_only_request_temporary(simulator, make_client):
    client = make_client(read_timeout=0.3)
    simulator.exchange.inject("/fapi/v1/exchangeInfo", latency_ms=700)
    with pytest.raises(TemporaryError) as caught:
        client.exchange_info()
    assert type(caught.value) is TemporaryError


def test_it_calls_a_held_request_uncertain_and_the_exchange_may_apply_it_later(simulator, make_client):
    client = make_client(read_timeout=0.3)
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, hold="late")
    with pytest.raises(OutcomeUnknownError):
        client.countdown("BTCUSDT", 60_000)
    assert simulator.exchange.countdowns() == []
    assert simulator.exchange.release("late") == 1
    assert [c["symbol"] for c in simulator.exchange.countdowns()] == ["BTCUSDT"]


@pytest.mark.parametrize("call", ["sync_time", "countdown"])
def test_it_calls_a_refused_connection_temporary(make_client, closed_port, call):
    client = make_client(base_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(TemporaryError) as caught:
        client.sync_time() if call == "sync_time" else client.countdown("BTCUSDT", 60_000)
    error = caught.value
    assert type(error) is TemporaryError
    assert "Connection refused" in error.msg and error.http_status is None
    assert error.__context__ is None and error.__cause__ is None


def test_it_calls_a_connect_timeout_temporary():
    # A listener whose accept queue is full: the kernel drops further SYNs, so connecting times out.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        # The queue is full once the kernel has completed a filler's handshake (it then turns writable).
        assert select.select([], fillers, [], 5)[1], "no filler connected"
        try:
            client = FuturesClient(f"http://127.0.0.1:{port}", connect_timeout=0.2, read_timeout=1)
            started = time.monotonic()
            with pytest.raises(TemporaryError, match="No connection within 0.2 s"):
                client.server_time()
            assert time.monotonic() - started < 1
        finally:
            for filler in fillers:
                filler.close()


def test_it_calls_a_connection_dropped_after_sending_uncertain(simulator, make_client):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, drop=True, apply=True)
    with pytest.raises(OutcomeUnknownError, match="Connection lost") as caught:
        client.countdown("BTCUSDT", 60_000)
    assert caught.value.http_status is None
    assert [c["symbol"] for c in simulator.exchange.countdowns()] == ["BTCUSDT"]
    # The next call opens a fresh connection and succeeds.
    assert client.countdown("BTCUSDT", 60_000).countdown_ms == 60_000


def test_it_keeps_one_connection_alive_for_many_calls(simulator, make_client, caplog):
    client = make_client()
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        for _ in range(5):
            client.countdown("BTCUSDT", 60_000)
        client.open_orders("BTCUSDT")
    new_connections = [r for r in caplog.records if "Starting new HTTP connection" in r.getMessage()]
    assert len(new_connections) == 1
    assert len(simulator.exchange.requests_log()) == 7


def test_it_speaks_from_the_source_address_it_is_given(simulator, make_client):
    first = make_client(source_address="127.0.0.2")
    second = make_client(source_address="127.0.0.3")
    default = make_client()
    first.countdown("BTCUSDT", 60_000)
    second.countdown("BTCUSDT", 60_000)
    second.open_orders("BTCUSDT")
    default.server_time()
    ips = {(e["ip"], e["api_key_last4"]) for e in simulator.exchange.requests_log() if e["api_key_last4"]}
    assert ips == {("127.0.0.2", first.api_key_for_tests[-4:]), ("127.0.0.3", second.api_key_for_tests[-4:])}
    # Weight is counted per IP: each client sees only its own address's use.
    assert (first.used_weight, second.used_weight, default.used_weight) == (11, 12, 1)


def test_it_is_refused_from_an_address_outside_the_keys_whitelist(simulator, make_client):
    allowed = make_client(source_address="127.0.0.2", ip_whitelist=["127.0.0.2"])
    assert allowed.countdown("BTCUSDT", 60_000).countdown_ms == 60_000
    # The same key, used from another address.
    with (
        FuturesClient(
            simulator.url,
            "usdm",
            allowed.api_key_for_tests,
            allowed.signer_for_tests,
            source_address="127.0.0.3",
        ) as outsider,
        pytest.raises(FatalError) as caught,
    ):
        outsider.countdown("BTCUSDT", 60_000)
    assert caught.value.code == -2015 and "127.0.0.3" in caught.value.msg


def test_it_shares_a_session_it_was_given_without_closing_it(simulator):
    import requests

    session = requests.Session()
    with FuturesClient(simulator.url, session=session) as client:
        client.server_time()
    session.get(f"{simulator.url}/fapi/v1/ping", timeout=2).raise_for_status()
    session.close()


CASES = ["refused", "read-timeout", "dropped", "refused-by-the-exchange", "accepted"]


@pytest.mark.parametrize("case", CASES)
def test_the_direct_path_and_requests_classify_every_answer_alike(
    simulator, make_client, closed_port, monkeypatch, case
):
    """Without a proxy the client sends through urllib3's pool itself (half a call's CPU); through requests
    (a proxy, or a session given to it) the same answer must come out as the same result, word for word."""
    import requests

    outcomes = []
    for session in (None, requests.Session()):
        base_url = f"http://127.0.0.1:{closed_port}" if case == "refused" else None
        client = make_client(base_url=base_url, read_timeout=0.3, session=session)
        if case == "read-timeout":
            simulator.exchange.inject(COUNTDOWN, latency_ms=900)
        elif case == "dropped":
            simulator.exchange.inject(COUNTDOWN, drop=True)
        elif case == "refused-by-the-exchange":
            simulator.exchange.inject(COUNTDOWN, code=-2015)
        if session is None:
            assert client._pool is not None
            monkeypatch.setattr(requests.Session, "request", lambda *a, **k: pytest.fail("went by requests"))
        try:
            ack = client.countdown("BTCUSDT", 60_000)
            outcomes.append(("accepted", ack.http_status, ack.countdown_ms))
        except Exception as exc:  # noqa: BLE001 - the class and the words are what is compared
            outcomes.append((type(exc).__name__, exc.msg, exc.http_status, exc.code))
        finally:
            monkeypatch.undo()
    assert outcomes[0] == outcomes[1]
    expected = {
        "refused": "TemporaryError",
        "read-timeout": "OutcomeUnknownError",
        "dropped": "OutcomeUnknownError",
        "refused-by-the-exchange": "FatalError",
        "accepted": "accepted",
    }
    assert outcomes[0][0] == expected[case]
