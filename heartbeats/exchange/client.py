"""A small Binance futures REST client for what Countdown Guard needs: countdownCancelAll (the dead man's
switch), server time, exchange info, and a few order endpoints for key checks, the demo and the tests.

Framework-free. One keep-alive session per client, explicit (connect, read) timeouts on every call, no
automatic retries except the single resync-and-retry the exchange asks for on -1021 (never for countdowns:
see countdown()), every failure translated once into heartbeats.exchange.errors, the used weight recorded
from every response.
Nothing secret (API key, signature, signed URL or body) reaches a log line, an exception or a repr.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from heartbeats.exchange import venues
from heartbeats.exchange.errors import (
    ExchangeError,
    FatalError,
    NoAlgoServiceError,
    OutcomeUnknownError,
    TemporaryError,
    TimestampError,
    classify,
)
from heartbeats.exchange.redact import RedactingFilter, redact
from heartbeats.exchange.signing import Signer

log = logging.getLogger(__name__)

MAX_RECV_WINDOW = 60_000
# exchangeInfo is the largest answer (about 1-2 MB on production); anything far bigger is not Binance.
_MAX_BODY_BYTES = 16 * 1024 * 1024
_SYMBOL = re.compile(r"[A-Z0-9_]{1,40}")
_MUTATING = frozenset({"POST", "PUT", "DELETE"})
# Methods whose parameters travel in the form body. The signature then stays out of the URL, which is what
# urllib3 logs; GET and DELETE keep theirs in the query string (bodies on DELETE are not reliably passed on).
_BODY_METHODS = frozenset({"POST", "PUT"})
# Binance announced that COIN-M conditional orders move to an Algo Service (/dapi/v1/algoOrder ...) as the
# USDⓈ-M ones did on 2025-12-09; until then those paths are unknown (404). A 404 there is remembered per base
# URL for this long: the requests in between are not sent, and the move is noticed without a restart.
ALGO_SERVICE_MEMO_SECONDS = 600.0
_no_algo_service: dict[str, float] = {}  # COIN-M base URL -> time.monotonic() until which it has none
_no_algo_service_lock = threading.Lock()


def has_algo_service(base_url: str, venue: str) -> bool:
    """Whether the venue may keep conditional orders apart, in an Algo Service: always on USDⓈ-M; never on
    Options; on COIN-M unless its algo paths answered 404 within the last ALGO_SERVICE_MEMO_SECONDS. Asks
    nothing."""
    kept = venues.venue(venue).algo_service
    if kept != "ask":
        return kept == "always"
    with _no_algo_service_lock:
        until = _no_algo_service.get(base_url.rstrip("/"))
    return until is None or time.monotonic() >= until


def _remember_algo_service(base_url: str, present: bool) -> None:
    with _no_algo_service_lock:
        if present:
            _no_algo_service.pop(base_url, None)
        else:
            _no_algo_service[base_url] = time.monotonic() + ALGO_SERVICE_MEMO_SECONDS


def forget_algo_service_answers() -> None:
    """Forget every 404 remembered (tests; a process that knows the venue moved)."""
    with _no_algo_service_lock:
        _no_algo_service.clear()


@dataclass(frozen=True)
class CountdownAck:
    """The exchange acknowledged countdownCancelAll for `symbol` with `countdown_ms` (0: disarmed)."""

    symbol: str
    countdown_ms: int
    sent_at: float  # local epoch seconds, read just before the request left: the exchange applied it later
    received_at: float  # local epoch seconds, when the whole answer had arrived
    latency_ms: float
    used_weight: int | None
    http_status: int
    timestamp_ms: int | None = None  # the signed timestamp: the exchange's clock as estimated at sending


@dataclass(frozen=True)
class _Reply:
    status: int
    data: Any
    used_weight: int | None
    sent_at: float
    received_at: float
    timestamp_ms: int | None


def _timing(reply: _Reply) -> dict:
    """What every acknowledgement of a switch (CountdownAck and the options ones) says of its request."""
    return {
        "sent_at": reply.sent_at,
        "received_at": reply.received_at,
        "latency_ms": (reply.received_at - reply.sent_at) * 1000,
        "used_weight": reply.used_weight,
        "http_status": reply.status,
        "timestamp_ms": reply.timestamp_ms,
    }


def _not_acknowledged(reply: _Reply, endpoint: str, what: str) -> OutcomeUnknownError:
    # A success status that does not acknowledge this request: it may or may not have been applied.
    return OutcomeUnknownError(
        f"The exchange's answer does not acknowledge {what}.",
        http_status=reply.status,
        used_weight=reply.used_weight,
        endpoint=endpoint,
    )


class _Answer:
    """urllib3's response with the few attributes of requests' that the client reads (`raw` is urllib3's
    response in both)."""

    __slots__ = ("headers", "raw", "status_code")

    def __init__(self, raw: urllib3.BaseHTTPResponse):
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers

    def close(self) -> None:
        if not self.raw.closed:
            self.raw.close()  # read only in part: the connection is not reused
        self.raw.release_conn()


class _SourceAddressAdapter(HTTPAdapter):
    """Binds outgoing connections to one local address: the exchange counts weight per client IP, so this
    is how one host speaks with several egress identities (and how tests look like distinct clients)."""

    def __init__(self, source_address: str | None, **kwargs):
        self._source_address = (source_address, 0) if source_address else None
        super().__init__(**kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        if self._source_address:
            pool_kwargs["source_address"] = self._source_address
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        if self._source_address:
            proxy_kwargs["source_address"] = self._source_address
        return super().proxy_manager_for(proxy, **proxy_kwargs)


class BinanceClient:
    """One exchange account (or none, for public endpoints) on one Binance venue (`spec`: its prefix, its
    facts): what every venue shares, the transport, signing, clock offset, weight and the reading of failures.
    FuturesClient and OptionsClient (heartbeats.exchange.options) add their venues' endpoints.

    Thread-safe for concurrent calls; the clock offset is refreshed under a lock.
    """

    # exchangeInfo's list of instruments, present in every genuine answer.
    _listing = "symbols"

    def __init__(
        self,
        base_url: str,
        spec: venues.Venue,
        api_key: str | None = None,
        signer: Signer | None = None,
        *,
        recv_window: int = 5000,
        connect_timeout: float = 3.05,
        read_timeout: float = 5.0,
        source_address: str | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        time_sync_every: float = 300.0,
        pool_maxsize: int = 16,
    ):
        self.spec = spec
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("The base URL must look like https://host[:port] (no query string).")
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise ValueError(f"recvWindow must be between 1 and {MAX_RECV_WINDOW} ms.")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("Timeouts must be positive.")
        self.base_url = base_url.rstrip("/")
        self.venue = spec.key
        self.prefix = self.spec.prefix
        self._api_key = api_key or None
        self._signer = signer
        self.recv_window = recv_window
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.source_address = source_address
        self.time_sync_every = time_sync_every
        self._clock = clock

        # server − local, in ms, from the last sync; its error is at most half that sync's round trip.
        self.offset_ms = 0
        self.offset_error_ms: float | None = None
        self.synced_at: float | None = None
        self._next_sync_at: float | None = None
        self._sync_lock = threading.Lock()

        self.used_weight: int | None = None  # last X-MBX-USED-WEIGHT-1M seen
        self.used_weight_at: float | None = None
        self.used_weight_sent_at: float | None = None  # when the request that brought it left
        self.weight_limit: int | None = None  # REQUEST_WEIGHT per minute, once exchange_info() was read

        self._owns_session = session is None
        self._session = session or requests.Session()
        if self._owns_session or source_address:
            # Never retried by urllib3 (max_retries=0): only the caller may decide to repeat a request.
            adapter = _SourceAddressAdapter(source_address, pool_maxsize=pool_maxsize, max_retries=0)
            self._session.mount("http://", adapter)
            self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = "countdown-guard"
        # Requests go through urllib3's pool directly (requests is built on it), half the CPU of a call,
        # unless a proxy is configured or the caller brought its own session: requests then does them.
        self._pool: urllib3.PoolManager | None = None
        if self._owns_session:
            # What requests takes from the environment (HTTPS_PROXY / NO_PROXY, a CA bundle) is read once
            # here, not before every request: it would otherwise scan the whole environment per call, a
            # sixth of a countdown's CPU. (.netrc is left out: the API key is the only credential.)
            self._session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle:
                self._session.verify = bundle
            self._session.trust_env = False
            if not self._session.proxies:
                self._pool = urllib3.PoolManager(
                    maxsize=pool_maxsize,
                    retries=False,  # only the caller may decide to repeat a request
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=bundle or requests.certs.where(),
                    **({"source_address": (source_address, 0)} if source_address else {}),
                )
                self._timeout = urllib3.Timeout(connect=self.connect_timeout, read=self.read_timeout)
                self._headers = {"User-Agent": "countdown-guard"}

    # ---- public endpoints -------------------------------------------------------------------------------

    def sync_time(self) -> int:
        """Measures the clock offset (server − local, ms) against GET {prefix}/v1/time, taking the server's
        reading to be at the midpoint of the round trip. Returns the new offset_ms."""
        started = self._clock()
        reply = self._request("GET", "/v1/time")
        finished = self._clock()
        server_ms = _server_time(reply.data, "/v1/time")
        self.offset_ms = round(server_ms - (started + finished) / 2 * 1000)
        self.offset_error_ms = max(0.0, (finished - started) * 1000 / 2)
        self.synced_at = finished
        self._next_sync_at = finished + self.time_sync_every
        log.debug("clock offset %+d ms (±%.1f ms) venue=%s", self.offset_ms, self.offset_error_ms, self.venue)
        return self.offset_ms

    def adopt_clock(self, other: BinanceClient) -> None:
        """Takes the clock offset another client of the same host measured, as if measured here then: the
        host has one clock, and one measurement serves every account on it."""
        self.offset_ms, self.offset_error_ms = other.offset_ms, other.offset_error_ms
        self.synced_at = other.synced_at
        if other.synced_at is not None:
            self._next_sync_at = other.synced_at + self.time_sync_every

    def server_time(self) -> int:
        """The exchange's clock, epoch ms."""
        return _server_time(self._request("GET", "/v1/time").data, "/v1/time")

    def exchange_info(self) -> dict:
        """GET {prefix}/v1/exchangeInfo. Also records `weight_limit` from its rateLimits."""
        data = self._request("GET", "/v1/exchangeInfo").data
        if not isinstance(data, dict) or not isinstance(data.get(self._listing), list):
            raise TemporaryError(
                "Unexpected exchangeInfo answer.", endpoint=f"GET {self.prefix}/v1/exchangeInfo"
            )
        self.weight_limit = weight_limit_per_minute(data.get("rateLimits"))
        return data

    # ---- signed endpoints -------------------------------------------------------------------------------

    def query_order(self, symbol: str, order_id: int) -> dict:
        """GET {prefix}/v1/order (weight 1): one order as the exchange keeps it, closed ones included, with
        its `status` and `updateTime` (when it last changed: for a cancelled order, when it was cancelled)."""
        self._check_symbol(symbol)
        data = self._signed("GET", "/v1/order", {"symbol": symbol, "orderId": str(int(order_id))}).data
        if not isinstance(data, dict):
            raise TemporaryError("Unexpected order answer.", endpoint=f"GET {self.prefix}/v1/order")
        return data

    def place_order(
        self,
        symbol: str,
        side: str,
        quantity,
        price=None,
        *,
        order_type: str = "LIMIT",
        time_in_force: str | None = "GTC",
        **extra,
    ) -> dict:
        """POST {prefix}/v1/order. Not idempotent: never repeat it after an OutcomeUnknownError without
        checking open_orders() first."""
        self._check_symbol(symbol)
        params = {"symbol": symbol, "side": side, "type": order_type, "quantity": str(quantity)}
        if price is not None:
            params["price"] = str(price)
        if time_in_force and order_type == "LIMIT":
            params["timeInForce"] = time_in_force
        params.update({key: str(value) for key, value in extra.items()})
        return self._signed("POST", "/v1/order", params).data

    @staticmethod
    def _check_symbol(symbol) -> None:
        _check_symbol(symbol)

    # ---- lifecycle --------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_session:
            self._session.close()
        if self._pool is not None:
            self._pool.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self) -> str:
        key = f"…{self._api_key[-4:]}" if self._api_key else None
        key_type = self._signer.key_type if self._signer else None
        return f"<{type(self).__name__} {self.base_url}{self.prefix} api_key={key} key_type={key_type}>"

    # ---- plumbing ---------------------------------------------------------------------------------------

    def _signed(
        self, method: str, path: str, params: dict, *, keep_time: bool = True, at: float | None = None
    ) -> _Reply:
        """A signed request. With `keep_time`, the clock offset is refreshed first when due, and on -1021 the
        offset is resynced and the request retried once (the first was rejected, so repeating it is safe
        even when it is not idempotent); without it, signed at once and never repeated."""
        if not self._api_key or self._signer is None:
            raise FatalError(
                "No API key or signing key configured.", endpoint=f"{method} {self.prefix}{path}"
            )
        if not keep_time:
            return self._request(method, path, params, signed=True, at=at)
        self._keep_time_synced()
        try:
            return self._request(method, path, params, signed=True)
        except TimestampError as error:
            log.warning("%s; resyncing the clock offset and retrying once", error)
        self.sync_time()
        return self._request(method, path, params, signed=True)

    def _sync_once(self) -> None:
        """Measures the clock before a switch call only when this client never measured it: switch calls are
        signed at once with the offset known (see FuturesClient.countdown())."""
        if self.synced_at is None and self._api_key and self._signer is not None:
            self._keep_time_synced()

    def _keep_time_synced(self) -> None:
        if self._next_sync_at is not None and self._clock() < self._next_sync_at:
            return
        with self._sync_lock:
            if self._next_sync_at is not None and self._clock() < self._next_sync_at:
                return  # another thread synced while this one waited
            try:
                self.sync_time()
            except ExchangeError as error:
                if self.synced_at is None:
                    raise
                # A known offset drifts slowly: keep using it, and try again soon rather than on every call.
                log.warning("clock offset refresh failed (%s); keeping %+d ms", error, self.offset_ms)
                self._next_sync_at = self._clock() + min(5.0, self.time_sync_every)

    def _request(
        self,
        method: str,
        path: str,
        params: dict | None = None,
        *,
        signed: bool = False,
        at: float | None = None,
    ) -> _Reply:
        result = self._exchange(method, path, params, signed, at)
        # Raised here, not where it was built: this frame holds nothing secret, while the frame that signed
        # and sent the request (and requests' exceptions, which carry the prepared request) is gone.
        if isinstance(result, ExchangeError):
            raise result
        return result

    def _exchange(
        self, method: str, path: str, params: dict | None, signed: bool, at: float | None = None
    ) -> _Reply | ExchangeError:
        """Signs, sends and reads one request; returns the reply or the classified error, never raises one."""
        endpoint = f"{method} {self.prefix}{path}"
        mutating = method in _MUTATING
        unknown = OutcomeUnknownError if mutating else TemporaryError
        url = f"{self.base_url}{self.prefix}{path}"
        headers = {}
        body = None
        timestamp_ms = None
        secrets = [self._api_key] if self._api_key else []
        if signed:
            params = {**(params or {}), "recvWindow": self.recv_window}
            timestamp_ms = int((self._clock() if at is None else at) * 1000) + self.offset_ms
            params["timestamp"] = timestamp_ms
            payload = urlencode(params)
            signature = self._signer.sign(payload)
            secrets += [signature, quote(signature, safe="")]
            # The signature is the last parameter, URL-encoded (base64 has '+', '/' and '=').
            signed_text = f"{payload}&signature={quote(signature, safe='')}"
            headers["X-MBX-APIKEY"] = self._api_key
            if method in _BODY_METHODS:
                body = signed_text
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                url = f"{url}?{signed_text}"
        elif params:
            url = f"{url}?{urlencode(params)}"

        sent_at = self._clock()
        response = self._send(method, url, body, headers, endpoint, mutating)
        if isinstance(response, ExchangeError):
            return response

        status = response.status_code
        used_weight = self._record_weight(response)
        if used_weight is not None:
            self.used_weight_sent_at = sent_at
        facts = {"http_status": status, "used_weight": used_weight, "endpoint": endpoint}
        try:
            content = self._read_body(response)
        except _BODY_FAILURES as exc:
            return unknown(f"The answer was cut off or unreadable ({_describe_failure(exc)}).", **facts)
        finally:
            response.close()
        received_at = self._clock()
        log.debug(
            "%s -> %s in %.1f ms, used weight %s",
            endpoint,
            status,
            (received_at - sent_at) * 1000,
            used_weight,
        )

        if 200 <= status < 300:
            try:
                return _Reply(status, json.loads(content), used_weight, sent_at, received_at, timestamp_ms)
            except (ValueError, RecursionError):
                # A success status the client cannot read: for a POST it may well have been applied.
                summary = _summarise(content, response, secrets)
                return unknown(f"HTTP {status} with an unreadable body: {summary}", **facts)

        code, msg = _error_fields(content, response, secrets)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        error = classify(
            status,
            code,
            msg,
            mutating=mutating,
            retry_after=retry_after,
            used_weight=used_weight,
            endpoint=endpoint,
            venue=self.venue,
        )
        log.debug("%s failed: %r", endpoint, error)
        return error

    def _send(self, method: str, url: str, body, headers: dict, endpoint: str, mutating: bool):
        """One request, never retried, through urllib3's pool (or requests where a proxy or a caller's session
        is in use): the response (read it with _read_body, then close it), or the failure classified as
        every venue's client reads it. The one transport of every client built on this one."""
        if self._pool is not None:
            try:
                return _Answer(
                    self._pool.urlopen(
                        method,
                        url,
                        body=body,
                        headers={**self._headers, **headers},
                        timeout=self._timeout,
                        redirect=False,
                        preload_content=False,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - classified like requests' own exceptions, exactly
                return self._pool_error(exc, endpoint, mutating)
        try:
            return self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            return self._transport_error(exc, endpoint, mutating)

    def _transport_error(
        self, exc: requests.RequestException, endpoint: str, mutating: bool
    ) -> ExchangeError:
        """No HTTP answer: decide from where the request got to. Only the exception's type and the operating
        system's reason are kept, never its text (which holds the URL)."""
        facts = {"endpoint": endpoint}
        unknown = OutcomeUnknownError if mutating else TemporaryError
        if isinstance(exc, requests.ConnectTimeout):
            return TemporaryError(f"No connection within {self.connect_timeout} s.", **facts)
        if isinstance(exc, requests.ReadTimeout):
            return unknown(
                f"No answer within {self.read_timeout} s; the request may have been applied.", **facts
            )
        if isinstance(exc, requests.ConnectionError):
            cause = exc.args[0] if exc.args else None
            if isinstance(cause, MaxRetryError):
                cause = cause.reason
            if isinstance(cause, NewConnectionError) or isinstance(
                exc, requests.exceptions.SSLError | requests.exceptions.ProxyError
            ):
                return TemporaryError(f"Could not connect ({_describe_failure(exc)}).", **facts)
            # The connection broke after the request was written: it may have reached the exchange.
            return unknown(
                f"Connection lost ({_describe_failure(exc)}); the request may have been applied.", **facts
            )
        return FatalError(f"The request could not be sent ({type(exc).__name__}).", **facts)

    def _pool_error(self, exc: Exception, endpoint: str, mutating: bool) -> ExchangeError:
        """_transport_error() for urllib3's own exceptions (the direct path): the same classes and texts."""
        facts = {"endpoint": endpoint}
        unknown = OutcomeUnknownError if mutating else TemporaryError
        if isinstance(exc, MaxRetryError):
            exc = exc.reason or exc
        # NewConnectionError is a ConnectTimeoutError too: asked first, as requests does.
        if isinstance(exc, NewConnectionError | urllib3.exceptions.SSLError | urllib3.exceptions.ProxyError):
            return TemporaryError(f"Could not connect ({_describe_failure(exc)}).", **facts)
        if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
            return TemporaryError(f"No connection within {self.connect_timeout} s.", **facts)
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            return unknown(
                f"No answer within {self.read_timeout} s; the request may have been applied.", **facts
            )
        if isinstance(exc, urllib3.exceptions.ProtocolError | OSError | HTTPException):
            # The connection broke after the request was written: it may have reached the exchange. Without
            # an operating system's reason, named as requests names it.
            reason = _describe_failure(exc)
            reason = "ConnectionError" if reason == type(exc).__name__ else reason
            return unknown(f"Connection lost ({reason}); the request may have been applied.", **facts)
        return FatalError(f"The request could not be sent ({type(exc).__name__}).", **facts)

    def _record_weight(self, response: requests.Response) -> int | None:
        weight = _as_int(response.headers.get("X-MBX-USED-WEIGHT-1M"))
        if weight is not None and weight >= 0:
            self.used_weight = weight
            self.used_weight_at = self._clock()
            return weight
        return None

    def _read_body(self, response: requests.Response) -> bytes:
        # The read timeout bounds each socket read, not a body trickled byte by byte: bound the total too.
        # read1 returns what one socket read brought, so the deadline is checked as bytes come in.
        deadline = time.monotonic() + 2 * self.read_timeout
        chunks, size = [], 0
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > _MAX_BODY_BYTES:
                raise _BodyError("answer too large")
            if time.monotonic() > deadline:
                raise _BodyError("answer too slow")
            chunks.append(chunk)
        return b"".join(chunks)


class FuturesClient(BinanceClient):
    """One exchange account (or none, for public endpoints) on one futures venue: "usdm" (/fapi) or "coinm"
    (/dapi). The keyword options are BinanceClient's."""

    def __init__(
        self,
        base_url: str,
        venue: str = "usdm",
        api_key: str | None = None,
        signer: Signer | None = None,
        **options,
    ):
        # ValueError for a venue the guard does not offer, or one whose switch is not a futures countdown.
        spec = venues.venue(venue)
        if spec.arming != venues.SET_AND_RENEW:
            raise ValueError(f"{spec.label} is not a futures venue: its client is exchange.factory's.")
        super().__init__(base_url, spec, api_key, signer, **options)

    # ---- public endpoints -------------------------------------------------------------------------------

    def trading_symbols(self) -> set[str]:
        """Symbols currently trading (USDⓈ-M: status TRADING; COIN-M: contractStatus TRADING)."""
        status_fields = (
            ("contractStatus", "status") if self.venue == "coinm" else ("status", "contractStatus")
        )
        symbols = set()
        for item in self.exchange_info()["symbols"]:
            if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
                continue
            status = next((item[f] for f in status_fields if f in item), None)
            if status == "TRADING":
                symbols.add(item["symbol"])
        return symbols

    # ---- signed endpoints -------------------------------------------------------------------------------

    def countdown(self, symbol: str, countdown_ms: int, *, signed_at: float | None = None) -> CountdownAck:
        """POST {prefix}/v1/countdownCancelAll: (re)starts the symbol's countdown; countdown_ms=0 disarms it.
        Returns only when the exchange acknowledged exactly this request; raises the error tree otherwise.
        `signed_at` (epoch s, local clock): the time to sign it with, when the caller's check that it is
        still wanted came after that moment; by default, now.

        Signed at once with the offset already known: no clock sync and no retry inside, because the caller
        checked just before calling that this request is still wanted (a disarm may have been committed), and
        a sync or a retry would sign it later than that check. On -1021 the caller syncs (sync_time()) and
        decides again. Only a client that never measured the clock measures it here first; the engine and
        the web's fallback sync their clients before they decide anything."""
        _check_symbol(symbol)
        if isinstance(countdown_ms, bool) or not isinstance(countdown_ms, int) or countdown_ms < 0:
            raise ValueError("countdown_ms must be a non-negative integer (0 disarms).")
        endpoint = f"POST {self.prefix}/v1/countdownCancelAll"
        self._sync_once()
        params = {"symbol": symbol, "countdownTime": countdown_ms}
        reply = self._signed("POST", "/v1/countdownCancelAll", params, keep_time=False, at=signed_at)
        data = reply.data
        acked_ms = _as_int(data.get("countdownTime")) if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("symbol") != symbol or acked_ms != countdown_ms:
            # A 200 that does not acknowledge this request: it may or may not have been applied.
            raise _not_acknowledged(reply, endpoint, "this countdown")
        return CountdownAck(symbol=symbol, countdown_ms=acked_ms, **_timing(reply))

    def check_key(self, symbol: str | None = None) -> None:
        """Proves the API key, signature and IP whitelist with a signed GET {prefix}/v1/openOrders (weight 1
        with a symbol, 40 without). Returns None when accepted; raises the error tree otherwise."""
        self.open_orders(symbol)

    def open_orders(self, symbol: str | None = None) -> list[dict]:
        params = {}
        if symbol is not None:
            _check_symbol(symbol)
            params["symbol"] = symbol
        data = self._signed("GET", "/v1/openOrders", params).data
        if not isinstance(data, list):
            raise TemporaryError("Unexpected openOrders answer.", endpoint=f"GET {self.prefix}/v1/openOrders")
        return data

    def cancel_all_open_orders(self, symbol: str) -> dict:
        """DELETE {prefix}/v1/allOpenOrders for one symbol."""
        _check_symbol(symbol)
        return self._signed("DELETE", "/v1/allOpenOrders", {"symbol": symbol}).data

    # ---- algo (conditional) orders ----------------------------------------------------------------------
    # Since 2025-12-09 Binance keeps USDⓈ-M STOP, TAKE_PROFIT, their *_MARKET forms and TRAILING_STOP_MARKET
    # in its Algo Service: openOrders does not list them and allOpenOrders does not cancel them. COIN-M's go
    # the same way once Binance moves them; until then they are plain orders, seen and cancelled by the
    # methods above, and the methods below raise NoAlgoServiceError there (the path's 404, remembered).

    @property
    def has_algo_service(self) -> bool:
        """Whether conditional orders may live apart, behind the *_algo_* methods: USDⓈ-M, and COIN-M unless
        it answered lately that it has no Algo Service (module function `has_algo_service`)."""
        return has_algo_service(self.base_url, self.venue)

    def open_algo_orders(self, symbol: str | None = None) -> list[dict]:
        """GET {prefix}/v1/openAlgoOrders: untriggered conditional orders (weight 1 per symbol, else 40)."""
        params = {}
        if symbol is not None:
            _check_symbol(symbol)
            params["symbol"] = symbol
        data = self._algo("GET", "/v1/openAlgoOrders", params).data
        if not isinstance(data, list):
            raise TemporaryError(
                "Unexpected openAlgoOrders answer.", endpoint=f"GET {self.prefix}/v1/openAlgoOrders"
            )
        return data

    def cancel_all_algo_open_orders(self, symbol: str) -> dict:
        """DELETE {prefix}/v1/algoOpenOrders for one symbol (weight 1). Returns Binance's acknowledgement; a
        success status without it raises OutcomeUnknownError, since the orders may or may not be gone."""
        _check_symbol(symbol)
        reply = self._algo("DELETE", "/v1/algoOpenOrders", {"symbol": symbol})
        if not isinstance(reply.data, dict) or _as_int(reply.data.get("code")) != 200:
            raise _not_acknowledged(
                reply, f"DELETE {self.prefix}/v1/algoOpenOrders", "cancelling the algo orders"
            )
        return reply.data

    def place_algo_order(
        self, symbol: str, side: str, order_type: str, quantity, trigger_price, price=None, **extra
    ) -> dict:
        """POST {prefix}/v1/algoOrder with algoType CONDITIONAL (for tests and the demo). `quantity` None for
        closePosition=True, `trigger_price` None for TRAILING_STOP_MARKET (send callbackRate instead); extra
        Binance parameters by name (clientAlgoId, reduceOnly, timeInForce, ...). Not idempotent: never repeat
        it after an OutcomeUnknownError without checking open_algo_orders() first."""
        _check_symbol(symbol)
        params = {"algoType": "CONDITIONAL", "symbol": symbol, "side": side, "type": order_type}
        if quantity is not None:
            params["quantity"] = str(quantity)
        if trigger_price is not None:
            params["triggerPrice"] = str(trigger_price)
        if price is not None:
            params["price"] = str(price)
        # Booleans as Binance spells them ("true"), not as Python prints them.
        params.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in extra.items()})
        return self._algo("POST", "/v1/algoOrder", params).data

    def _algo(self, method: str, path: str, params: dict) -> _Reply:
        """A signed request to the Algo Service. On COIN-M a 404 without Binance's error body (the answer to
        an unknown path) means it has none yet: remembered, and raised as NoAlgoServiceError; any other
        failure is classified as usual."""
        self._require_algo_service()
        try:
            reply = self._signed(method, path, params)
        except ExchangeError as error:
            if self.spec.algo_service == "ask" and error.http_status == 404 and error.code is None:
                _remember_algo_service(self.base_url, False)
                raise self._no_algo_service(f"{method} {self.prefix}{path}") from None
            raise
        if self.spec.algo_service == "ask":
            _remember_algo_service(self.base_url, True)
        return reply

    def _require_algo_service(self) -> None:
        if not self.has_algo_service:
            raise self._no_algo_service()

    def _no_algo_service(self, endpoint: str | None = None) -> NoAlgoServiceError:
        return NoAlgoServiceError(
            "COIN-M futures has no Algo Service (yet): its conditional orders are plain orders.",
            http_status=404 if endpoint else None,
            endpoint=endpoint,
        )


