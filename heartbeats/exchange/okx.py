"""A thin OKX (API v5) client for the dead man's switch, Cancel All After, and the few order endpoints the
guard needs around it: the clock, a key check, the pending orders and cancelling them all.

Framework-free. It shares BinanceClient's transport (one keep-alive pool, explicit timeouts, no automatic
retries but the single resync-and-retry on an expired timestamp, never for the switch), clock offset keeping
and reading of transport failures; the signing, the reading of OKX's answers and their error codes are OKX's.
Nothing secret (API key, passphrase, signature) reaches a log line, an exception or a repr.

Facts, from OKX's API v5 docs (https://www.okx.com/docs-v5/en/), each under the anchor named:
- #order-book-trading-trade-post-cancel-all-after: POST /api/v5/trade/cancel-all-after, `timeOut` in seconds
  as a string, "Range of value can be 0, [10, 120]", 0 turns it off; `tag` (optional, "case-sensitive
  alphanumerics ... up to 16 characters") scopes it to the orders placed with that tag, without it the whole
  (sub-)account's pending order-book orders; at most 20 tag-level switches live at once (51071); answer
  data[0] = {triggerTime, tag, ts}, "triggerTime=0 means Cancel All After is disabled"; "Rate Limit: 1
  request per second", "Rate limit rule: User ID + tag". OKX recommends a heartbeat every second and warns
  that, once triggered, orders are cancelled one by one, which "may take up to a few seconds".
  ccxt's okx.py agrees (cost 10 at a rateLimit of 100 ms: one call a second); python-okx 0.4.4 has no method
  for this endpoint (its TradeAPI is used through its generic signed request).
- #overview-rest-authentication: headers OK-ACCESS-KEY, OK-ACCESS-SIGN = Base64(HMAC-SHA256(secret,
  timestamp + METHOD + requestPath + body)), OK-ACCESS-TIMESTAMP ("ISO 8601 UTC format with millisecond
  precision, e.g. 2020-12-08T09:08:57.715Z"), OK-ACCESS-PASSPHRASE; a GET's query string is part of
  requestPath. "The server rejects requests where this differs from server time by more than 30 seconds
  (error 50102)."
- #overview-transaction-timeouts-rest-api: the `expTime` header ("Request effective deadline") is honoured by
  Place/Amend order(s) only, not by Cancel All After, so it is not sent and bounds nothing here.
- #error-code-rest-api-public: codes, HTTP statuses and messages (50011 rate limit, 429 or 200; 50102
  timestamp expired, 401; 50105 passphrase incorrect, 401; 50111 invalid key, 401; 50113 invalid signature,
  401; 50001 service unavailable, 503; 50004 endpoint timeout "does not mean that the request was successful
  or failed", 400; 50026 system error, 500; 50013 systems busy, 429).
- #order-book-trading-trade-get-order-list (orders-pending: at most 100 a page, `after` = older than an
  ordId; 60 requests per 2 s), #order-book-trading-trade-post-cancel-multiple-orders (at most 20 per request,
  300 orders per 2 s per instrument), #order-book-trading-algo-trading-get-algo-order-list (ordType required;
  "conditional" and "oco" may go together, other types one per request) and
  #order-book-trading-algo-trading-post-cancel-algo-order (at most 10 per request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from heartbeats.exchange import venues
from heartbeats.exchange.client import (
    _BODY_FAILURES,
    BinanceClient,
    CountdownAck,
    _as_int,
    _describe_failure,
    _not_acknowledged,
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
from heartbeats.exchange.signing import Signer

log = logging.getLogger(__name__)

# The switch's bounds (seconds on the wire; ms here, as the engine counts).
COUNTDOWN_OFF_MS = 0
COUNTDOWN_MIN_MS = venues.OKX.countdown.min_ms  # 10 s
COUNTDOWN_MAX_MS = venues.OKX.countdown.max_ms  # 120 s
# At most this many tag-level switches live at once per (sub-)account (51071 beyond).
MAX_TAG_SWITCHES = 20
# How far OK-ACCESS-TIMESTAMP may differ from OKX's clock, either way, and the request still be accepted.
TIMESTAMP_TOLERANCE_MS = 30_000
# How long after its signing (OK-ACCESS-TIMESTAMP, on OKX's clock as estimated) OKX may still accept a
# request: the timestamp tolerance, since no expTime applies to Cancel All After. A disarm's second "0" is
# safe once this much has passed since the latest arm was signed (plus the clock offset's error).
ACCEPTED_AFTER_SIGNING_MS = TIMESTAMP_TOLERANCE_MS


# OKX keeps one clock per host, and GET /public/time is limited per address (10 requests per 2 s): the
# accounts of one process share a measurement made in the last SHARED_CLOCK_S rather than each asking at
# once (a desk's start-up, their periodic syncs), unless OKX refused a timestamp since.
SHARED_CLOCK_S = 2.0
_clocks: dict[str, tuple[float, int, float]] = {}  # base URL -> (monotonic time, offset_ms, offset_error_ms)
_clocks_lock = threading.Lock()
_measuring: dict[str, threading.Lock] = {}


@dataclass(frozen=True)
class RateLimit:
    count: int
    window_s: float
    scope: str  # what it is counted per: "user" = OKX's User ID (each sub-account has its own)
    per_tag: bool = False  # counted separately for each tag as well ("User ID + tag")


CANCEL_ALL_AFTER_RATE_LIMIT = RateLimit(count=1, window_s=1.0, scope="user", per_tag=True)

PREFIX = "/api/v5"
_TAG = re.compile(r"[A-Za-z0-9]{1,16}")
_INST_ID = re.compile(r"[A-Z0-9][A-Z0-9-]{0,39}")
PAGE_LIMIT = 100
BATCH_CANCEL = 20
ALGO_BATCH_CANCEL = 10
# The algo order types the account may hold untriggered, queried as OKX allows: these two together, the rest
# one per request.
ALGO_ORD_TYPES = ("conditional,oco", "trigger", "move_order_stop", "iceberg", "twap", "chase")
_MAX_PAGES = 50  # 5,000 orders: far beyond any desk's book; a guard against a server that never ends a list

# Codes with a meaning for the caller; anything else is decided by the HTTP status (errors.classify).
RATE_LIMIT_CODES = {50011, 50040, 50061}
RATE_LIMIT_RETRY_S = 2.0  # OKX's windows are 1-2 s (Cancel All After: one request a second per user and tag)
TIMESTAMP_CODE = 50102
TEMPORARY_CODES = {50001, 50013}
UNKNOWN_OUTCOME_CODES = {50004}
UNKNOWN_WHEN_MUTATING_CODES = {50026}  # "System error. Try again later" (HTTP 500): may have been applied
FATAL_CODES = {
    1,  # "Operation failed." (its per-item sCode says why)
    50005, 50006, 50007, 50008, 50009, 50012, 50014, 50027, 50030, 50035,
    50100, 50101, 50103, 50104, 50105, 50106, 50107, 50110, 50111, 50112, 50113, 50114, 50119, 50120,
    51000, 51001, 51071,
}  # fmt: skip

OKX = venues.OKX  # the facts the guard keeps in one place


class OkxSigner(Signer):
    """Signs OKX's pre-hash strings with the API secret and holds the passphrase sent beside them. Neither is
    ever shown (repr included) nor pickled."""

    key_type = "hmac"

    def __init__(self, secret: str, passphrase: str):
        if not isinstance(secret, str) or not secret.strip():
            raise InvalidKeyError("The OKX secret key is empty.")
        if not isinstance(passphrase, str) or not passphrase:
            raise InvalidKeyError("The OKX passphrase is empty.")
        if any(ch.isspace() or not ch.isprintable() for ch in secret.strip()):
            raise InvalidKeyError("The OKX secret key contains spaces or control characters.")
        self._secret = secret.strip().encode()
        self._passphrase = passphrase

    @property
    def passphrase(self) -> str:
        return self._passphrase

    def sign(self, payload: str) -> str:
        """Base64(HMAC-SHA256(secret, payload)), payload = timestamp + METHOD + requestPath + body."""
        return base64.b64encode(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class CancelledOrders:
    """What cancel_all() cancelled (ids), and what it could not (each with OKX's sCode and sMsg)."""

    orders: tuple[str, ...] = ()
    algo_orders: tuple[str, ...] = ()
    failed: tuple[dict, ...] = field(default=())  # each with "kind": "order" or "algo"
    # How many of each were listed (and so asked to be cancelled).
    found_orders: int = 0
    found_algo_orders: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def okx_timestamp(epoch_ms: int) -> str:
    """OK-ACCESS-TIMESTAMP for an epoch in ms: 2020-12-08T09:08:57.715Z."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


class OkxClient(BinanceClient):
    """One OKX account (or none, for public endpoints). Keyword options as BinanceClient's; `recv_window` is
    accepted for the same signature and unused (OKX has none: TIMESTAMP_TOLERANCE_MS). `used_weight` and
    `weight_limit` stay None: OKX counts requests per endpoint, not weight, and says nothing in its headers.
    """

    def __init__(self, base_url: str, api_key: str | None = None, signer: OkxSigner | None = None, **options):
        super().__init__(base_url, OKX, api_key, signer, **options)

    # ---- public endpoints -------------------------------------------------------------------------------

    def sync_time(self) -> int:
        """Measures the clock offset (server − local, ms) against GET /api/v5/public/time, the server's
        reading taken at the midpoint of the round trip, or takes this process's measurement of the same host
        made in the last SHARED_CLOCK_S (none since OKX refused a timestamp). Returns the new offset_ms."""
        with _clocks_lock:
            measuring = _measuring.setdefault(self.base_url, threading.Lock())
        with measuring:  # one measurement at a time per host: the others wait for it and take it
            with _clocks_lock:
                shared = _clocks.get(self.base_url)
            if shared is not None and time.monotonic() - shared[0] < SHARED_CLOCK_S:
                self.offset_ms, self.offset_error_ms = shared[1], shared[2]
                self.synced_at = self._clock()
                self._next_sync_at = self.synced_at + self.time_sync_every
                return self.offset_ms
            return self._measure_clock()

    def _measure_clock(self) -> int:
        started = self._clock()
        reply = self._request("GET", "/public/time")
        finished = self._clock()
        server_ms = _server_ms(reply.data)
        self.offset_ms = round(server_ms - (started + finished) / 2 * 1000)
        self.offset_error_ms = max(0.0, (finished - started) * 1000 / 2)
        self.synced_at = finished
        self._next_sync_at = finished + self.time_sync_every
        with _clocks_lock:
            _clocks[self.base_url] = (time.monotonic(), self.offset_ms, self.offset_error_ms)
        log.debug("clock offset %+d ms (±%.1f ms) venue=okx", self.offset_ms, self.offset_error_ms)
        return self.offset_ms

    def _signed(self, *args, **kwargs):
        try:
            return super()._signed(*args, **kwargs)
        except TimestampError:
            with _clocks_lock:
                _clocks.pop(self.base_url, None)  # the next measurement is a fresh one
            raise

    def server_time(self) -> int:
        return _server_ms(self._request("GET", "/public/time").data)

    def exchange_info(self) -> dict:
        raise NotImplementedError("OKX has no exchangeInfo; its instruments are not needed by the switch.")

    # ---- the switch -------------------------------------------------------------------------------------

    def countdown(self, scope: str, countdown_ms: int, *, signed_at: float | None = None) -> CountdownAck:
        """POST /api/v5/trade/cancel-all-after: arms or renews (from now) the switch of `scope` ("" = the
        whole account, otherwise an order tag) for `countdown_ms`, or turns it off with 0. Returns only when
        OKX acknowledged exactly this request; raises the error tree otherwise. `signed_at` (epoch s, local
        clock): the moment to sign it at; by default, now.

        ValueError (nothing sent) for a countdown that is not a whole number of seconds, or not 0 or 10-120
        s, and for a scope that is not a tag OKX accepts. Signed at once with the offset already known and
        never retried here (see FuturesClient.countdown()): on TimestampError the caller resyncs and decides
        again."""
        check_countdown(countdown_ms)
        check_scope(scope)
        endpoint = f"POST {PREFIX}/trade/cancel-all-after"
        self._sync_once()
        params = {"timeOut": str(countdown_ms // 1000)}
        if scope:
            params["tag"] = scope
        reply = self._signed("POST", "/trade/cancel-all-after", params, keep_time=False, at=signed_at)
        item = _first(reply.data)
        if _as_int(reply.data.get("code")) != 0:
            raise _item_error(item, reply, endpoint)  # "Operation failed": refused, with its reason
        trigger = _as_int(item.get("triggerTime")) if item is not None else None
        if (
            item is None
            or (item.get("tag") or "") != scope
            or trigger is None
            or (trigger == 0) != (countdown_ms == 0)
        ):
            raise _not_acknowledged(reply, endpoint, "this Cancel All After")
        return CountdownAck(symbol=scope, countdown_ms=countdown_ms, **_timing(reply))

    # ---- orders -----------------------------------------------------------------------------------------

    def check_key(self) -> None:
        """Proves the API key, secret, passphrase and IP allowlist with a read-only signed call (GET
        orders-pending, one order). Returns None when accepted; raises the error tree otherwise."""
        self._signed("GET", "/trade/orders-pending", {"limit": "1"})

    def open_orders(self) -> list[dict]:
        """Every pending order-book order of the account, newest first (GET orders-pending, page by page)."""
        return self._pages("/trade/orders-pending", {}, "ordId")

    def open_algo_orders(self) -> list[dict]:
        """Every untriggered algo order (GET orders-algo-pending for each algo order type)."""
        found = []
        for ord_type in ALGO_ORD_TYPES:
            found.extend(self._pages("/trade/orders-algo-pending", {"ordType": ord_type}, "algoId"))
        return found

    def cancel_all(self, tag: str = "") -> CancelledOrders:
        """Cancels every pending order of the account, plain and algo: OKX has no single call for it, so
        they are listed, then cancelled 20 (algo: 10) at a time. Orders gone meanwhile are not failures.
        With a `tag`, only the orders placed with it, what that tag's switch covers (OKX's lists cannot be
        asked by tag: they are filtered here). ValueError (nothing sent) for a tag OKX would not accept."""
        check_scope(tag)
        cancelled, algo_cancelled, failed = [], [], []
        orders = tagged(self.open_orders(), tag)
        for start in range(0, len(orders), BATCH_CANCEL):
            batch = [
                {"instId": o["instId"], "ordId": o["ordId"]} for o in orders[start : start + BATCH_CANCEL]
            ]
            for result in self._batch("/trade/cancel-batch-orders", batch):
                if result.get("sCode") == "0":
                    cancelled.append(str(result.get("ordId")))
                elif result.get("sCode") != "51400":  # already filled, cancelled or gone
                    failed.append(_failure(result, "ordId"))
        algo = tagged(self.open_algo_orders(), tag)
        for start in range(0, len(algo), ALGO_BATCH_CANCEL):
            batch = [
                {"instId": o["instId"], "algoId": o["algoId"]}
                for o in algo[start : start + ALGO_BATCH_CANCEL]
            ]
            for result in self._batch("/trade/cancel-algos", batch):
                if result.get("sCode") == "0":
                    algo_cancelled.append(str(result.get("algoId")))
                else:
                    failed.append(_failure(result, "algoId"))
        return CancelledOrders(tuple(cancelled), tuple(algo_cancelled), tuple(failed), len(orders), len(algo))

    def place_order(self, inst_id: str, side: str, sz, px=None, *, ord_type: str = "limit", **extra) -> dict:
        """POST /api/v5/trade/order (tests and the demo); extra OKX parameters by name (tag, clOrdId, tdMode).
        Not idempotent: never repeat it after an OutcomeUnknownError without checking open_orders() first."""
        _check_inst_id(inst_id)
        params = {"instId": inst_id, "tdMode": "cross", "side": side, "ordType": ord_type, "sz": str(sz)}
        if px is not None:
            params["px"] = str(px)
        params.update({k: str(v) for k, v in extra.items()})
        reply = self._signed("POST", "/trade/order", params)
        item = _first(reply.data)
        if item is None or item.get("sCode") != "0":
            raise _item_error(item, reply, f"POST {PREFIX}/trade/order")
        return item

    # ---- plumbing ---------------------------------------------------------------------------------------

    def _pages(self, path: str, params: dict, id_field: str) -> list[dict]:
        found: list[dict] = []
        after = None
        for _ in range(_MAX_PAGES):
            page_params = {**params, "limit": str(PAGE_LIMIT)}
            if after:
                page_params["after"] = after
            page = self._signed("GET", path, page_params).data.get("data")
            if not isinstance(page, list) or not all(isinstance(o, dict) for o in page):
                raise TemporaryError("Unexpected order list answer.", endpoint=f"GET {PREFIX}{path}")
            found.extend(page)
            if len(page) < PAGE_LIMIT:
                return found
            after = str(page[-1].get(id_field) or "")
            if not after:
                break
        raise TemporaryError("The order list did not end.", endpoint=f"GET {PREFIX}{path}")

    def _batch(self, path: str, items: list[dict]) -> list[dict]:
        """A batch request; its per-item results. code "0", "1" (all failed) and "2" (some failed) all carry
        them; no results at all means the outcome is unknown."""
        reply = self._signed("POST", path, items)
        results = reply.data.get("data")
        if not isinstance(results, list) or len(results) != len(items):
            raise _not_acknowledged(reply, f"POST {PREFIX}{path}", "cancelling these orders")
        return [r if isinstance(r, dict) else {} for r in results]

    def _record_weight(self, response) -> None:
        return None  # OKX sends no usage header

    def _exchange(self, method: str, path: str, params, signed: bool, at: float | None = None):
        """Signs, sends and reads one request; returns the reply or the classified error, never raises one."""
        endpoint = f"{method} {PREFIX}{path}"
        mutating = method == "POST"
        unknown = OutcomeUnknownError if mutating else TemporaryError
        request_path = f"{PREFIX}{path}"
        body = ""
        if method == "GET":
            if params:
                request_path += "?" + urlencode(params)
        else:
            body = json.dumps(params if params is not None else {}, separators=(",", ":"))
        url = f"{self.base_url}{request_path}"
        headers = {"Content-Type": "application/json"} if method == "POST" else {}
        timestamp_ms = None
        secrets = [self._api_key] if self._api_key else []
        if signed:
            timestamp_ms = int((self._clock() if at is None else at) * 1000) + self.offset_ms
            timestamp = okx_timestamp(timestamp_ms)
            signature = self._signer.sign(f"{timestamp}{method}{request_path}{body}")
            passphrase = getattr(self._signer, "passphrase", "")
            secrets += [signature, passphrase]
            headers.update(
                {
                    "OK-ACCESS-KEY": self._api_key,
                    "OK-ACCESS-SIGN": signature,
                    "OK-ACCESS-TIMESTAMP": timestamp,
                    "OK-ACCESS-PASSPHRASE": passphrase,
                }
            )
        data = body.encode() if method == "POST" else None

        sent_at = self._clock()
        response = self._send(method, url, data, headers, endpoint, mutating)
        if isinstance(response, ExchangeError):
            return response

        status = response.status_code
        facts = {"http_status": status, "used_weight": None, "endpoint": endpoint}
        try:
            content = self._read_body(response)
        except _BODY_FAILURES as exc:
            return unknown(f"The answer was cut off or unreadable ({_describe_failure(exc)}).", **facts)
        finally:
            response.close()
        received_at = self._clock()
        log.debug("%s -> %s in %.1f ms", endpoint, status, (received_at - sent_at) * 1000)

        try:
            payload = json.loads(content)
        except (ValueError, RecursionError):
            payload = None
        code = _as_int(payload.get("code")) if isinstance(payload, dict) else None
        msg = payload.get("msg") if isinstance(payload, dict) else None
        msg = _scrub(msg if isinstance(msg, str) else "", secrets)
        if 200 <= status < 300:
            if not isinstance(payload, dict):
                summary = _summarise(content, response, secrets)
                return unknown(f"HTTP {status} with an unreadable body: {summary}", **facts)
            # "0" succeeded; "1"/"2" (all/some items failed) carry per-item results the caller reads.
            if code in (0, 2) or (code == 1 and _first(payload) is not None):
                return _Reply(status, payload, None, sent_at, received_at, timestamp_ms)
        elif not isinstance(payload, dict) or ("code" not in payload and "msg" not in payload):
            msg = _summarise(content, response, secrets)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        error = classify_okx(status, code, msg, mutating=mutating, retry_after=retry_after, endpoint=endpoint)
        log.debug("%s failed: %r", endpoint, error)
        return error


def classify_okx(
    http_status: int,
    code: int | None,
    msg: str,
    *,
    mutating: bool,
    retry_after: float | None = None,
    endpoint: str | None = None,
) -> ExchangeError:
    """OKX's error answer as one class of the tree: its code first (it may come with HTTP 200), then, for
    codes without a meaning here, the HTTP status as errors.classify reads it."""
    facts = {"code": code, "http_status": http_status, "endpoint": endpoint}
    unknown = OutcomeUnknownError if mutating else TemporaryError
    if code in RATE_LIMIT_CODES or (http_status == 429 and code not in TEMPORARY_CODES):
        # OKX sends no Retry-After; its limits count per second or two (1 s for Cancel All After).
        wait = retry_after if retry_after is not None else RATE_LIMIT_RETRY_S
        return RateLimitedError(msg or "Too many requests.", retry_after=wait, **facts)
    if code == TIMESTAMP_CODE:
        return TimestampError(msg or "Timestamp request expired.", **facts)
    if code in TEMPORARY_CODES:
        return TemporaryError(msg or "Service temporarily unavailable.", **facts)
    if code in UNKNOWN_OUTCOME_CODES or code in UNKNOWN_WHEN_MUTATING_CODES:
        return unknown(msg or "Unknown outcome.", **facts)
    if code in FATAL_CODES:
        return FatalError(msg or "Request refused.", **facts)
    if 200 <= http_status < 300:
        # A refusal OKX sent with 200 and a code this client does not know: not applied, and not transient.
        return FatalError(msg or "Request refused.", **facts)
    error = classify(http_status, None, msg, mutating=mutating, retry_after=retry_after, endpoint=endpoint)
    error.code = code
    return error


def check_countdown(countdown_ms) -> None:
    if isinstance(countdown_ms, bool) or not isinstance(countdown_ms, int):
        raise ValueError("countdown_ms must be an integer number of milliseconds.")
    if countdown_ms % 1000:
        raise ValueError(
            "OKX counts Cancel All After in whole seconds: countdown_ms must be a multiple of 1000."
        )
    if countdown_ms != COUNTDOWN_OFF_MS and not COUNTDOWN_MIN_MS <= countdown_ms <= COUNTDOWN_MAX_MS:
        raise ValueError("OKX's Cancel All After takes 0 (off) or 10 to 120 seconds.")


def check_scope(scope) -> None:
    if not isinstance(scope, str) or (scope and not _TAG.fullmatch(scope)):
        raise ValueError('A scope is "" (the whole account) or an OKX order tag: 1-16 letters and digits.')


def _check_inst_id(inst_id) -> None:
    if not isinstance(inst_id, str) or not _INST_ID.fullmatch(inst_id):
        raise ValueError("An OKX instId looks like BTC-USDT-SWAP.")


def _first(payload) -> dict | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None


def tagged(orders: list[dict], tag: str) -> list[dict]:
    """The orders a switch of `tag` covers: all of them for the account's ("" tag), else those placed with it
    (OKX's tags are case-sensitive)."""
    return orders if not tag else [o for o in orders if o.get("tag") == tag]


def _failure(result: dict, id_field: str) -> dict:
    return {
        "id": str(result.get(id_field) or ""),
        "kind": "algo" if id_field == "algoId" else "order",
        "sCode": result.get("sCode"),
        "sMsg": result.get("sMsg"),
    }


def _item_error(item: dict | None, reply: _Reply, endpoint: str) -> ExchangeError:
    if item is None:
        return _not_acknowledged(reply, endpoint, "this order")
    code = _as_int(item.get("sCode"))
    msg = item.get("sMsg") if isinstance(item.get("sMsg"), str) else ""
    return classify_okx(reply.status, code, msg, mutating=True, endpoint=endpoint)


def _server_ms(payload) -> int:
    item = _first(payload)
    server_ms = _as_int(item.get("ts")) if item is not None else None
    if server_ms is None:
        raise TemporaryError("Unexpected server time answer.", endpoint=f"GET {PREFIX}/public/time")
    return server_ms


__all__ = [
    "ACCEPTED_AFTER_SIGNING_MS",
    "CANCEL_ALL_AFTER_RATE_LIMIT",
    "COUNTDOWN_MAX_MS",
    "COUNTDOWN_MIN_MS",
    "COUNTDOWN_OFF_MS",
    "TIMESTAMP_TOLERANCE_MS",
    "CancelledOrders",
    "OkxClient",
    "OkxSigner",
    "RateLimit",
    "classify_okx",
]


def client(
    base_url: str, api_key: str | None = None, signer: OkxSigner | None = None, **options
) -> OkxClient:
    """exchange.factory's entry: an OKX account's client."""
    return OkxClient(base_url, api_key, signer, **options)


def signer(secret: str, passphrase: str | None) -> OkxSigner:
    """exchange.factory's entry: an OKX key's signer (the passphrase is required)."""
    return OkxSigner(secret, passphrase or "")
