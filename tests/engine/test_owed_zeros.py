"""Zeros owed while no engine can send them live in the database, not in a web process's memory: a web
worker recycled between the first and the second zero loses nothing, and whichever process is alive sends
them, once each, when they are due."""

import time

import pytest

from heartbeats import actions
from heartbeats.engine import direct
from heartbeats.models import AddressLimits, Beat, CountdownPolicy, Status
from tests.engine.conftest import armed_symbols, countdown_requests, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_window(settings):
    settings.ENGINE_RECV_WINDOW_MS = 1000
    settings.ENGINE_CLOCK_ERROR_MS = 300  # the second zero comes 1.3 s after the first


@pytest.fixture
def no_sweeper(monkeypatch):
    """This process dies right after the action: no thread of it is left to send anything later."""
    monkeypatch.setattr(direct, "ensure_sweeper", lambda: None)


def _arm_on_exchange(simulator, policy, countdown_ms=30_000):
    actions.arm(policy.pk, user=None, ip=None)
    account = simulator.exchange.account(policy.account.api_key)
    simulator.exchange.set_countdown(account, "usdm", policy.symbol, countdown_ms)


def test_a_second_zero_owed_by_a_web_process_that_died_is_sent_by_another(
    simulator, make_account, make_policy, short_window, no_sweeper, time_machine
):
    time_machine.move_to(time.time())  # moved on below: the web's clock and the simulator's
    policy = make_policy(make_account(), "BTCUSDT")
    _arm_on_exchange(simulator, policy)
    actions.disarm(policy.pk, user=None, ip=None)
    assert "BTCUSDT" not in armed_symbols(simulator), "the first zero went at once"
    # A beat signed before the disarm and held in the network reaches the exchange after the first zero.
    simulator.exchange.set_countdown(
        simulator.exchange.account(policy.account.api_key), "usdm", "BTCUSDT", 30_000
    )

    # Another web process's sweeper, before the second zero is due: nothing to send yet.
    assert direct.send_owed() == []
    time_machine.shift(1.4)  # the second zero is due
    results = direct.send_owed()
    assert [(r.job.kind, r.outcome) for r in results] == [("final", "confirmed")]
    assert "BTCUSDT" not in armed_symbols(simulator)
    policy.refresh_from_db()
    assert policy.final_disarm_generation == policy.generation
    assert policy.status().state == Status.DISARMED
    assert direct.send_owed() == [], "nothing is owed any more"
    assert [b.sender for b in Beat.objects.filter(policy=policy, kind="disarm")] == ["web", "web"]


def test_the_sweeper_sends_the_second_zero_by_itself(
    simulator, make_account, make_policy, short_window, settings
):
    policy = make_policy(make_account(), "ETHUSDT")
    _arm_on_exchange(simulator, policy)
    actions.disarm(policy.pk, user=None, ip=None)
    # On once the action has sent the first zero: this process's sweeper thread may be running already (an
    # earlier test started it), and one sweeping while the action sends would send that zero a second time.
    settings.FALLBACK_SWEEP = True
    wait_for(
        lambda: _settled(CountdownPolicy.objects.get(pk=policy.pk)),
        timeout=4,
        message="second zero from the sweeper",
    )
    zeros = [r for r in countdown_requests(simulator, "ETHUSDT") if r["countdown_ms"] == 0]
    assert len(zeros) == 2
    assert zeros[1]["received_at"] - zeros[0]["received_at"] >= 1.3


def test_one_process_at_a_time_sends_for_an_address(simulator, make_account, make_policy, no_sweeper):
    policy = make_policy(make_account(), "BTCUSDT")
    _arm_on_exchange(simulator, policy)
    # Another web process is sending for this address right now.
    AddressLimits.objects.create(
        egress="default",
        base_url=policy.account.base_url,
        fallback_holder="web:elsewhere:1",
        fallback_until=time_in(10),
    )
    actions.disarm(policy.pk, user=None, ip=None)
    assert "BTCUSDT" in armed_symbols(simulator), "left to the process holding the claim"
    AddressLimits.objects.update(fallback_until=time_in(-1))  # it died: its claim runs out
    assert [r.outcome for r in direct.send_owed()] == ["confirmed"]
    assert "BTCUSDT" not in armed_symbols(simulator)


def _settled(policy) -> bool:
    return policy.generation == 2 and policy.final_disarm_generation == 2


def time_in(seconds: float):
    from datetime import UTC, datetime, timedelta

    return datetime.now(tz=UTC) + timedelta(seconds=seconds)
