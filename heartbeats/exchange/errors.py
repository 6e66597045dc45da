"""What went wrong at the exchange boundary, as a small tree whose classes say what the caller should do.

Every error is built by the client from facts it observed (HTTP status, Binance error code, the exchange's
message) and never wraps the transport's exception: requests' exceptions carry the prepared request, whose
URL, body and headers hold the signature and the API key.
"""

from __future__ import annotations

from heartbeats.exchange.redact import redact

_MAX_MSG = 300


class ExchangeError(Exception):
    """Base class. `msg` is the exchange's message (or our description of the failure), already redacted;
    `code` is Binance's error code, `http_status` the HTTP status (None if no response arrived),
    `used_weight` the X-MBX-USED-WEIGHT-1M of the response when there was one."""

    def __init__(
        self,
        msg: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
        used_weight: int | None = None,
        endpoint: str | None = None,
    ):
        self.msg = _clean(msg)
        self.code = code
        self.http_status = http_status
        self.used_weight = used_weight
        # "POST /fapi/v1/countdownCancelAll": method and path only, never the query string.
        self.endpoint = endpoint
        super().__init__(self.msg)

    def __str__(self) -> str:
        facts = []
        if self.http_status is not None:
            facts.append(f"HTTP {self.http_status}")
        if self.code is not None:
            facts.append(f"code {self.code}")
        text = self.msg or self.__class__.__name__
        if facts:
            text = f"{text} ({', '.join(facts)})"
        return f"{self.endpoint}: {text}" if self.endpoint else text

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._fields().items())
        return f"{self.__class__.__name__}({fields})"

    def _fields(self) -> dict:
        return {
            "msg": self.msg,
            "code": self.code,
            "http_status": self.http_status,
            "used_weight": self.used_weight,
            "endpoint": self.endpoint,
        }

    def __reduce__(self):
        # Keyword-only constructors do not survive pickling by default (task queues pickle results).
        return (_rebuild, (self.__class__, self._fields()))


def _rebuild(cls, fields):
    return cls(**fields)


class TemporaryError(ExchangeError):
    """The request was not applied and a retry soon is expected to work: 5xx "Service Unavailable" and other
    server errors, -1001 (disconnected), -1008 (overloaded; on options it means too many requests), connection
    refused, connect timeouts, and any failure of a request that changes nothing (GET). Retry after a short
    pause; keep counting failures."""


class TimestampError(TemporaryError):
    """-1021: the timestamp was outside recvWindow even after the client resynced its clock offset and retried
    once. The request was rejected (not applied). Retry later; if it persists, the host clock or the network
    path is unstable (a clock running ahead of the exchange fails whatever the recvWindow)."""


class RateLimitedError(ExchangeError):
    """429 (too many requests) or 418 (this IP is banned). Stop sending from this IP until `retry_after`
    seconds have passed (when the exchange said so; otherwise back off on your own). `banned` is True for
    418: heartbeats are impossible until the ban ends, so countdowns will run out: raise the alarm at once."""

    def __init__(self, msg: str = "", *, retry_after: float | None = None, banned: bool = False, **kwargs):
        self.retry_after = retry_after
        self.banned = banned
        super().__init__(msg, **kwargs)

    def _fields(self) -> dict:
        return {**super()._fields(), "retry_after": self.retry_after, "banned": self.banned}


class OutcomeUnknownError(ExchangeError):
    """The request may or may not have been applied: 503 "Unknown error", -1006, -1007, -1000 with a 5xx, a
    read timeout or a connection lost after the request was sent, an unreadable 2xx answer. Never count it as
    confirmed nor as failed; an idempotent request (countdownCancelAll) can be repeated at once."""


class FatalError(ExchangeError):
    """Needs a human; retrying will not help and hammering may get the key or IP banned: -1121 (bad symbol),
    -1102 (malformed request), -1022 (bad signature), -2014/-2015 (API key, IP whitelist or permission) and
    other 4xx answers. Stop this policy or account and alert."""


class NoAlgoServiceError(FatalError, ValueError):
    """The venue keeps no conditional orders apart: COIN-M until Binance moves them to an Algo Service as it
    did USDⓈ-M's (its algo paths answer 404 until then). They are plain orders, listed by openOrders and
    cancelled by allOpenOrders. Nothing was applied."""


