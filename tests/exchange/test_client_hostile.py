"""Answers no exchange should give but proxies and broken networks do: each is classified sensibly, quickly,
and without letting the signature or the API key out (even when the server echoes the request back)."""

import json
import time

import pytest

from heartbeats.exchange.client import FuturesClient
from heartbeats.exchange.errors import FatalError, OutcomeUnknownError, RateLimitedError, TemporaryError
from heartbeats.exchange.signing import load_signer

from .conftest import HMAC_SECRET, RecordingSigner
from .hostile import HostileServer, reply, trickle

API_KEY = "hostileKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789"


def _time_then(answer):
    """Answers GET /v1/time properly (the client syncs before signing), everything else with `answer`."""

    def route(request, conn):
        if b"/v1/time" in request.split(b"\r\n", 1)[0]:
            body = json.dumps({"serverTime": int(time.time() * 1000)}).encode()
            conn.sendall(reply(200, body, "application/json"))
        else:
            answer(request, conn)

    return route


@pytest.fixture
def hostile():
    servers = []

    def make(answer, **options):
        server = HostileServer(_time_then(answer))
        servers.append(server)
        signer = RecordingSigner(load_signer("hmac", HMAC_SECRET))
        options.setdefault("read_timeout", 1.0)
        client = FuturesClient(server.url, "usdm", API_KEY, signer, connect_timeout=1.0, **options)
        return server, client, signer

    yield make
    for server in servers:
        server.close()


def _assert_nothing_secret(error, signer):
    texts = [str(error), repr(error), error.msg, str(error.args)]
    assert error.__context__ is None and error.__cause__ is None
    assert signer.signatures, "the request was signed"
    for text in texts:
        assert API_KEY not in text
        assert HMAC_SECRET not in text
        for signature in signer.signatures:
            assert signature not in text


@pytest.mark.parametrize("as_json", [False, True], ids=["html", "json"])
def test_it_does_not_repeat_an_echoed_request(hostile, as_json):
    def echo(request, conn):
        text = request.decode("latin-1")
        if as_json:
            conn.sendall(reply(400, json.dumps({"code": -1102, "msg": text}).encode(), "application/json"))
        else:
            conn.sendall(reply(400, f"<html><title>{text}</title><pre>{text}</pre></html>".encode()))

    server, client, signer = hostile(echo)
    with pytest.raises(FatalError) as caught:
        client.countdown("BTCUSDT", 120_000)
    assert b"signature=" in server.requests[-1] and API_KEY.encode() in server.requests[-1]
    _assert_nothing_secret(caught.value, signer)
    with pytest.raises(FatalError) as caught:
        client.open_orders("BTCUSDT")
    _assert_nothing_secret(caught.value, signer)


def test_it_treats_a_proxys_html_502_page_as_temporary(hostile):
    page = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"
    _, client, signer = hostile(lambda request, conn: conn.sendall(reply(502, page)))
    with pytest.raises(TemporaryError) as caught:
        client.countdown("BTCUSDT", 120_000)
    error = caught.value
    assert type(error) is TemporaryError
    assert error.http_status == 502 and error.code is None
    assert "502 Bad Gateway" in error.msg and "text/html" in error.msg
    _assert_nothing_secret(error, signer)


def test_it_cannot_confirm_a_countdown_from_an_unreadable_200(hostile):
    _, client, signer = hostile(lambda request, conn: conn.sendall(reply(200, b"OK, sure")))
    with pytest.raises(OutcomeUnknownError) as caught:
        client.countdown("BTCUSDT", 120_000)
    assert caught.value.http_status == 200
    _assert_nothing_secret(caught.value, signer)


def test_it_cannot_confirm_a_countdown_acknowledged_for_something_else(hostile):
    wrong = json.dumps({"symbol": "ETHUSDT", "countdownTime": "120000"}).encode()
    _, client, _ = hostile(lambda request, conn: conn.sendall(reply(200, wrong, "application/json")))
    with pytest.raises(OutcomeUnknownError, match="does not acknowledge"):
        client.countdown("BTCUSDT", 120_000)


