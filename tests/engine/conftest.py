"""Engine tests run the real engine in threads (or a real qcluster) against the simulator, on the shared
SQLite test database file, so every test commits (`transaction=True`)."""

import secrets
import sys
import threading
from contextlib import contextmanager

import pytest
from django.db import connections

from heartbeats.engine import Engine, EngineConfig, wakeup
from heartbeats.models import CountdownPolicy, Environment, ExchangeAccount, KeyType
from tests.waiting import wait_for  # noqa: F401  (the area's tests import it from here)

HMAC_SECRET = "5f1c0b1d0e2a4c6e8a9b7d5f3e1c0a2b4d6f8e0a1c3e5a7b9d1f3e5a7c9e1b3d"

# Fast everything: short polls, short lease, small recvWindow so the second `0` comes quickly.
FAST = dict(
    lease_ttl=1.5,
    lease_renew_every=0.25,
    lease_margin=0.3,
    liveness_every=0.3,
    full_reload_every=1.0,
    accounts_poll_every=0.5,
    write_every=0.03,
    pool_size=4,
    recv_window_ms=2000,
    clock_error_ms=500,
    connect_timeout=1.0,
    read_timeout=2.0,
    rate_limit_pause=1.0,
    ban_pause=2.0,
)


def fast_config(**changes) -> EngineConfig:
    return EngineConfig.from_settings(**{**FAST, **changes})


@pytest.fixture
def make_account(simulator):
    made = []

    def make(label=None, *, egress="default", enabled=True):
        api_key = secrets.token_hex(32)
        simulator.exchange.add_account(api_key, "hmac", HMAC_SECRET)
        account = ExchangeAccount.objects.create(
            label=label or f"acct-{len(made) + 1}",
            environment=Environment.CUSTOM,
            custom_base_url=simulator.url,
            key_type=KeyType.HMAC,
            api_key=api_key,
            secret=HMAC_SECRET,
            egress=egress,
            enabled=enabled,
        )
        made.append(account)
        return account

    return make


@pytest.fixture
def make_policy():
    def make(account, symbol="BTCUSDT", *, interval_s=1, countdown_ms=6000):
        return CountdownPolicy.objects.create(
            account=account, symbol=symbol, interval_s=interval_s, countdown_ms=countdown_ms
        )

    return make


@contextmanager
def running(engine: Engine, **run_kwargs):
    """Runs `engine` in a thread for the block; stops it and waits for it to finish afterwards."""
    stop = threading.Event()
    outcome = {}

    def target():
        try:
            outcome["reason"] = engine.run(stop, **run_kwargs)
        except BaseException as exc:  # surfaced by the test below
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name=f"test-{engine.engine_id}", daemon=True)
    thread.start()
    try:
        yield engine
    finally:
        stop.set()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the engine did not stop"
        if "error" in outcome:
            raise outcome["error"]


@pytest.fixture
def engine_thread():
    return running


def countdown_requests(sim, symbol=None, since_id=0):
    return [
        e
        for e in sim.exchange.requests_log("/fapi/v1/countdownCancelAll", since_id=since_id)
        if symbol is None or e["symbol"] == symbol
    ]


def in_feed_wait(thread: threading.Thread) -> bool:
    """Whether `thread` is inside a change feed's wait (heartbeats.engine.wakeup): it has read what it was
    told and now waits for the database to change."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename == wakeup.__file__:
            return True
        frame = frame.f_back
    return False


def armed_symbols(sim) -> set[str]:
    return {c["symbol"] for c in sim.exchange.countdowns()}
