"""The translation of exchange answers into the error tree, and what errors show of themselves."""

import pickle

import pytest

from heartbeats.exchange.errors import (
    ExchangeError,
    FatalError,
    InvalidKeyError,
    OutcomeUnknownError,
    RateLimitedError,
    TemporaryError,
    TimestampError,
    classify,
)


@pytest.mark.parametrize(
    ("status", "code", "msg", "expected"),
    [
        (503, None, "Service Unavailable.", TemporaryError),
        (503, -1001, "Internal error; unable to process your request. Please try again.", TemporaryError),
        (503, None, "Unknown error, please check your request or try again later.", OutcomeUnknownError),
        (
            503,
            -1006,
            "Unexpected response from the message bus. Execution status unknown.",
            OutcomeUnknownError,
        ),
        (500, -1007, "Timeout waiting for response from backend server.", OutcomeUnknownError),
        (500, -1000, "An unknown error occured while processing the request.", OutcomeUnknownError),
        (404, -1000, "An unknown error occured while processing the request.", FatalError),
        (400, -1008, "Server is currently overloaded.", TemporaryError),
        (502, None, "non-JSON body (text/html): 502 Bad Gateway", TemporaryError),
        (504, None, "Gateway Time-out", OutcomeUnknownError),
        (500, None, "", TemporaryError),
        (408, None, "", TemporaryError),
        (429, -1003, "Too many requests", RateLimitedError),
        (418, -1003, "Way too many requests; IP banned", RateLimitedError),
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", TimestampError),
        (400, -1121, "Invalid symbol.", FatalError),
        (400, -1102, "Mandatory parameter 'symbol' was not sent", FatalError),
        (400, -1022, "Signature for this request is not valid.", FatalError),
        (401, -2014, "API-key format invalid.", FatalError),
        (401, -2015, "Invalid API-key, IP, or permissions for action", FatalError),
        (400, -4000, "Some other rejection", FatalError),
        (403, None, "non-JSON body (text/html): 403 Forbidden", FatalError),
        (301, None, "", FatalError),
    ],
)
def test_it_classifies_answers_most_specific_first(status, code, msg, expected):
    error = classify(
        status, code, msg, mutating=True, used_weight=17, endpoint="POST /fapi/v1/countdownCancelAll"
    )
    assert type(error) is expected
    assert (error.http_status, error.code, error.used_weight) == (status, code, 17)


def test_it_never_calls_a_get_uncertain():
    for status, code, msg in [(503, None, "Unknown error"), (500, -1006, ""), (504, None, "")]:
        assert type(classify(status, code, msg, mutating=False)) is TemporaryError


def test_it_marks_418_as_a_ban_and_carries_retry_after():
    banned = classify(418, None, "", mutating=True, retry_after=120.0)
    limited = classify(429, -1003, "Too many", mutating=True, retry_after=7.0)
    assert banned.banned and banned.retry_after == 120.0
    assert not limited.banned and limited.retry_after == 7.0


def test_it_places_timestamp_errors_under_temporary_and_key_errors_under_fatal():
    assert issubclass(TimestampError, TemporaryError)
    assert issubclass(InvalidKeyError, FatalError) and issubclass(InvalidKeyError, ValueError)
    for cls in (TemporaryError, RateLimitedError, OutcomeUnknownError, FatalError):
        assert issubclass(cls, ExchangeError)
        assert cls.__doc__ and len(cls.__doc__) > 80


SIGNED = "symbol=BTCUSDT&countdownTime=120000&recvWindow=5000&timestamp=1&signature=c0ffee1234abcd"


@pytest.mark.parametrize(
    "cls",
    [
        ExchangeError,
        TemporaryError,
        TimestampError,
        RateLimitedError,
        OutcomeUnknownError,
        FatalError,
        InvalidKeyError,
    ],
)
def test_it_redacts_messages_in_str_and_repr_of_every_class(cls):
    error = cls(
        f"echoed: GET /fapi/v1/openOrders?{SIGNED} X-MBX-APIKEY: fullapikey123", code=-1, http_status=400
    )
    for text in (str(error), repr(error), str(error.args)):
        assert "c0ffee1234abcd" not in text and "fullapikey123" not in text
    assert "signature=<redacted>" in error.msg


def test_it_describes_itself_with_endpoint_status_and_code():
    error = FatalError(
        "Invalid symbol.", code=-1121, http_status=400, endpoint="POST /fapi/v1/countdownCancelAll"
    )
    assert str(error) == "POST /fapi/v1/countdownCancelAll: Invalid symbol. (HTTP 400, code -1121)"
    assert repr(error).startswith("FatalError(msg='Invalid symbol.', code=-1121, http_status=400")


def test_it_strips_control_characters_and_truncates_hostile_messages():
    error = TemporaryError("line1\r\nline2\x1b[31m" + "x" * 1000)
    assert "\n" not in error.msg and "\x1b" not in error.msg
    assert len(error.msg) <= 300


def test_it_survives_pickling_with_all_its_facts():
    error = RateLimitedError(
        "Banned", code=-1003, http_status=418, used_weight=2400, retry_after=60.0, banned=True
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitedError
    assert (copy.msg, copy.code, copy.http_status, copy.used_weight, copy.retry_after, copy.banned) == (
        "Banned",
        -1003,
        418,
        2400,
        60.0,
        True,
    )
