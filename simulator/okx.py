"""The OKX paths, under /api/v5/, served on the same port as the Binance ones and through the same steps: a
matching fault may delay, hold, replace or drop a request; latency is spent; then, at delivery, the request is
authenticated against the server time of that moment, its endpoint's rate limit is counted, and it is applied.
Every request is in the exchange's request log (venue "okx"); a Cancel All After that runs out is recorded
with the cancellations. State lives in okx_book.py.

Paths: GET public/time, GET public/instruments; POST trade/cancel-all-after; POST trade/order,
trade/batch-orders, trade/cancel-order, trade/cancel-batch-orders; GET trade/orders-pending; GET
trade/orders-algo-pending, POST trade/cancel-algos; GET asset/currencies (an empty list: enough for ccxt's
load_markets).

Authentication, as OKX's "REST Authentication" section (https://www.okx.com/docs-v5/en/#overview-rest-
authentication) describes it: headers OK-ACCESS-KEY, OK-ACCESS-SIGN, OK-ACCESS-TIMESTAMP (ISO 8601 UTC with
milliseconds, e.g. 2020-12-08T09:08:57.715Z) and OK-ACCESS-PASSPHRASE; the signature is
Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)), the query string being part of
requestPath for a GET. "The server rejects requests where this differs from server time by more than 30
seconds (error 50102)" (same section, Making Requests). The expTime header is honoured only by the order
placing and amending endpoints (#overview-transaction-timeouts-rest-api), none served here, so it is ignored.
Error codes, HTTP statuses and messages are those of the docs' error-code table (#error-code-rest-api-public).
The order in which the checks run is not documented; here: headers present, timestamp well formed, timestamp
fresh, key known, IP allowed, passphrase, signature, permission, then the endpoint's rate limit.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .book import last4
from .endpoints import NOT_FOUND_HTML, Reply
from .exchange import Exchange
from .faults import Fault, Held
from .okx_book import INSTRUMENTS, MAX_TIMEOUT_S, MIN_TIMEOUT_S, VENUE, OkxAccount

PREFIX = "/api/v5/"
TIMESTAMP_TOLERANCE_MS = 30_000  # "differs from server time by more than 30 seconds (error 50102)"
MAX_BATCH_CANCEL = 20  # Cancel multiple orders: "Maximum 20 orders can be canceled per request"
MAX_ALGO_CANCEL = 10  # Cancel algo order: "A maximum of 10 orders can be canceled per request"
PAGE_LIMIT = 100  # Order List / Algo order list: "The maximum is 100; The default is 100"
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_TAG = re.compile(r"[A-Za-z0-9]{1,16}")  # "alphanumerics, all numbers, or all letters of up to 16 characters"


class OkxError(Exception):
    """A refusal as OKX sends it: HTTP status, code (a string) and message."""

    def __init__(self, status: int, code: str, msg: str, data: list | None = None):
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg, self.data = status, code, msg, data or []

    def reply(self) -> Reply:
        return Reply(self.status, {"code": self.code, "data": self.data, "msg": self.msg})


# From the docs' error-code table (REST API, Public): code -> (HTTP status, message).
ERRORS = {
    "50000": (400, "Body for POST request cannot be empty."),
    "50001": (503, "Service temporarily unavailable. Please try again later."),
    "50002": (400, "JSON syntax error"),
    "50004": (
        400,
        "API endpoint request timeout. (does not mean that the request was successful or failed, "
        "please check the request result).",
    ),
    "50006": (400, 'Invalid Content-Type. Please use "application/JSON".'),
    "50011": (429, "Too Many Requests"),  # the table's 429 row; its 200 row reads "Rate limit reached. ..."
    "50013": (429, "Systems are busy. Please try again later."),
    "50014": (400, "Parameter {0} can not be empty."),
    "50026": (500, "System error. Try again later"),
    "50102": (401, "Timestamp request expired."),
    "50103": (401, 'Request header "OK-ACCESS-KEY" cannot be empty.'),
    "50104": (401, 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
    "50105": (401, 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'),
    "50106": (401, 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
    "50107": (401, 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
    "50110": (401, "Your IP {0} is not included in your API key's IP whitelist."),
    "50111": (401, "Invalid OK-ACCESS-KEY."),
    "50112": (401, "Invalid OK-ACCESS-TIMESTAMP."),
    "50113": (401, "Invalid signature."),
    "50115": (405, "Invalid request method."),
    "50120": (200, "This API key doesn't have permission to use this function"),
    "51000": (400, "Parameter {0} error"),
    "51001": (200, "Instrument ID, Instrument ID code or Spread ID doesn't exist."),
    "51003": (200, "Either client order ID or order ID is required."),
    # Trade class, per-order results (sCode) of the order endpoints.
    "51071": (200, "You've reached the maximum limit for tag level cancel all after timers."),
    "51400": (200, "Order cancellation failed as the order has been filled, canceled or does not exist."),
    "51000_algo": (200, "Parameter algoId error"),
}


def error(code: str, *args) -> OkxError:
    status, msg = ERRORS[code]
    return OkxError(status, code.split("_")[0], msg.format(*args))


def _ok(data: list) -> dict:
    return {"code": "0", "data": data, "msg": ""}


@dataclass
class Incoming:
    method: str
    path: str
    query: str
    body: bytes
    content_type: str | None
    ip: str
    headers: dict[str, str | None]
    received_at: float


@dataclass
class Call:
    exchange: Exchange
    request: Incoming
    params: dict  # query parameters (GET) or the JSON object body (POST)
    items: list | None  # a JSON array body (batch endpoints)
    account: OkxAccount | None
    server_ms: int
    entry: dict
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def venue(self):
        return self.exchange.okx

    def text(self, name: str, required: bool = False, source: dict | None = None) -> str:
        """A parameter as OKX reads one: a JSON string (a number is taken as its digits); '' when absent."""
        value = (self.params if source is None else source).get(name)
        if value is None or value == "":
            if required:
                raise error("50014", name)
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise error("51000", name)
        return str(value)

    def instrument(self, source: dict | None = None):
        inst = INSTRUMENTS.get(self.text("instId", True, source))
        if inst is None:
            raise error("51001")
        return inst


@dataclass(frozen=True)
class Route:
    handler: object
    signed: bool
    trade: bool = False  # needs the Trade permission
    # (limit, window seconds, key parts) or None; key parts name what the limit is counted per.
    limit: tuple | None = None


# Handlers --------------------------------------------------------------------------------------------------


def _time(call: Call):
    return _ok([{"ts": str(call.server_ms)}])


def _instruments(call: Call):
    inst_type = call.text("instType", required=True)
    inst_id = call.text("instId")
    return _ok(
        [
            i.to_wire(call.server_ms)
            for i in INSTRUMENTS.values()
            if i.inst_type == inst_type and (not inst_id or i.inst_id == inst_id)
        ]
    )


def _currencies(call: Call):
    return _ok([])


def _timeout_seconds(call: Call) -> int:
    value = call.params.get("timeOut")
    if value is None or value == "":
        raise error("50014", "timeOut")
    # OKX documents a string; ccxt sends a JSON number: both are read as the digits they show.
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not re.fullmatch(r"\d{1,6}", text):
        raise error("51000", "timeOut")
    seconds = int(text)
    if seconds and not MIN_TIMEOUT_S <= seconds <= MAX_TIMEOUT_S:
        raise error("51000", "timeOut")  # "Range of value can be 0, [10, 120]"; assumption: 51000
    return seconds


def _cancel_all_after(call: Call):
    seconds = _timeout_seconds(call)
    tag = call.text("tag")
    if tag and not _TAG.fullmatch(tag):
        raise error("51000", "tag")
    try:
        switch = call.venue.set_switch(call.account, tag, seconds, call.entry["id"])
    except OverflowError:
        raise error("51071") from None
    now_ms = call.server_ms
    # The docs' example shows both times in seconds ("triggerTime":"1587971460","ts":"1587971400").
    trigger = switch.armed_at_server_ms // 1000 + seconds if switch is not None else 0
    return _ok([{"triggerTime": str(trigger), "tag": tag, "ts": str(now_ms // 1000)}])


_ORD_TYPES = ("limit", "post_only", "market")


def _place_one(call: Call, item: dict) -> dict:
    """One order of Place order or Place multiple orders; its result item, or OkxError."""
    inst = call.instrument(item)
    side = call.text("side", True, item)
    ord_type = call.text("ordType", True, item)
    td_mode = call.text("tdMode", True, item)
    sz = call.text("sz", True, item)
    px = call.text("px", source=item)
    if side not in ("buy", "sell"):
        raise error("51000", "side")
    if ord_type not in _ORD_TYPES:
        raise error("51000", "ordType")
    if ord_type != "market" and not px:
        raise error("50014", "px")
    for name, value in (("sz", sz), ("px", px)):
        if value and not re.fullmatch(r"\d{1,20}(\.\d{1,20})?", value):
            raise error("51000", name)
    tag = call.text("tag", source=item)
    cl_ord_id = call.text("clOrdId", source=item)
    for name, value, longest in (("tag", tag, 16), ("clOrdId", cl_ord_id, 32)):
        if value and not re.fullmatch(rf"[A-Za-z0-9]{{1,{longest}}}", value):
            raise error("51000", name)
    order = call.venue.new_order(
        call.account,
        inst,
        side,
        ord_type,
        px,
        sz,
        cl_ord_id=cl_ord_id,
        tag=tag,
        td_mode=td_mode,
        pos_side=call.text("posSide", source=item) or "net",
        reduce_only=call.text("reduceOnly", source=item) == "true",
    )
    return {
        "clOrdId": order.cl_ord_id,
        "ordId": order.ord_id,
        "tag": order.tag,
        "ts": str(order.c_time),
        "sCode": "0",
        "sMsg": "Order placed",
    }


def _place_order(call: Call):
    return _ok([_place_one(call, call.params)])


def _place_batch(call: Call):
    """Place multiple orders (ccxt's createOrder uses it): "Maximum 20 orders can be placed per request"."""
    results = []
    for item in _items(call, MAX_BATCH_CANCEL):
        try:
            results.append(_place_one(call, item))
        except OkxError as exc:
            results.append(
                {
                    "clOrdId": str(item.get("clOrdId") or ""),
                    "ordId": "",
                    "tag": str(item.get("tag") or ""),
                    "ts": str(call.exchange.server_time_ms()),
                    "sCode": exc.code,
                    "sMsg": exc.msg,
                }
            )
    return _batch_answer(results)


def _cancel_one(call: Call, item: dict) -> dict:
    try:
        inst = call.instrument(item)
        ord_id, cl_ord_id = call.text("ordId", source=item), call.text("clOrdId", source=item)
        if not ord_id and not cl_ord_id:
            raise error("51003")
        order = call.venue.cancel_order(call.account, inst.inst_id, ord_id or None, cl_ord_id or None)
        if order is None:
            raise error("51400")
    except OkxError as exc:
        return {
            "clOrdId": str(item.get("clOrdId") or ""),
            "ordId": str(item.get("ordId") or ""),
            "ts": str(call.exchange.server_time_ms()),
            "sCode": exc.code,
            "sMsg": exc.msg,
        }
    return {
        "clOrdId": order.cl_ord_id,
        "ordId": order.ord_id,
        "ts": str(order.u_time),
        "sCode": "0",
        "sMsg": "",
    }


def _batch_answer(results: list[dict]) -> dict:
    """code "0" when every item succeeded, "1" when all failed, "2" when some did (docs' General Class)."""
    failed = sum(1 for r in results if r["sCode"] != "0")
    if not failed:
        return _ok(results)
    if failed == len(results):
        return {"code": "1", "data": results, "msg": "All operations failed"}
    return {"code": "2", "data": results, "msg": "Bulk operation partially succeeded."}


def _cancel_order(call: Call):
    return _batch_answer([_cancel_one(call, call.params)])


def _items(call: Call, largest: int) -> list[dict]:
    items = call.items if call.items is not None else [call.params]
    if not items or len(items) > largest or not all(isinstance(i, dict) for i in items):
        raise error("51000", "data")
    return items


def _cancel_batch(call: Call):
    return _batch_answer([_cancel_one(call, item) for item in _items(call, MAX_BATCH_CANCEL)])


def _page(call: Call, records: list, id_field: str) -> list:
    """Newest first, `after` (older than this id) / `before` (newer than), at most `limit` (<= 100)."""
    limit_text = call.text("limit") or str(PAGE_LIMIT)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_LIMIT:
        raise error("51000", "limit")
    after, before = call.text("after"), call.text("before")
    records = sorted(records, key=lambda r: int(getattr(r, id_field)), reverse=True)
    if after:
        records = [r for r in records if int(getattr(r, id_field)) < int(after)]
    if before:
        records = [r for r in records if int(getattr(r, id_field)) > int(before)]
    return records[: int(limit_text)]


def _orders_pending(call: Call):
    inst_type, inst_id = call.text("instType"), call.text("instId")
    ord_types = set(filter(None, call.text("ordType").split(",")))
    state = call.text("state")
    with call.account.lock:
        orders = [
            o
            for o in call.account.orders.values()
            if (not inst_type or o.inst.inst_type == inst_type)
            and (not inst_id or o.inst.inst_id == inst_id)
            and (not ord_types or o.ord_type in ord_types)
            and (not state or o.state == state)
        ]
        return _ok([o.to_wire() for o in _page(call, orders, "ord_id")])


_ALGO_TYPES = (
    "conditional",
    "oco",
    "chase",
    "trigger",
    "move_order_stop",
    "iceberg",
    "twap",
    "smart_iceberg",
)


def _algo_pending(call: Call):
    ord_types = call.text("ordType", required=True).split(",")
    # "conditional and oco both can be used and separated with comma"; any other type goes alone.
    if not all(t in _ALGO_TYPES for t in ord_types) or (
        len(ord_types) > 1 and not set(ord_types) <= {"conditional", "oco"}
    ):
        raise error("51000", "ordType")
    inst_type, inst_id, algo_id = call.text("instType"), call.text("instId"), call.text("algoId")
    with call.account.lock:
        orders = [
            o
            for o in call.account.algo_orders.values()
            if o.ord_type in ord_types
            and (not inst_type or o.inst.inst_type == inst_type)
            and (not inst_id or o.inst.inst_id == inst_id)
            and (not algo_id or o.algo_id == algo_id)
        ]
        return _ok([o.to_wire() for o in _page(call, orders, "algo_id")])


def _cancel_algos(call: Call):
    results = []
    for item in _items(call, MAX_ALGO_CANCEL):
        algo_id, algo_cl_ord_id = call.text("algoId", source=item), call.text("algoClOrdId", source=item)
        try:
            inst = call.instrument(item)
            if not algo_id and not algo_cl_ord_id:
                raise error("50014", "algoId")
            order = call.venue.cancel_algo_order(
                call.account, inst.inst_id, algo_id or None, algo_cl_ord_id or None
            )
            if order is None:
                raise error("51000_algo")  # assumption: OKX's generic parameter error for an unknown algoId
            results.append(
                {
                    "algoClOrdId": "",
                    "algoId": order.algo_id,
                    "clOrdId": "",
                    "sCode": "0",
                    "sMsg": "",
                    "tag": "",
                }
            )
        except OkxError as exc:
            results.append(
                {
                    "algoClOrdId": "",
                    "algoId": algo_id,
                    "clOrdId": "",
                    "sCode": exc.code,
                    "sMsg": exc.msg,
                    "tag": "",
                }
            )
    return _batch_answer(results)


USER = "user"
USER_TAG = "user+tag"
USER_INSTRUMENT = "user+instrument"
IP = "ip"

ROUTES = {
    "/api/v5/public/time": {"GET": Route(_time, False, limit=(10, 2.0, IP))},
    "/api/v5/public/instruments": {"GET": Route(_instruments, False, limit=(20, 2.0, IP))},
    "/api/v5/asset/currencies": {"GET": Route(_currencies, True, limit=(6, 1.0, USER))},
    "/api/v5/trade/cancel-all-after": {"POST": Route(_cancel_all_after, True, True, (1, 1.0, USER_TAG))},
    "/api/v5/trade/order": {"POST": Route(_place_order, True, True, (60, 2.0, USER_INSTRUMENT))},
    # Place multiple orders: 300 orders per 2 s per User ID + Instrument ID, like its cancelling sibling.
    "/api/v5/trade/batch-orders": {"POST": Route(_place_batch, True, True, (300, 2.0, USER_INSTRUMENT))},
    "/api/v5/trade/cancel-order": {"POST": Route(_cancel_order, True, True, (60, 2.0, USER_INSTRUMENT))},
    # Counted per order, per instrument: 300 orders per 2 s.
    "/api/v5/trade/cancel-batch-orders": {
        "POST": Route(_cancel_batch, True, True, (300, 2.0, USER_INSTRUMENT))
    },
    "/api/v5/trade/orders-pending": {"GET": Route(_orders_pending, True, limit=(60, 2.0, USER))},
    "/api/v5/trade/orders-algo-pending": {"GET": Route(_algo_pending, True, limit=(20, 2.0, USER))},
    "/api/v5/trade/cancel-algos": {"POST": Route(_cancel_algos, True, True, (20, 2.0, USER_INSTRUMENT))},
}


# The pipeline ----------------------------------------------------------------------------------------------


class OkxApi:
    def __init__(self, exchange: Exchange):
        self.exchange = exchange

    def handle(self, req: Incoming) -> Reply:
        methods = ROUTES.get(req.path)
        if methods is None:
            return Reply(404, NOT_FOUND_HTML)
        route = methods.get(req.method)
        if route is None:
            return error("50115").reply()
        params, items, parse_error = _parse(req)
        entry = self._open_entry(req, params)
        fault = self.exchange.faults_table.take(
            req.method, req.path, entry["symbol"], entry["countdown_ms"], req.headers.get("OK-ACCESS-KEY")
        )
        if fault is not None:
            self.exchange.log.update(entry, fault=fault.id)
        delay = self.exchange.latency_seconds() + (fault.latency_ms / 1000 if fault else 0)
        if delay > 0:
            time.sleep(delay)
        held = self._hold(fault, entry) if fault is not None and fault.hold is not None else None
        try:
            if held is not None and held.dropped:
                reply = Reply(0, drop=True)
            else:
                reply = self._outcome(fault, req, route, params, items, parse_error, entry)
        finally:
            if held is not None:
                self.exchange.faults_table.finish(held)
        if not reply.drop:
            code = reply.body.get("code") if isinstance(reply.body, dict) else None
            self.exchange.log.update(
                entry, status=reply.status, code=code if code != "0" else None, responded_at=time.time()
            )
        else:
            self.exchange.log.update(entry, status=None, responded_at=time.time())
        return reply

    def _open_entry(self, req: Incoming, params: dict) -> dict:
        api_key = req.headers.get("OK-ACCESS-KEY")
        timeout = params.get("timeOut") if req.path.endswith("/cancel-all-after") else None
        digits = isinstance(timeout, int | str) and str(timeout).isdigit()
        countdown_ms = int(timeout) * 1000 if digits else None
        tag = params.get("tag") if isinstance(params.get("tag"), str) else None
        return self.exchange.log.open(
            method=req.method,
            path=req.path,
            venue=VENUE,
            ip=req.ip,
            api_key_last4=last4(api_key) if api_key else None,
            # A switch's tag stands where Binance requests carry a symbol: faults match it the same way.
            symbol=tag or (params.get("instId") if isinstance(params.get("instId"), str) else None),
            countdown_ms=countdown_ms,
            timestamp=_timestamp_ms(req.headers.get("OK-ACCESS-TIMESTAMP")),
            received_at=req.received_at,
        )

    def _hold(self, fault: Fault, entry: dict) -> Held:
        held = self.exchange.faults_table.hold(fault.hold, entry["id"], time.time())
        self.exchange.log.update(entry, held=fault.hold)
        held.released.wait(fault.hold_timeout)
        return held

    def _outcome(self, fault, req, route, params, items, parse_error, entry) -> Reply:
        if fault is None or fault.apply or not (fault.replies or fault.drop):
            reply = self._deliver(req, route, params, items, parse_error, entry)
        if fault is None:
            return reply
        if fault.drop:
            return Reply(0, drop=True)
        if fault.replies:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return Reply(fault.status, _okx_fault_body(fault.status, fault.body), headers)
        return reply

    def _deliver(self, req, route, params, items, parse_error, entry) -> Reply:
        ex = self.exchange
        delivered_at = time.time()
        server_ms = ex.server_time_ms(delivered_at)
        ex.log.update(entry, delivered_at=delivered_at, server_time_ms=server_ms)
        try:
            account = self._authenticate(req, route, server_ms) if route.signed else None
            if parse_error is not None:
                raise parse_error
            self._count(req, route, account, params, items)
            call = Call(ex, req, params, items, account, server_ms, entry)
            body = route.handler(call)
        except OkxError as exc:
            return exc.reply()
        ex.log.update(entry, applied_at=time.time())
        return Reply(200, body, call.headers)

    def _authenticate(self, req: Incoming, route: Route, server_ms: int) -> OkxAccount:
        h = req.headers
        for header, code in (
            ("OK-ACCESS-KEY", "50103"),
            ("OK-ACCESS-PASSPHRASE", "50104"),
            ("OK-ACCESS-SIGN", "50106"),
            ("OK-ACCESS-TIMESTAMP", "50107"),
        ):
            if not (h.get(header) or "").strip():
                raise error(code)
        timestamp_ms = _timestamp_ms(h["OK-ACCESS-TIMESTAMP"])
        if timestamp_ms is None:
            raise error("50112")
        if abs(server_ms - timestamp_ms) > TIMESTAMP_TOLERANCE_MS:
            raise error("50102")
        account = self.exchange.okx.account(h["OK-ACCESS-KEY"])
        if account is None:
            raise error("50111")
        if not account.allows_ip(req.ip):
            raise error("50110", req.ip)
        if not hmac.compare_digest(h["OK-ACCESS-PASSPHRASE"].encode(), account.passphrase.encode()):
            raise error("50105")
        query = f"?{req.query}" if req.query else ""
        prehash = f"{h['OK-ACCESS-TIMESTAMP']}{req.method}{req.path}{query}".encode() + req.body
        expected = hmac.new(account.secret.encode(), prehash, hashlib.sha256).digest()
        try:
            given = base64.b64decode(h["OK-ACCESS-SIGN"].strip(), validate=True)
        except (binascii.Error, ValueError):
            given = b""
        if not hmac.compare_digest(expected, given):
            raise error("50113")
        if route.trade and not account.trade:
            raise error("50120")
        return account

    def _count(self, req: Incoming, route: Route, account, params: dict, items) -> None:
        if route.limit is None:
            return
        limit, window, per = route.limit
        who = req.ip if per == IP else account.api_key
        keys: list[tuple] = []
        if per == USER_INSTRUMENT:
            # Per instrument; a batch counts each of its orders against its instrument.
            counts: dict[str, int] = {}
            for item in items if items is not None else [params]:
                inst = item.get("instId") if isinstance(item, dict) else None
                counts[str(inst)] = counts.get(str(inst), 0) + 1
            keys = [((who, req.path, inst), n) for inst, n in counts.items()]
        elif per == USER_TAG:
            tag = params.get("tag") if isinstance(params.get("tag"), str) else ""
            keys = [((who, req.path, tag), 1)]
        else:
            keys = [((who, req.path), 1)]
        for key, amount in keys:
            if not self.exchange.okx.rates.take(key, limit, window, amount):
                raise error("50011")


def _parse(req: Incoming) -> tuple[dict, list | None, OkxError | None]:
    """The request's parameters: the query string's for a GET, the JSON body's for a POST (an object, or an
    array for the batch endpoints). A malformed POST is refused once authenticated (50000, 50002, 50006)."""
    from urllib.parse import parse_qsl

    if req.method != "POST":
        return dict(parse_qsl(req.query, keep_blank_values=True)), None, None
    if not req.body.strip():
        return {}, None, error("50000")
    media = (req.content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        return {}, None, error("50006")
    try:
        data = json.loads(req.body)
    except (ValueError, RecursionError):
        return {}, None, error("50002")
    if isinstance(data, list):
        return (data[0] if data and isinstance(data[0], dict) else {}), data, None
    if not isinstance(data, dict):
        return {}, None, error("50002")
    return data, None, None


def _timestamp_ms(value: str | None) -> int | None:
    if not value or not _TIMESTAMP.fullmatch(value.strip()):
        return None
    try:
        moment = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000 + 0.5)


# What an injected fault's Binance-shaped body ({"code": -1001, ...}) means on an OKX path, by HTTP status.
_FAULT_CODES = {429: "50011", 500: "50026", 502: "50001", 503: "50001", 504: "50004"}


def _okx_fault_body(status: int, body):
    if isinstance(body, dict) and isinstance(body.get("code"), int) and status in _FAULT_CODES:
        code = _FAULT_CODES[status]
        return {"code": code, "data": [], "msg": ERRORS[code][1]}
    return body


def refusal(code: str) -> Reply:
    """An OKX-shaped refusal for the HTTP layer (an unreadable body, an internal failure)."""
    return error(code).reply()