class _BodyError(Exception):
    pass


# What reading a body can raise: urllib3's and http.client's errors (read1 is not wrapped by requests).
_BODY_FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError, HTTPException, OSError, _BodyError)


def weight_limit_per_minute(rate_limits) -> int | None:
    """REQUEST_WEIGHT per minute from exchangeInfo's rateLimits (interval MINUTE, intervalNum 1), or None
    when the exchange did not say."""
    for item in rate_limits if isinstance(rate_limits, list) else []:
        if (
            isinstance(item, dict)
            and item.get("rateLimitType") == "REQUEST_WEIGHT"
            and item.get("interval") == "MINUTE"
            and _as_int(item.get("intervalNum")) == 1
        ):
            limit = _as_int(item.get("limit"))
            if limit is not None and limit > 0:
                return limit
    return None


def _check_symbol(symbol) -> None:
    if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
        raise ValueError("A symbol is 1-40 upper-case letters, digits or '_' (e.g. BTCUSDT, BTCUSD_PERP).")


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value)
    return None


def _server_time(data, path: str) -> int:
    server_ms = _as_int(data.get("serverTime")) if isinstance(data, dict) else None
    if server_ms is None:
        raise TemporaryError("Unexpected server time answer.", endpoint=f"GET {path}")
    return server_ms


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    seconds = _as_int(value)
    if seconds is not None:
        return float(max(0, seconds))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return redact(text)


