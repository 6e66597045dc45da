"""Nothing secret leaves the client: not in log records (urllib3's included, at DEBUG), not in exceptions,
not in reprs; in success, timeouts, refused connections, rate limits and refusals alike."""

import logging

import pytest

from heartbeats.exchange.client import FuturesClient
from heartbeats.exchange.errors import ExchangeError
from heartbeats.exchange.redact import RedactingFilter

from .conftest import ED25519_PEM, HMAC_SECRET, RSA_PEM

COUNTDOWN = "/fapi/v1/countdownCancelAll"
LOGGERS = ("urllib3", "requests", "heartbeats.exchange")


def _secrets(clients):
    found = [HMAC_SECRET, RSA_PEM.splitlines()[1], ED25519_PEM.splitlines()[1]]
    for client in clients:
        found.append(client.api_key_for_tests)
        for signature in client.signer_for_tests.signatures:
            found += [signature, signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")]
    return found


def _everything_said(caplog, errors, clients):
    formatter = logging.Formatter("%(name)s %(message)s")
    texts = [formatter.format(record) for record in caplog.records]
    for error in errors:
        texts += [str(error), repr(error), error.msg, str(error.args)]
    texts += [repr(client) for client in clients]
    return texts


@pytest.fixture
def debug_logs(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.mark.parametrize("key", ["hmac", "ed25519", "rsa"])
def test_it_keeps_secrets_out_of_logs_errors_and_reprs(simulator, make_client, closed_port, debug_logs, key):
    client = make_client(key, read_timeout=0.3)
    refused = make_client(key, base_url=f"http://127.0.0.1:{closed_port}")
    errors = []

    def attempt(call):
        try:
            call()
        except ExchangeError as error:
            errors.append(error)

    attempt(lambda: client.countdown("BTCUSDT", 60_000))  # success, POST (signature in the body)
    attempt(lambda: client.open_orders("BTCUSDT"))  # success, GET (signature in the URL)
    attempt(lambda: client.countdown("NOPEUSDT", 60_000))  # 400 -1121
    simulator.exchange.inject("/fapi/v1/openOrders", latency_ms=600)
    attempt(lambda: client.open_orders("BTCUSDT"))  # read timeout on a GET
    simulator.exchange.inject(COUNTDOWN, latency_ms=600)
    attempt(lambda: client.countdown("BTCUSDT", 60_000))  # read timeout on a POST
    simulator.exchange.inject("/fapi/v1/openOrders", kind="rate_limited", retry_after=3)
    attempt(lambda: client.open_orders("BTCUSDT"))  # 429
    simulator.exchange.inject("/fapi/v1/openOrders", drop=True)
    attempt(lambda: client.open_orders("BTCUSDT"))  # connection dropped
    attempt(lambda: refused.countdown("BTCUSDT", 60_000))  # connection refused (at the time sync)
    refused._next_sync_at, refused.synced_at = float("inf"), 0.0  # pretend it synced, to send a signed call
    attempt(lambda: refused.open_orders("BTCUSDT"))

    assert len(errors) == 7, errors
    assert len(client.signer_for_tests.signatures) >= 6 and refused.signer_for_tests.signatures
    secrets = _secrets([client, refused])
    for text in _everything_said(debug_logs, errors, [client, refused]):
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}… leaked in {text[:200]}"

    # Nor in the local variables of the frames an error's traceback keeps (debug pages and error trackers
    # show them).
    for error in errors:
        tb = error.__traceback__
        while tb is not None:
            shown = repr({name: repr(value) for name, value in tb.tb_frame.f_locals.items()})
            for secret in secrets:
                assert secret not in shown, f"{secret[:12]}… kept by {tb.tb_frame.f_code.co_name}"
            tb = tb.tb_next

    # The dangerous records were there to be checked: urllib3's request line of a signed GET.
    request_lines = [r.getMessage() for r in debug_logs.records if r.name == "urllib3.connectionpool"]
    assert any("/fapi/v1/openOrders?" in line and "signature=<redacted>" in line for line in request_lines)
    # And the client's own logger says what happened without any query string.
    own = [r.getMessage() for r in debug_logs.records if r.name.startswith("heartbeats.exchange")]
    assert any("POST /fapi/v1/countdownCancelAll -> 200" in line for line in own)
    assert not any("?" in line or "timestamp=" in line for line in own)


def test_it_redacts_urllib3_records_at_the_source(simulator):
    FuturesClient(simulator.url)  # importing the client installs the filter
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)


def test_it_puts_post_signatures_in_the_body_and_last(simulator, make_client):
    from .hostile import HostileServer, reply

    seen = []

    def answer(request, conn):
        seen.append(request)
        if b"/v1/time" in request:
            conn.sendall(
                reply(200, b'{"serverTime": %d}' % simulator.exchange.server_time_ms(), "application/json")
            )
        else:
            conn.sendall(reply(200, b'{"symbol": "BTCUSDT", "countdownTime": "60000"}', "application/json"))

    server = HostileServer(answer)
    try:
        client = make_client("ed25519", base_url=server.url)
        client.countdown("BTCUSDT", 60_000)
        client.close()
    finally:
        server.close()
    head, _, body = seen[-1].partition(b"\r\n\r\n")
    request_line = head.split(b"\r\n")[0].decode()
    assert request_line == "POST /fapi/v1/countdownCancelAll HTTP/1.1"
    params = [part.split(b"=", 1)[0] for part in body.split(b"&")]
    assert params == [b"symbol", b"countdownTime", b"recvWindow", b"timestamp", b"signature"]
    signature = client.signer_for_tests.signatures[-1]
    assert body.endswith(
        b"&signature=" + signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D").encode()
    )
