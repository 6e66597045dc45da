"""The HTTP side: a threading HTTP/1.1 keep-alive server in front of the exchange, and `Simulator`."""

import contextlib
import json
import logging
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from urllib.parse import urlsplit

from . import errors, kraken, okx
from .control import PREFIX, ControlApi
from .endpoints import CORS_HEADERS, BinanceApi, Incoming, Reply
from .errors import BinanceError
from .exchange import Exchange

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Binance and requests.Session use it
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the client's delayed ACK
    # add ~40 ms to every answer on loopback.
    disable_nagle_algorithm = True
    server_version = "SimulatedExchange/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: "_Server"

    def do_GET(self):
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        received_at = time.time()
        started = time.monotonic()
        path, query = _split_target(self.path)
        control = path.startswith(PREFIX)
        on_kraken = path.startswith(kraken.PATH_PREFIX)
        on_okx = path.startswith(okx.PREFIX)
        try:
            body = self._read_body()
        except _UnreadableBody as exc:
            # The rest of the stream cannot be trusted to start a request: answer, then close.
            error = errors.body_too_large() if exc.too_large else errors.unreadable_body()
            if control:
                reply = Reply(error.status, {"error": error.msg})
            else:
                if on_kraken:
                    reply = kraken.refusal(error.status)
                elif on_okx:
                    reply = okx.refusal("50002")
                else:
                    reply = _binance_refusal(error)
            self._send(reply, close=True)
            self._access(path, reply.status, started)
            return
        try:
            if control:
                reply = self._control(path, query, body)
            elif on_kraken:
                reply = self.server.kraken.handle(kraken.incoming(self, path, query, body, received_at))
            elif on_okx:
                reply = self.server.okx.handle(
                    okx.Incoming(
                        method=self.command,
                        path=path,
                        query=query,
                        body=body,  # OKX signs the exact bytes of the JSON body
                        content_type=self.headers.get("Content-Type"),
                        ip=self.client_address[0],
                        headers={name: self.headers.get(name) for name in _OKX_HEADERS},
                        received_at=received_at,
                    )
                )
            else:
                incoming = Incoming(
                    method=self.command,
                    path=path,
                    query=query,
                    # Binance reads parameters from a form body only: a JSON (or any other) body is ignored,
                    # so its parameters count as not sent and it is not part of the signed payload.
                    body=body.decode("latin-1") if _is_form(self.headers.get("Content-Type")) else "",
                    ip=self.client_address[0],
                    api_key=self.headers.get("X-MBX-APIKEY"),
                    received_at=received_at,
                )
                reply = self.server.api.handle(incoming)
        except Exception:
            log.exception(
                "simulator failed on %s %s", self.command, path
            )  # path only: queries carry signatures
            if control:
                reply = Reply(500, {"error": "internal error; see the simulator's log"})
            elif on_kraken:
                reply = kraken.refusal(500)
            elif on_okx:
                reply = okx.refusal("50026")
            else:
                reply = _binance_refusal(BinanceError(500, -1000, errors.MESSAGES[-1000]))
        if reply.drop:
            self.close_connection = True
            self._access(path, "dropped", started)
            return
        self._send(reply)
        self._access(path, reply.status, started)

    def _control(self, path: str, query: str, body: bytes) -> Reply:
        # Browsers add Origin to every cross-site POST/PUT/DELETE; no page has any business changing the
        # exchange, so refusing them closes the control interface to cross-site requests (CSRF).
        if self.headers.get("Origin") is not None:
            return Reply(403, {"error": "the control interface does not accept requests from web pages"})
        return self.server.control.handle(self.command, path, query, body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        if not _DIGITS.fullmatch(declared.strip()):
            raise _UnreadableBody()
        length = int(declared)
        if length > MAX_BODY:
            raise _UnreadableBody(too_large=True)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            if not _HEX.fullmatch(size_line):
                raise _UnreadableBody()
            size = int(size_line, 16)
            if size == 0:
                for _ in range(100):  # trailers, up to the blank line
                    if self.rfile.readline(8192).strip() == b"":
                        break
                return bytes(data)
            if len(data) + size > MAX_BODY:
                raise _UnreadableBody(too_large=True)
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(8).strip() != b"":
                raise _UnreadableBody()
            data += chunk

    def _send(self, reply: Reply, close: bool = False) -> None:
        if isinstance(reply.body, str):
            data, ctype = reply.body.encode(), "text/html;charset=utf-8"
        else:
            data, ctype = json.dumps(reply.body, separators=(",", ":")).encode(), "application/json"
        try:
            self.send_response_only(reply.status)
            self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout) before the answer was ready
            self.close_connection = True

    def _access(self, path: str, status, started: float) -> None:
        if self.server.access_log:
            elapsed = (time.monotonic() - started) * 1000
            print(f"{self.client_address[0]} {self.command} {path} {status} {elapsed:.1f}ms", file=sys.stderr)

    def log_message(self, format, *args):  # noqa: A002 - quiet: request lines contain signatures
        pass


class _UnreadableBody(Exception):
    def __init__(self, too_large: bool = False):
        super().__init__()
        self.too_large = too_large


_DIGITS = re.compile(r"[0-9]{1,12}")
_OKX_HEADERS = ("OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP", "OK-ACCESS-PASSPHRASE")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,8}")


def _split_target(target: str) -> tuple[str, str]:
    """Path and raw query of a request target, also in the absolute form a client sends through a proxy."""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


def _is_form(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type in ("", "application/x-www-form-urlencoded")


def _binance_refusal(error: BinanceError) -> Reply:
    return Reply(error.status, error.body(), {**error.headers, **CORS_HEADERS})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # held requests must not keep stop() waiting
    request_queue_size = 1024  # hundreds of clients connect at once
    allow_reuse_address = True

    def __init__(self, address, exchange: Exchange, access_log: bool):
        self.api = BinanceApi(exchange)
        self.kraken = kraken.KrakenApi(exchange)
        self.okx = okx.OkxApi(exchange)
        self.control = ControlApi(exchange)
        self.access_log = access_log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (a DNS lookup); not needed here.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # A client that vanishes mid-request is normal here (timeouts, dropped faults, stop()); stay quiet.
        if not isinstance(sys.exception(), OSError):
            log.exception("simulator connection failed")

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Simulator:
    """A Binance futures and options exchange, Kraken Futures' /derivatives paths and OKX's /api/v5 paths
    (okx.py), on a local port. `exchange` holds its state and ground truth."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        weight_limit: int = 2400,
        ban_after: int = 10,
        ban_seconds: float = 120,
        tick: float = 0.01,
        hold_timeout: float = 30.0,
        access_log: bool = False,
        expiry_cancels_algo_orders: bool = False,
        coinm_algo_service: bool = False,
        options_check_interval: float = 1.0,
    ):
        self.exchange = Exchange(
            weight_limit=weight_limit,
            ban_after=ban_after,
            ban_seconds=ban_seconds,
            tick=tick,
            hold_timeout=hold_timeout,
            expiry_cancels_algo_orders=expiry_cancels_algo_orders,
            coinm_algo_service=coinm_algo_service,
            options_check_interval=options_check_interval,
        )
        self._address = (host, port)
        self._access_log = access_log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server(self._address, self.exchange, self._access_log)
        self.exchange.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="simulator-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self.exchange.stop()  # also lets held requests go, so their threads end
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=2)
        self._server = self._thread = None

    def __enter__(self) -> "Simulator":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
