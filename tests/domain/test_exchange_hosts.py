"""The server calls only exchange hosts: Binance's own, those in CG_EXCHANGE_HOST_ALLOWLIST, and loopback in
the embedded setup (its simulator). A reply that is not the exchange's error format is never quoted back."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from heartbeats.domain.clients import KeyCheckFailed, check_key
from heartbeats.domain.symbols import ExchangeInfoUnavailable, exchange_facts
from heartbeats.domain.validation import exchange_url_refusal
from heartbeats.forms import AccountForm
from heartbeats.models import ExchangeAccount

from .conftest import make_account, new_api_key, new_hmac_secret
from .test_account_form import form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_loopback(settings):
    settings.EXCHANGE_LOOPBACK_ALLOWED = False
    settings.EXCHANGE_HOST_ALLOWLIST = []


class TestRule:
    @pytest.mark.parametrize(
        "url",
        [
            "https://fapi.binance.com",
            "https://dapi.binance.com/",
            "https://demo-fapi.binance.com",
            "https://demo-dapi.binance.com",
            "https://testnet.binancefuture.com",
            "https://FAPI.binance.com:443",
        ],
    )
    def test_binance_hosts_are_allowed(self, url, no_loopback):
        assert exchange_url_refusal(url) is None

    @pytest.mark.parametrize(
        ("url", "fragment"),
        [
            ("http://fapi.binance.com", "over https on the standard port"),
            ("https://fapi.binance.com:8443", "over https on the standard port"),
            ("https://fapi.binance.com.evil.example", "is not an exchange host"),
            ("https://evil.example", "is not an exchange host"),
            ("http://169.254.169.254", "is not an exchange host"),
            ("http://10.0.0.5:8800", "is not an exchange host"),
            ("http://127.0.0.1:8800", "is not an exchange host"),
            ("http://[::1]:8800", "is not an exchange host"),
            ("http://localhost:8800", "is not an exchange host"),
            ("https://user:pw@fapi.binance.com", "no user name or password"),
            ("https://fapi.binance.com/?x=1", "without ?"),
            ("ftp://fapi.binance.com", "starting with https://"),
            ("https://fapi.binance.com:99999", "malformed"),
            ("", "starting with https://"),
        ],
    )
    def test_anything_else_is_refused_saying_why(self, url, fragment, no_loopback):
        assert fragment in exchange_url_refusal(url)

    def test_loopback_is_allowed_where_the_simulator_runs(self, settings):
        settings.EXCHANGE_LOOPBACK_ALLOWED = True
        for url in ("http://127.0.0.1:8800", "http://localhost:8800", "http://[::1]:9", "http://127.0.0.2"):
            assert exchange_url_refusal(url) is None, url
        assert exchange_url_refusal("http://10.0.0.5:8800") is not None

    def test_the_allowlist_names_hosts_or_hosts_and_ports(self, no_loopback, settings):
        settings.EXCHANGE_HOST_ALLOWLIST = ["sim.internal", "proxy.internal:8443"]
        assert exchange_url_refusal("http://sim.internal:8800") is None
        assert exchange_url_refusal("https://sim.internal") is None
        assert exchange_url_refusal("https://proxy.internal:8443") is None
        assert exchange_url_refusal("https://proxy.internal") is not None
        assert exchange_url_refusal("https://other.internal") is not None

    def test_the_setting_is_read_from_the_environment(self, monkeypatch):
        import importlib

        from dashboard import settings as project_settings

        monkeypatch.setenv("CG_EXCHANGE_HOST_ALLOWLIST", "sim.internal, proxy.internal:8443")
        try:
            reloaded = importlib.reload(project_settings)
            assert reloaded.EXCHANGE_HOST_ALLOWLIST == ["sim.internal", "proxy.internal:8443"]
            assert reloaded.EXCHANGE_LOOPBACK_ALLOWED is True  # CG_DEV=1 in the tests
        finally:
            monkeypatch.delenv("CG_EXCHANGE_HOST_ALLOWLIST")
            importlib.reload(project_settings)


class TestForm:
    def test_a_foreign_host_is_refused_before_anything_is_sent(self, simulator, no_loopback):
        api_key, secret = new_api_key(), new_hmac_secret()
        simulator.exchange.add_account(api_key, "hmac", secret)
        form = AccountForm(form_data(simulator.url, api_key, secret))
        assert not form.is_valid()
        assert "is not an exchange host this server may call" in str(form.errors["custom_base_url"])
        assert simulator.exchange.requests_log() == []
        assert not ExchangeAccount.objects.exists()

    def test_the_simulator_still_works_in_the_embedded_setup(self, simulator, sim_key):
        form = AccountForm(form_data(simulator.url, *sim_key))
        assert form.is_valid(), form.errors

    def test_a_stored_account_on_a_foreign_host_is_never_called(self, no_loopback):
        account = make_account(base_url="http://127.0.0.1:9")
        with pytest.raises(KeyCheckFailed, match="Not checked: 127.0.0.1 is not an exchange host"):
            check_key(account)
        with pytest.raises(ExchangeInfoUnavailable, match="not fetched"):
            exchange_facts(account, refresh=True)

    def test_the_checks_warn_about_stored_accounts_on_foreign_hosts(self, no_loopback):
        make_account("desk-far", base_url="http://127.0.0.1:9")
        with pytest.raises(SystemCheckError, match="countdown_guard.W010"):
            call_command("check", "--database", "default", "--fail-level", "WARNING")


class _Foreign(BaseHTTPRequestHandler):
    """A host on the allowlist that answers like no exchange: an HTML page, or JSON without a code."""

    body = b""
    content_type = "text/html"

    def do_GET(self):  # noqa: N802
        if self.path.endswith("/time"):
            payload = json.dumps({"serverTime": int(time.time() * 1000)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            payload = self.body
            self.send_response(401)
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def foreign_host():
    def start(body: bytes, content_type: str):
        handler = type("Handler", (_Foreign,), {"body": body, "content_type": content_type})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # a quick shutdown
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><title>INTERNAL-ADMIN-PAGE token=s3cr3t</title><body>hello</body></html>", "text/html"),
        (b'{"msg": "INTERNAL-ADMIN-PAGE token=s3cr3t"}', "application/json"),
        (b"INTERNAL-ADMIN-PAGE token=s3cr3t", "text/plain"),
    ],
)
def test_a_reply_that_is_not_the_exchanges_is_never_quoted_in_the_form(foreign_host, body, content_type):
    url = foreign_host(body, content_type)
    form = AccountForm(form_data(url, new_api_key(), new_hmac_secret()))
    assert not form.is_valid()
    text = " ".join(str(e) for errors in form.errors.values() for e in errors)
    assert "Key check failed" in text and "HTTP 401" in text
    assert "INTERNAL-ADMIN-PAGE" not in text and "s3cr3t" not in text
