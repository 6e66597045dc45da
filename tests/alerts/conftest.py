"""A webhook receiver (a local HTTP server standing in for Slack, PagerDuty...) and channel helpers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from heartbeats.models.alerts import AlertChannel
from tests.web.conftest import key_admin, operator, viewer  # noqa: F401  the web tests' users


class Receiver:
    """Collects what apprise's json:// plugin posts; `status` is its answer (500: the channel is down)."""

    def __init__(self):
        self.messages: list[dict] = []
        self.paths: list[str] = []
        self.status = 200
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    if receiver.status == 200:
                        receiver.messages.append(json.loads(body or b"{}"))
                        receiver.paths.append(self.path)
                    receiver.arrived.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        # Polling for shutdown every 0.05 s (not the default 0.5): each test that stops it would wait that.
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path="hook", token="T0KENsecretVALUE42") -> str:
        return f"json://127.0.0.1:{self.port}/{path}?token={token}"

    def titles(self) -> list[str]:
        return [m.get("title", "") for m in self.messages]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def make_channel(url: str, name="desk pager", **fields) -> AlertChannel:
    accounts = fields.pop("accounts", ())
    channel = AlertChannel.objects.create(name=name, url=url, **fields)
    channel.accounts.set(accounts)
    return channel


@pytest.fixture(autouse=True)
def no_group_wait(settings):
    """Told in the evaluation that finds it, unless a test is about the group wait (it sets its own)."""
    settings.ALERT_GROUP_WAIT_SECONDS = 0
