"""A thin Kraken Futures REST client for Countdown Guard: the account's dead man's switch
(cancelallordersafter), open orders, cancel all, and a read-only key check.

Framework-free, like heartbeats.exchange.client: one keep-alive session, explicit (connect, read) timeouts,
no retries (urllib3's included), every failure translated once into heartbeats.exchange.errors, and nothing
secret (API key, Authent, secret) in a log line, an exception or a repr. The transport's reading of bodies
and of connection failures is BinanceClient's own.

Facts, with where they come from:

- Signing (docs.kraken.com "Futures REST" guide; python-kraken-sdk base_api `_get_kraken_futures_signature`;
  ccxt krakenfutures `sign`): headers APIKey, Authent and, optionally, Nonce; Authent =
  base64(HMAC-SHA512(base64-decoded secret, SHA-256(postData + Nonce + endpointPath))), endpointPath being
  the path without "/derivatives" (/api/v3/cancelallordersafter) and postData the url-encoded parameters as
  sent (the guide's "Upcoming Changes": the decoded form is no longer accepted after 2025-10-01).
- The switch (Futures API "Dead man's switch", POST /derivatives/api/v3/cancelallordersafter): one per
  account, `timeout` in whole seconds, a uint32 in Kraken's OpenAPI description, 0 disarms; no other bound is
  documented. Answer {"result": "success", "status": {"currentTime", "triggerTime"}, "serverTime"}, with
  triggerTime "0" once disarmed. At expiry all the account's orders are cancelled and the timer stays off.
- Errors come with HTTP 200 as {"result": "error", "error": "<name>"} (the endpoint's OpenAPI description
  lists only 200; python-kraken-sdk's issue #303 shows authenticationError so): the names are those of the
  OpenAPI ErrorResponse (apiLimitExceeded, authenticationError, nonceBelowThreshold, nonceDuplicate, ...).
- Cost budget ("Futures Rate Limits" guide; support article "Request Limits (REST API)"): a pool of 500 per
  client that replenishes continually at 500 every 10 seconds; cancelallordersafter and cancelallorders cost
  25, openorders 2, sendorder 10; public endpoints nothing. Kraken sends no usage header (`used_weight` stays
  None) and no Retry-After.
- Time: Kraken Futures has no server-time endpoint; every answer carries serverTime (ISO 8601, ms).
  sync_time() reads it from GET /derivatives/api/v3/instruments (public, no cost). Nothing Kraken checks is
  time-based, so the offset only informs.
- Nonce and late delivery ("Futures REST" guide, "Nonce"): the Nonce is optional, and "Our system tolerates
  nonces that are out of order for a brief period of time" (errors nonceBelowThreshold, nonceDuplicate).
  Kraken publishes no figure for that period and signs no timestamp: a request carries no expiry. So a
  lower nonce than an accepted one is NOT refused at once: an arm signed before a disarm's 0 may still be
  accepted if it arrives shortly after the 0 (within the unpublished tolerance), and a request sent without
  a Nonce (ccxt sends none) can be accepted whenever it arrives. This client always sends a Nonce, strictly
  increasing per client, so an arm held in the network past the tolerance is refused (nonceBelowThreshold);
  but no delay after a disarm can be derived from Kraken's documentation: ACCEPT_AFTER_SIGNING_S is None.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
from datetime import datetime
from urllib.parse import urlencode

from heartbeats.exchange import venues
from heartbeats.exchange.client import (
    _BODY_FAILURES,
    BinanceClient,
    CountdownAck,
    _describe_failure,
    _Reply,
    _retry_after,
    _scrub,
    _summarise,
    _timing,
)
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

log = logging.getLogger(__name__)

VENUE = venues.KRAKEN_FUTURES.key
API_PREFIX = venues.KRAKEN_FUTURES.prefix
SWITCH_SCOPE = ""  # the switch is account-wide: there is no per-symbol one
# Bounds of the switch's timeout: whole seconds, uint32 ("Dead man's switch", OpenAPI `timeout uint32`).
COUNTDOWN_STEP_MS = 1000
MIN_COUNTDOWN_MS = 1000  # the smallest arming value; 0 disarms
MAX_COUNTDOWN_MS = (2**32 - 1) * 1000
# The cost budget ("Futures Rate Limits"): per client (account key), continually replenished.
RATE_LIMIT_BUDGET = 500
RATE_LIMIT_WINDOW_S = 10.0
RATE_LIMIT_SCOPE = "account"
COSTS = {"cancelallordersafter": 25, "cancelallorders": 25, "openorders": 2, "sendorder": 10, "accounts": 2}
# How long after signing Kraken may still accept a request: no bound is documented (nothing time-based is
# signed; the Nonce is optional and out-of-order nonces are tolerated "for a brief period of time").
ACCEPT_AFTER_SIGNING_S: float | None = None
LOWER_NONCE_REFUSED_AT_ONCE = False
NONCE_TOLERANCE_S: float | None = None  # "a brief period of time": unpublished

_MAX_BODY_BYTES = 16 * 1024 * 1024
_MUTATING = frozenset({"POST", "PUT", "DELETE"})
# Kraken's error names and what the caller should do with them (the OpenAPI ErrorResponse list).
_TEMPORARY = {"Unavailable", "unavailable", "marketUnavailable", "nonceDuplicate"}
_UNKNOWN_OUTCOME = {"Server Error", "unknownError"}


class KrakenFuturesSigner:
    """Signs with one Kraken Futures secret (base64, as Kraken hands it out). Never shows it."""

    key_type = VENUE

    def __init__(self, secret_base64: str):
        if not isinstance(secret_base64, str) or not secret_base64.strip():
            raise InvalidKeyError("The Kraken Futures secret is empty.")
        try:
            self._secret = base64.b64decode(secret_base64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidKeyError("The Kraken Futures secret is not valid base64.") from None
        if not self._secret:
            raise InvalidKeyError("The Kraken Futures secret is empty.")

    def sign(self, post_data: str, nonce: str, endpoint_path: str) -> str:
        """Authent for `endpoint_path` (without /derivatives: /api/v3/...)."""
        digest = hashlib.sha256((post_data + nonce + endpoint_path).encode()).digest()
        return base64.b64encode(hmac.new(self._secret, digest, hashlib.sha512).digest()).decode()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}>"

    def __reduce__(self):
        raise TypeError("Signers hold key material and are not picklable.")


class KrakenFuturesClient(BinanceClient):
    """One Kraken Futures account (or none, for public endpoints). Thread-safe for concurrent calls. Shares
    BinanceClient's construction, session, timeouts, body reading and transport failures; signs, sends and
    reads Kraken's own way (_exchange).

    `recv_window` is accepted for the same construction as the Binance clients and unused: Kraken signs no
    timestamp. `used_weight`, `used_weight_at` and `weight_limit` stay None: Kraken reports neither (the
    budget is the module's RATE_LIMIT_*)."""

    def __init__(
        self, base_url: str, api_key: str | None = None, signer: KrakenFuturesSigner | None = None, **options
    ):
        super().__init__(base_url, venues.KRAKEN_FUTURES, api_key, signer, **options)
        self._nonce_lock = threading.Lock()
        self._last_nonce = 0

    # ---- public ---------------------------------------------------------------------------------------

    def sync_time(self) -> int:
        """Measures server − local (ms) from the serverTime of GET instruments (public, no cost), taking it
        to be read at the round trip's midpoint. serverTime has millisecond resolution."""
        started = self._clock()
        reply = self._request("GET", "instruments")
        finished = self._clock()
        server_ms = _iso_ms(reply.data.get("serverTime")) if isinstance(reply.data, dict) else None
        if server_ms is None:
            raise TemporaryError("Unexpected instruments answer.", endpoint=f"GET {API_PREFIX}/instruments")
        self.offset_ms = round(server_ms - (started + finished) / 2 * 1000)
        self.offset_error_ms = max(0.0, (finished - started) * 1000 / 2) + 0.5
        self.synced_at = finished
        return self.offset_ms

    # ---- signed ---------------------------------------------------------------------------------------

    def countdown(self, scope: str, countdown_ms: int, *, signed_at: float | None = None) -> CountdownAck:
        """POST cancelallordersafter: arms or renews the account's switch for countdown_ms (whole seconds),
        or disarms it with 0. `scope` must be "" (account-wide). Refused with ValueError, nothing sent, for
        any other value or a countdown that is not a whole number of seconds within Kraken's bounds. Sent
        once, never retried; returns only when Kraken acknowledged exactly this request. `signed_at`: the
        moment to sign at (its nonce; the ack's timestamp_ms), by default now."""
        if scope != SWITCH_SCOPE:
            raise ValueError("Kraken Futures has one switch per account: scope must be ''.")
        if isinstance(countdown_ms, bool) or not isinstance(countdown_ms, int):
            raise ValueError("countdown_ms must be an integer.")
        if countdown_ms % COUNTDOWN_STEP_MS or not (
            countdown_ms == 0 or MIN_COUNTDOWN_MS <= countdown_ms <= MAX_COUNTDOWN_MS
        ):
            raise ValueError(
                "countdown_ms must be 0 (disarm) or whole seconds from 1 s to 2**32-1 s (Kraken's uint32)."
            )
        endpoint = f"POST {API_PREFIX}/cancelallordersafter"
        reply = self._request(
            "POST", "cancelallordersafter", {"timeout": countdown_ms // 1000}, signed=True, at=signed_at
        )
        status = reply.data.get("status") if isinstance(reply.data, dict) else None
        if not isinstance(status, dict) or reply.data.get("result") != "success":
            raise _not_acknowledged(reply, endpoint)
        current, trigger = _iso_ms(status.get("currentTime")), status.get("triggerTime")
        if countdown_ms == 0:
            acknowledged = trigger == "0"
        else:
            trigger_ms = _iso_ms(trigger)
            acknowledged = (
                current is not None
                and trigger_ms is not None
                and abs(trigger_ms - current - countdown_ms) <= COUNTDOWN_STEP_MS
            )
        if not acknowledged:
            raise _not_acknowledged(reply, endpoint)
        return CountdownAck(symbol=SWITCH_SCOPE, countdown_ms=countdown_ms, **_timing(reply))

    def check_key(self) -> None:
        """Proves the key and signature with a read-only signed GET openorders (cost 2)."""
        self.open_orders()

    def open_orders(self) -> list[dict]:
        data = self._request("GET", "openorders", signed=True).data
        orders = data.get("openOrders") if isinstance(data, dict) else None
        if not isinstance(orders, list):
            raise TemporaryError("Unexpected openorders answer.", endpoint=f"GET {API_PREFIX}/openorders")
        return orders

    def cancel_all(self, symbol: str | None = None) -> dict:
        """POST cancelallorders (cost 25): every open order, or one symbol's. Returns Kraken's cancelStatus;
        a success without one raises OutcomeUnknownError (the orders may or may not be gone)."""
        params = {} if symbol is None else {"symbol": str(symbol)}
        reply = self._request("POST", "cancelallorders", params, signed=True)
        status = reply.data.get("cancelStatus") if isinstance(reply.data, dict) else None
        if not isinstance(status, dict):
            raise _not_acknowledged(reply, f"POST {API_PREFIX}/cancelallorders")
        return status

    # ---- lifecycle ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        key = f"…{self._api_key[-4:]}" if self._api_key else None
        return f"<{type(self).__name__} {self.base_url}{API_PREFIX} api_key={key}>"

    # ---- plumbing -------------------------------------------------------------------------------------

    def _nonce(self, at: float) -> str:
        """Microseconds since the epoch, strictly increasing for this client whatever the threads."""
        with self._nonce_lock:
            self._last_nonce = max(self._last_nonce + 1, int(at * 1_000_000))
            return str(self._last_nonce)

    def _request(
        self, method: str, name: str, params: dict | None = None, *, signed: bool = False, at=None
    ) -> _Reply:
        result = self._exchange(method, name, params or {}, signed, at)
        if isinstance(result, ExchangeError):
            raise result  # raised from this frame, which holds nothing secret
        return result

    def _exchange(self, method, name, params, signed, at) -> _Reply | ExchangeError:
        endpoint = f"{method} {API_PREFIX}/{name}"
        mutating = method in _MUTATING
        unknown = OutcomeUnknownError if mutating else TemporaryError
        url = f"{self.base_url}{API_PREFIX}/{name}"
        post_data = urlencode(params)
        headers, body, timestamp_ms = {}, None, None
        secrets = [self._api_key] if self._api_key else []
        if signed:
            if not self._api_key or self._signer is None:
                return FatalError("No API key or signing key configured.", endpoint=endpoint)
            signed_at = self._clock() if at is None else at
            timestamp_ms = int(signed_at * 1000) + self.offset_ms
            nonce = self._nonce(signed_at)
            authent = self._signer.sign(post_data, nonce, f"/api/v3/{name}")
            secrets.append(authent)
            headers.update({"APIKey": self._api_key, "Nonce": nonce, "Authent": authent})
        if method == "POST":
            body = post_data
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif post_data:
            url = f"{url}?{post_data}"
        sent_at = self._clock()
        response = self._send(method, url, body, headers, endpoint, mutating)
        if isinstance(response, ExchangeError):
            return response
        status = response.status_code
        facts = {"http_status": status, "endpoint": endpoint}
        try:
            content = self._read_body(response)
        except _BODY_FAILURES as exc:
            return unknown(f"The answer was cut off or unreadable ({_describe_failure(exc)}).", **facts)
        finally:
            response.close()
        received_at = self._clock()
        try:
            data = json.loads(content)
        except (ValueError, RecursionError):
            data = None
        error = data.get("error") if isinstance(data, dict) and data.get("result") == "error" else None
        if 200 <= status < 300 and error is None:
            if data is None:
                summary = _summarise(content, response, secrets)
                return unknown(f"HTTP {status} with an unreadable body: {summary}", **facts)
            return _Reply(status, data, None, sent_at, received_at, timestamp_ms)
        if 200 <= status < 300:
            failure = _kraken_error(str(error), mutating, COSTS.get(name, 0), **facts)
        else:
            msg = _scrub(str(error), secrets) if error else _summarise(content, response, secrets)
            retry_after = _retry_after(response.headers.get("Retry-After"))
            failure = classify(
                status, None, msg, mutating=mutating, retry_after=retry_after, endpoint=endpoint
            )
        log.debug("%s failed: %r", endpoint, failure)
        return failure


def _kraken_error(name: str, mutating: bool, cost: int, **facts) -> ExchangeError:
    """A 200 answer with {"result": "error"}: Kraken refused the request (it was not applied), except for
    its server failures, whose outcome is unknown for a request that changes something."""
    msg = f"Kraken Futures refused the request: {name}."
    if name == "apiLimitExceeded":
        # No Retry-After: the least time for the pool to win back this request's cost at 500 per 10 s.
        retry_after = cost * RATE_LIMIT_WINDOW_S / RATE_LIMIT_BUDGET if cost else None
        return RateLimitedError(msg, retry_after=retry_after, **facts)
    if name == "nonceBelowThreshold":
        return TimestampError(msg, **facts)  # a newer nonce was accepted too long ago: our clock or a twin
    if name in _TEMPORARY:
        return TemporaryError(msg, **facts)
    if name in _UNKNOWN_OUTCOME:
        return (OutcomeUnknownError if mutating else TemporaryError)(msg, **facts)
    return FatalError(msg, **facts)  # authenticationError, requiredArgumentMissing, invalidArgument, ...


def _not_acknowledged(reply: _Reply, endpoint: str) -> OutcomeUnknownError:
    return OutcomeUnknownError(
        "The exchange's answer does not acknowledge this request.",
        http_status=reply.status,
        endpoint=endpoint,
    )


def _iso_ms(value) -> int | None:
    """Kraken's "2018-06-19T16:51:23.839Z" as epoch ms."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return round(moment.timestamp() * 1000)


def client(
    base_url: str, api_key: str | None = None, signer: KrakenFuturesSigner | None = None, **options
) -> KrakenFuturesClient:
    """exchange.factory's entry: a Kraken Futures account's client."""
    return KrakenFuturesClient(base_url, api_key, signer, **options)


def signer(secret: str, passphrase: str | None = None) -> KrakenFuturesSigner:
    """exchange.factory's entry: a Kraken Futures key's signer (Kraken's keys have no passphrase)."""
    return KrakenFuturesSigner(secret)
