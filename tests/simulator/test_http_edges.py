"""Requests that real clients and hostile ones send: other body encodings, odd framing, invalid bytes, floods
of parameters, abuse of the control interface. Binance paths answer as Binance would; nothing crashes or
hangs, and the simulator keeps serving afterwards."""

import json
import socket
import time
from urllib.parse import urlencode

import pytest
import requests

from .conftest import sign


def _raw(simulator, data: bytes, timeout: float = 3) -> bytes:
    """Sends `data` on a fresh connection and reads until the server closes it (or the answer is complete)."""
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received or len(received) < _expected_length(received):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def _expected_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(received)


def _status_and_body(raw: bytes) -> tuple[int, object]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def _signed_query(trader, params: dict) -> str:
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    return f"{query}&signature={sign('hmac', trader.key, query)}"


def test_it_ignores_a_json_body_as_binance_does(simulator, trader):
    url = f"{simulator.url}/fapi/v1/countdownCancelAll"
    headers = {"X-MBX-APIKEY": trader.api_key}
    params = {"symbol": "BTCUSDT", "countdownTime": 60000}

    only_json = trader.session.post(
        url, json={**params, "timestamp": int(time.time() * 1000)}, headers=headers
    )
    # The parameters are signed in the query; the JSON body is neither read nor part of the signed payload.
    query_and_json = trader.session.post(
        f"{url}?{_signed_query(trader, params)}", json={"x": 1}, headers=headers
    )
    form_without_type = trader.session.post(url, data=_signed_query(trader, params).encode(), headers=headers)

    assert only_json.status_code == 400
    assert only_json.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    }
    assert query_and_json.status_code == 200
    assert form_without_type.request.headers.get("Content-Type") is None
    assert form_without_type.status_code == 200


