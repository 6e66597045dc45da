"""A desk that reaches the exchange through an HTTP proxy (HTTP_PROXY / HTTPS_PROXY, NO_PROXY in the
environment) keeps doing so: the client reads those once, when it is made, not before every request."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy for plain HTTP: the request line carries the whole URL."""

    seen: list[str] = []

    def _forward(self):
        target = urlsplit(self.path)
        type(self).seen.append(target.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")
        }
        upstream.request(
            self.command, f"{target.path}?{target.query}" if target.query else target.path, body, headers
        )
        answer = upstream.getresponse()
        content = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)
        upstream.close()

    do_GET = do_POST = do_DELETE = _forward

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # a quick shutdown
    yield f"http://127.0.0.1:{server.server_address[1]}", _Proxy.seen
    server.shutdown()
    server.server_close()


def test_it_sends_through_the_proxy_the_environment_names(simulator, make_client, proxy, monkeypatch):
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = make_client()
    client.sync_time()
    assert client.countdown("BTCUSDT", 60_000).countdown_ms == 60_000
    assert seen == ["/fapi/v1/time", "/fapi/v1/countdownCancelAll"]


def test_it_goes_direct_to_a_host_the_environment_exempts(simulator, make_client, proxy, monkeypatch):
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = make_client()
    assert client.countdown("BTCUSDT", 60_000).countdown_ms == 60_000
    assert seen == []
    assert len(simulator.exchange.requests_log("/fapi/v1/countdownCancelAll")) == 1