def test_it_calls_an_unreadable_answer_to_a_get_temporary(hostile):
    deep = b"[" * 200_000 + b"]" * 200_000
    _, client, _ = hostile(lambda request, conn: conn.sendall(reply(200, deep, "application/json")))
    with pytest.raises(TemporaryError) as caught:
        client.exchange_info()
    assert type(caught.value) is TemporaryError


def test_it_gives_up_on_an_answer_trickled_byte_by_byte(hostile):
    body = json.dumps({"symbol": "BTCUSDT", "countdownTime": "120000"}).encode()

    def slow(request, conn):
        conn.sendall(
            reply(200, b"", "application/json").replace(
                b"Content-Length: 0", f"Content-Length: {len(body)}".encode()
            )
        )
        trickle(conn, body, 0.05)

    _, client, _ = hostile(slow, read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError, match="too slow"):
        client.countdown("BTCUSDT", 120_000)
    # Each byte came well within the read timeout; the whole answer had 2 x read_timeout.
    assert time.monotonic() - started < 1.5


def test_it_refuses_an_endless_answer(hostile):
    def endless(request, conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        chunk = b" " * (1024 * 1024)
        try:
            for _ in range(64):
                conn.sendall(chunk)
        except OSError:
            pass

    _, client, _ = hostile(endless)
    with pytest.raises(TemporaryError, match="too large"):
        client.exchange_info()


@pytest.mark.parametrize("method", ["countdown", "open_orders"])
def test_it_calls_a_connection_dropped_mid_answer_uncertain_only_for_changes(hostile, method):
    def cut(request, conn):
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sym')

    _, client, signer = hostile(cut)
    expected = OutcomeUnknownError if method == "countdown" else TemporaryError
    with pytest.raises(expected) as caught:
        getattr(client, method)("BTCUSDT", 120_000) if method == "countdown" else client.open_orders(
            "BTCUSDT"
        )
    assert type(caught.value) is expected and caught.value.http_status == 200
    _assert_nothing_secret(caught.value, signer)


@pytest.mark.parametrize("method", ["countdown", "open_orders"])
def test_it_calls_a_connection_closed_without_answer_uncertain_only_for_changes(hostile, method):
    _, client, signer = hostile(lambda request, conn: None)  # read the request, then hang up
    expected = OutcomeUnknownError if method == "countdown" else TemporaryError
    with pytest.raises(expected) as caught:
        client.countdown("BTCUSDT", 120_000) if method == "countdown" else client.open_orders("BTCUSDT")
    assert type(caught.value) is expected and caught.value.http_status is None
    _assert_nothing_secret(caught.value, signer)


def test_it_never_follows_a_redirect_with_a_signed_request(hostile):
    def redirect(request, conn):
        conn.sendall(reply(302, b"", headers={"Location": "http://127.0.0.1:9/elsewhere"}))

    server, client, signer = hostile(redirect)
    with pytest.raises(FatalError) as caught:
        client.countdown("BTCUSDT", 120_000)
    assert caught.value.http_status == 302
    assert sum(b"countdownCancelAll" in r for r in server.requests) == 1
    _assert_nothing_secret(caught.value, signer)


def test_it_survives_garbage_headers(hostile):
    def odd(request, conn):
        headers = {"X-MBX-USED-WEIGHT-1M": "lots", "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
        conn.sendall(reply(429, b'{"code": "x", "msg": 42}', "application/json", headers))

    _, client, _ = hostile(odd)
    with pytest.raises(RateLimitedError) as caught:
        client.countdown("BTCUSDT", 120_000)
    error = caught.value
    assert error.used_weight is None and error.code is None and error.retry_after == 0.0
    assert client.used_weight is None


def test_it_reads_retry_after_as_seconds_or_date(hostile):
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    answers = iter([{"Retry-After": "17"}, {"Retry-After": in_a_minute}])

    def limited(request, conn):
        conn.sendall(
            reply(429, b'{"code": -1003, "msg": "Too many requests."}', "application/json", next(answers))
        )

    _, client, _ = hostile(limited)
    with pytest.raises(RateLimitedError) as first:
        client.open_orders("BTCUSDT")
    with pytest.raises(RateLimitedError) as second:
        client.open_orders("BTCUSDT")
    assert first.value.retry_after == 17.0
    assert 55 <= second.value.retry_after <= 61