class InvalidKeyError(FatalError, ValueError):
    """The stored key material cannot sign (malformed PEM, wrong key type, wrong passphrase, empty). Nothing
    was sent. A key admin must replace the key. The message never contains key material."""


def _clean(text) -> str:
    text = redact(str(text or ""))
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return text if len(text) <= _MAX_MSG else text[: _MAX_MSG - 1] + "…"


# Binance error codes with a meaning for the caller. Anything else is decided by the HTTP status.
TEMPORARY_CODES = {-1001, -1008}
UNKNOWN_OUTCOME_CODES = {-1006, -1007}
# -1000 "An unknown error occurred while processing the request": with a 5xx the server failed part-way.
UNKNOWN_WHEN_5XX_CODES = {-1000}
RATE_LIMIT_CODES = {-1003, -1015}
TIMESTAMP_CODE = -1021
FATAL_CODES = {-1121, -1102, -1022, -2014, -2015}
# Binance Options (/eapi) words some codes its own way (its error-code page): -1008 is TOO_MANY_REQUESTS there
# (sent with 429, or 418 once banned), not "overloaded"; -1128 BAD_CONTRACT is an invalid underlying (what
# -1121 is to a futures symbol) and -1130 INVALID_PARAMETER a value it refuses (a countdown under 5 s).
OPTIONS = "options"
OPTIONS_RATE_LIMIT_CODES = {-1008}
OPTIONS_FATAL_CODES = {-1128, -1130}


def classify(
    http_status: int,
    code: int | None,
    msg: str,
    *,
    mutating: bool,
    retry_after: float | None = None,
    used_weight: int | None = None,
    endpoint: str | None = None,
    venue: str | None = None,
) -> ExchangeError:
    """The one translation of an exchange error answer into the tree, most specific first.

    `mutating` is False for requests that change nothing (GET): their outcome cannot be "unknown", so what
    would be OutcomeUnknownError for a POST is a TemporaryError for them. `venue` "options" reads the codes
    as Binance Options means them (OPTIONS_*_CODES); any other value, or None, as the futures venues do.
    """
    facts = {"code": code, "http_status": http_status, "used_weight": used_weight, "endpoint": endpoint}
    unknown = OutcomeUnknownError if mutating else TemporaryError
    options = venue == OPTIONS
    if http_status == 418:
        return RateLimitedError(msg or "This IP is banned.", retry_after=retry_after, banned=True, **facts)
    if http_status == 429 or code in RATE_LIMIT_CODES or (options and code in OPTIONS_RATE_LIMIT_CODES):
        return RateLimitedError(msg or "Too many requests.", retry_after=retry_after, **facts)
    if code == TIMESTAMP_CODE:
        return TimestampError(msg or "Timestamp outside recvWindow.", **facts)
    if options and code in OPTIONS_FATAL_CODES:
        return FatalError(msg or "Request refused.", **facts)
    if code in UNKNOWN_OUTCOME_CODES or (code in UNKNOWN_WHEN_5XX_CODES and http_status >= 500):
        return unknown(msg or "Unknown error.", **facts)
    if code in TEMPORARY_CODES:
        return TemporaryError(msg or "Temporary failure.", **facts)
    if code in FATAL_CODES:
        return FatalError(msg or "Request refused.", **facts)
    if http_status == 503:
        # Binance's 503 "Unknown error, please check your request or try again later." means the execution
        # status is unknown; "Service Unavailable" and "Internal error" mean it failed.
        if "unknown error" in (msg or "").lower():
            return unknown(msg, **facts)
        return TemporaryError(msg or "Service unavailable.", **facts)
    if http_status == 504:
        # A gateway gave up waiting for the exchange, which may still have acted on the request.
        return unknown(msg or "Gateway timeout.", **facts)
    if http_status >= 500:
        return TemporaryError(msg or "Server error.", **facts)
    if http_status == 408:
        # The server gave up receiving the request: nothing was applied.
        return TemporaryError(msg or "Request timeout.", **facts)
    return FatalError(msg or f"Unexpected HTTP {http_status}.", **facts)
