"""The redaction of secrets from text and from log records (the filter settings.LOGGING installs)."""

import logging
import sys

import pytest

from heartbeats.exchange.redact import RedactingFilter, redact

SIGNATURE = "E4nWIl3yUJgJFL6LoWImsrEwNegMiN9SN1FWKw+P3xXkJ2T/MtSq3Cg7fVnOGFWxTBX6vrTJJNoZnVtAgs1CAQ=="
ENCODED = SIGNATURE.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
API_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIE4rJ0goma1nbu1d8T1dp//0pe40jnf8tghwRhsSY4Bk\n"
    "-----END PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"/fapi/v1/openOrders?timestamp=1&signature={ENCODED}", ENCODED),
        (f"quantity=1&signature={SIGNATURE}&x=1", SIGNATURE[:20]),
        (f"https://h/p?a=1%26signature%3D{ENCODED}", ENCODED),
        (f'{{"signature": "{SIGNATURE}"}}', SIGNATURE[:20]),
        (f"{{'X-MBX-APIKEY': '{API_KEY}', 'Accept': '*/*'}}", API_KEY),
        (f"X-MBX-APIKEY: {API_KEY}", API_KEY),
        (f"secret={API_KEY}", API_KEY),
        (f"{{'api_key': '{API_KEY}'}}", API_KEY),
        (f"key_passphrase={API_KEY}", API_KEY),
        (f"loaded {PEM} ok", "MC4CAQAwBQYDK2VwBCIEIE4rJ0go"),
        (f"cut short: {PEM[:60]}", "MC4CAQAwBQYDK2Vw"),
    ],
)
def test_it_redacts_every_form_of_secret(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned
    assert "<redacted>" in cleaned


def test_it_leaves_the_exchanges_own_messages_alone():
    for text in [
        "Signature for this request is not valid.",
        "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.2",
        'POST /fapi/v1/countdownCancelAll HTTP/1.1" 200 45',
    ]:
        assert redact(text) == text


def _record(name, msg, args=(), exc_info=None, stack_info=None):
    return logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args, exc_info, sinfo=stack_info)


def test_it_redacts_urllib3s_request_line_record():
    # The exact shape of urllib3.connectionpool's DEBUG record for a request.
    record = _record(
        "urllib3.connectionpool",
        '%s://%s:%s "%s %s %s" %s %s',
        (
            "http",
            "127.0.0.1",
            8800,
            "GET",
            f"/fapi/v1/openOrders?timestamp=1&signature={ENCODED}",
            "HTTP/1.1",
            200,
            2,
        ),
    )
    assert RedactingFilter().filter(record) is True
    text = logging.Formatter().format(record)
    assert ENCODED not in text and "signature=<redacted>" in text and "GET /fapi/v1/openOrders" in text


def test_it_redacts_tracebacks_and_stack_info():
    try:
        raise RuntimeError(
            f"request to /fapi/v1/order?x=1&signature={ENCODED} failed, X-MBX-APIKEY={API_KEY}"
        )
    except RuntimeError:
        record = _record(
            "heartbeats", "boom", exc_info=sys.exc_info(), stack_info=f"stack signature={ENCODED}"
        )
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "RuntimeError" in text and "boom" in text
    assert ENCODED not in text and API_KEY not in text


def test_it_redacts_a_traceback_another_handler_already_formatted():
    try:
        raise RuntimeError(f"signature={ENCODED}")
    except RuntimeError:
        record = _record("x", "failed", exc_info=sys.exc_info())
    logging.Formatter().format(record)  # caches exc_text, as the first handler would
    RedactingFilter().filter(record)
    assert ENCODED not in logging.Formatter().format(record)


def test_it_survives_a_malformed_record_without_leaking():
    record = _record("x", "%s %s", (f"signature={ENCODED}",))  # one argument short
    assert RedactingFilter().filter(record) is True
    assert ENCODED not in logging.Formatter().format(record)


def test_it_redacts_records_through_a_configured_handler(caplog):
    logger = logging.getLogger("tests.exchange.redact")
    handler = logging.Handler()
    seen = []
    handler.emit = lambda record: seen.append(handler.format(record))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("sent %s", f"/fapi/v1/openOrders?signature={ENCODED}")
    finally:
        logger.removeHandler(handler)
    assert seen and ENCODED not in seen[0]


def test_ping_keys_and_bearer_tokens_are_redacted():
    from heartbeats.exchange.redact import redact

    line = (
        '127.0.0.1 "POST /ping/Zk3-aQ9_x7LmPp0qRsTuVwXy HTTP/1.1" 200 Authorization: Bearer cg_abcdef123456'
    )
    cleaned = redact(line)
    assert "Zk3-aQ9_x7LmPp0qRsTuVwXy" not in cleaned and "cg_abcdef123456" not in cleaned
    assert "/ping/<redacted>" in cleaned and "Bearer <redacted>" in cleaned


TOKEN = "cg_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('"GET /metrics?token=s3cretMetricsToken HTTP/1.1" 403', "s3cretMetricsToken"),
        (f'"GET /api/v1/status?page=1&token={TOKEN} HTTP/1.1" 401', TOKEN[3:]),
        ("GET /api/v1/status?access_token=abcdefghij&x=1", "abcdefghij"),
        ("/login/?next=%2Fping%2FZk3-aQ9_x7LmPp0qRsTuVwXy", "Zk3-aQ9_x7LmPp0qRsTuVwXy"),
        ("GET /ping/Zk3-aQ9_x7LmPp0qRsTuVwXy/fail", "Zk3-aQ9_x7LmPp0qRsTuVwXy"),
        (f"someone pasted {TOKEN} into a reason", TOKEN[3:]),
        ('{"token": "s3cretMetricsToken"}', "s3cretMetricsToken"),
    ],
)
def test_it_redacts_ping_keys_and_tokens_in_paths_and_query_strings(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned and "<redacted>" in cleaned


def test_it_leaves_words_about_tokens_alone():
    for text in ["CSRF token missing.", "API token runbook refused from 192.0.2.1: address not allowed"]:
        assert redact(text) == text


def test_every_handler_of_the_process_redacts():
    from heartbeats.exchange.redact import RedactingFilter
    from heartbeats.logs import redact_every_handler

    logger = logging.getLogger("tests.exchange.redact.foreign")
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(handler.format(record))
    logger.addHandler(handler)  # a handler no LOGGING setting knows of, as gunicorn's or a library's
    logger.propagate = False
    try:
        assert redact_every_handler(RedactingFilter) >= 1
        assert redact_every_handler(RedactingFilter) == 0  # once per handler
        logger.warning("GET /ping/%s", "Zk3-aQ9_x7LmPp0qRsTuVwXy")
    finally:
        logger.removeHandler(handler)
    assert seen == ["GET /ping/<redacted>"]