def test_it_reads_a_chunked_form_body(simulator, trader):
    body = _signed_query(trader, {"symbol": "ETHUSDT", "countdownTime": 60000}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    request = (
        b"POST /fapi/v1/countdownCancelAll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
        + f"X-MBX-APIKEY: {trader.api_key}\r\n\r\n".encode()
        + chunks
    )

    assert _status_and_body(_raw(simulator, request)) == (
        200,
        {"symbol": "ETHUSDT", "countdownTime": "60000"},
    )


@pytest.mark.parametrize(
    ("framing", "status", "code"),
    [
        (b"Content-Length: -5\r\n", 400, -1102),
        (b"Content-Length: ten\r\n", 400, -1102),
        (b"Content-Length: 99999999\r\n", 413, -1000),
        (b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, -1102),
    ],
)
def test_it_answers_unreadable_bodies_binance_style_and_closes(simulator, framing, status, code):
    request = b"POST /fapi/v1/countdownCancelAll HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n"

    raw = _raw(simulator, request)

    assert _status_and_body(raw)[0] == status and _status_and_body(raw)[1]["code"] == code
    assert b"\r\nConnection: close\r\n" in raw
    assert requests.get(f"{simulator.url}/fapi/v1/ping", timeout=2).status_code == 200


def test_it_survives_invalid_bytes_and_floods_of_parameters(simulator, trader):
    headers = {"X-MBX-APIKEY": trader.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    url = f"{simulator.url}/fapi/v1/countdownCancelAll"
    invalid_utf8 = _raw(
        simulator,
        b"GET /fapi/v1/openOrders?symbol=%FF%FE&symbol2=\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"X-MBX-APIKEY: {trader.api_key}\r\n\r\n".encode(),
    )
    started = time.monotonic()
    flood = trader.session.post(url, data="&".join(f"p{i}=1" for i in range(50_000)), headers=headers)
    signatures = trader.session.post(f"{url}?" + "signature=x&" * 2000, headers=headers)
    elapsed = time.monotonic() - started

    assert _status_and_body(invalid_utf8)[1]["code"] == -1102  # read as text, then judged like any request
    assert flood.status_code == 400 and flood.json()["code"] == -1102
    assert signatures.json() == {"code": -1101, "msg": "Duplicate values for a parameter detected."}
    assert elapsed < 3
    assert trader.countdown("BTCUSDT", 60000).status_code == 200


def test_it_rejects_numbers_binance_would_not_parse(simulator, trader):
    def code(**params):
        query = urlencode({"symbol": "BTCUSDT", "countdownTime": 1000, **params})
        response = trader.session.post(
            f"{simulator.url}/fapi/v1/countdownCancelAll?{query}&signature={sign('hmac', trader.key, query)}",
            headers={"X-MBX-APIKEY": trader.api_key},
        )
        return response.json()

    now = int(time.time() * 1000)
    assert code(recvWindow="5000.0", timestamp=now)["code"] == -1100
    assert code(recvWindow=" 5000", timestamp=now)["code"] == -1100
    assert code(timestamp=f"{now}.5") == {
        "code": -1100,
        "msg": "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.",
    }
    assert code(countdownTime="-1", timestamp=now)["code"] == -1100


def test_it_routes_only_exact_paths_and_accepts_absolute_targets(simulator):
    traversal = _raw(
        simulator, b"GET /fapi/v1/../../_sim/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    encoded = _raw(simulator, b"GET /%5Fsim/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    absolute = _raw(simulator, b"GET http://x/fapi/v1/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    assert traversal.startswith(b"HTTP/1.1 404") and b"accounts" not in traversal
    assert encoded.startswith(b"HTTP/1.1 404") and b"accounts" not in encoded
    assert _status_and_body(absolute)[1]["serverTime"] > 0


def test_it_answers_browsers_on_binance_paths_only(simulator, trader):
    preflight = requests.options(
        f"{simulator.url}/fapi/v1/countdownCancelAll",
        headers={"Origin": "https://desk.example", "Access-Control-Request-Headers": "x-mbx-apikey"},
        timeout=5,
    )
    answer = trader.countdown("BTCUSDT", 60000)
    control = requests.get(f"{simulator.url}/_sim/state", timeout=5)
    cross_site = requests.post(
        f"{simulator.url}/_sim/reset", data="{}", headers={"Origin": "https://evil.example"}, timeout=5
    )

    assert (
        preflight.status_code == 200 and "X-MBX-APIKEY" in preflight.headers["Access-Control-Allow-Headers"]
    )
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in control.headers
    assert cross_site.status_code == 403
    assert len(simulator.exchange.countdowns()) == 1  # the cross-site reset did nothing


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("latency", '{"latency_ms": NaN}'),
        ("latency", '{"latency_ms": 1e300}'),
        ("clock", '{"skew_ms": Infinity}'),
        ("clock", '{"skew_ms": 1e300}'),
        ("faults", '{"path": "/fapi/v1/time", "latency_ms": 1e300}'),
        ("faults", '{"path": "/fapi/v1/time", "hold": "h", "hold_timeout": 1e300}'),
        ("faults", '{"status": 429, "retry_after": "1\\r\\nX-Evil: 1"}'),
        ("faults", '{"status": "abc"}'),
        ("release", '{"name": "h", "wait": 1e300}'),
        ("limits", '{"weight_limit": "lots"}'),
        ("accounts", '{"api_key": ["x"], "key_type": "hmac", "secret": "s"}'),
        ("orders", '{"api_key": "k", "symbol": "BTCUSDT", "side": {"a": 1}}'),
        ("faults", "[" * 100_000 + "]" * 100_000),
        ("accounts", b'{"api_key": "\xff"}'),
    ],
)
def test_it_refuses_control_values_that_would_break_it(simulator, trader, endpoint, body):
    response = requests.post(f"{simulator.url}/_sim/{endpoint}", data=body, timeout=5)

    assert response.status_code == 400 and "error" in response.json()
    assert trader.public("time").status_code == 200  # no poisoned sleep, timer or clock
    assert simulator.exchange.faults() == []


def test_it_refuses_control_orders_no_exchange_could_hold(simulator, trader):
    def post(**order):
        return requests.post(
            f"{simulator.url}/_sim/orders",
            json={"api_key": trader.api_key, "symbol": "BTCUSDT", **order},
            timeout=5,
        )

    assert post(price="abc").status_code == 400
    assert post(price="-5").status_code == 400
    assert post(side="UP").status_code == 400
    assert post(symbol="NOPE").status_code == 400
    assert post(newClientOrderId="a").status_code == 201
    assert post(newClientOrderId="a").json() == {"error": "ClientOrderId is duplicated.", "code": -4116}