def _error_fields(content: bytes, response: requests.Response, secrets: list[str]) -> tuple[int | None, str]:
    """Binance's {"code": -1121, "msg": "Invalid symbol."}, or a summary of whatever else came back."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and ("code" in data or "msg" in data):
        msg = data.get("msg")
        return _as_int(data.get("code")), _scrub(msg if isinstance(msg, str) else "", secrets)
    return None, _summarise(content, response, secrets)


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _summarise(content: bytes, response: requests.Response, secrets: list[str]) -> str:
    """A short, safe description of a body that is not Binance JSON (a proxy's HTML page, garbage)."""
    kind = (response.headers.get("Content-Type") or "no content type").split(";")[0].strip()[:40]
    if not content:
        return f"empty body ({kind})"
    match = _TITLE.search(content[:65536])
    text = (match.group(1) if match else content[:80]).decode("utf-8", "replace")
    text = " ".join(text.split())[:80]
    return _scrub(f"non-JSON body ({kind}): {text}", secrets)


def _describe_failure(exc: BaseException) -> str:
    """The operating system's reason ("Connection refused") or the exception's type, never its text."""
    if isinstance(exc, _BodyError):
        return str(exc)
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return type(exc).__name__


def _guard_urllib3_logging() -> None:
    """urllib3 logs request lines (with the query string, so the signature) and retry URLs at DEBUG. Its
    records are redacted at the source so that no handler, including ones added later, ever sees them."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "urllib3.connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


_guard_urllib3_logging()
