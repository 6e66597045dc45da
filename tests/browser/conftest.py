"""Real-browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Never `playwright install`: the browser is /usr/bin/chromium, launched headless with background traffic off.
"""

import pathlib
import secrets
import threading
from contextlib import contextmanager

import pytest
from django.db import connections

from heartbeats.domain import roles
from tests.waiting import wait_for  # noqa: F401  (the area's tests import it from here)

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a long browser test password"
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A desktop window that asks for reduced motion (prefers-reduced-motion): the critical banners' endless
    colour animation would otherwise repaint every frame for as long as a page shows one (engine down, in
    most of these tests), about a tenth of a core each; no test looks at the animation."""
    return {**browser_context_args, "viewport": {"width": 1600, "height": 900}, "reduced_motion": "reduce"}


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def make_user(username, *role_names):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    roles.grant(user, *role_names)
    return user


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


SECRET = "9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d4e5f60718293a4b5c6d7e8f9"


@contextmanager
def running_engine(egress="default", **config):
    """The real engine in a thread, as a worker runs it; stopped (and joined) when the block ends or when
    the caller calls the yielded stop()."""
    from heartbeats.engine import Engine, EngineConfig

    engine = Engine(egress, config=EngineConfig.from_settings(**config))
    stop_event = threading.Event()
    failure = {}

    def target():
        try:
            engine.run(stop_event)
        except BaseException as exc:  # re-raised in the test thread below
            failure["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="browser-test-engine", daemon=True)
    thread.start()

    def stop():
        stop_event.set()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the engine did not stop"

    try:
        yield stop
    finally:
        stop()
        if "error" in failure:
            raise failure["error"]


@pytest.fixture
def desk_on_simulator(simulator):
    """Accounts on the simulator and a factory for policies on them (created disarmed)."""
    from heartbeats.models import CountdownPolicy, Environment, ExchangeAccount, KeyType

    def account(label):
        api_key = secrets.token_hex(32)
        simulator.exchange.add_account(api_key, "hmac", SECRET)
        return ExchangeAccount.objects.create(
            label=label,
            environment=Environment.CUSTOM,
            custom_base_url=simulator.url,
            key_type=KeyType.HMAC,
            api_key=api_key,
            secret=SECRET,
        )

    def policy(acct, symbol, *, interval_s=30, countdown_ms=120_000):
        return CountdownPolicy.objects.create(
            account=acct, symbol=symbol, interval_s=interval_s, countdown_ms=countdown_ms
        )

    return account, policy


@pytest.fixture(autouse=True)
def no_script_errors(page):
    """Every browser test fails on a script error or a Content-Security-Policy refusal in the page."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield errors
    # Refused requests the test caused on purpose (403 pages, aborted polls) are reported as failed loads.
    unexpected = [e for e in errors if not e.startswith("Failed to load resource")]
    assert not unexpected, unexpected


@pytest.fixture(scope="session")
def base_url():
    """pytest-playwright 0.10 declares its fallback `base_url` as an instance method, which pytest 9 warns
    about and pytest 10 will refuse. Pages here are opened at live_server's address: no base URL is needed."""
    return None
