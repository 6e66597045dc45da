"""Zeros owed while no engine can send them live in the database, not in a web process's memory: a web
worker recycled between the first and the second zero loses nothing, and whichever process is alive sends
them, once each, when they are due."""

import time

import pytest

from heartbeats.desk import actions
from heartbeats.engine import fallback
from heartbeats.models import Beat, CountdownPolicy, Duty, Status
from tests.engine.conftest import armed_symbols, countdown_requests, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_window(settings):
    settings.ENGINE_RECV_WINDOW_MS = 1000
    settings.ENGINE_CLOCK_ERROR_MS = 300  # the second zero comes 1.3 s after the first


def _arm_on_exchange(simulator, policy, countdown_ms=30_000):
    actions.arm(policy.pk, user=None, ip=None)
    account = simulator.exchange.account(policy.account.api_key)
    simulator.exchange.set_countdown(account, "usdm", policy.symbol, countdown_ms)


def test_a_second_zero_owed_by_a_web_process_that_died_is_sent_by_another(
    simulator, make_account, make_policy, short_window, time_machine
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
    assert fallback.send_owed() == []
    time_machine.shift(1.4)  # the second zero is due
    results = fallback.send_owed()
    assert [(r.job.kind, r.outcome) for r in results] == [("final", "confirmed")]
    assert "BTCUSDT" not in armed_symbols(simulator)
    policy.refresh_from_db()
    assert policy.final_disarm_generation == policy.generation
    assert policy.status().state == Status.DISARMED
    assert fallback.send_owed() == [], "nothing is owed any more"
    assert [b.sender for b in Beat.objects.filter(policy=policy, kind="disarm")] == ["web", "web"]


def test_the_owed_zeros_duty_sends_the_second_zero_by_itself(
    simulator, make_account, make_policy, short_window, run_duties
):
    policy = make_policy(make_account(), "ETHUSDT")
    _arm_on_exchange(simulator, policy)
    actions.disarm(policy.pk, user=None, ip=None)
    # Started once the action has sent the first zero: sweeping while the action sends, it would send that
    # zero a second time.
    run_duties("web", "owed-zeros")
    wait_for(
        lambda: _settled(CountdownPolicy.objects.get(pk=policy.pk)),
        timeout=4,
        message="second zero from the owed-zeros duty",
    )
    zeros = [r for r in countdown_requests(simulator, "ETHUSDT") if r["countdown_ms"] == 0]
    assert len(zeros) == 2
    assert zeros[1]["received_at"] - zeros[0]["received_at"] >= 1.3


def test_one_process_at_a_time_sends_for_an_address(simulator, make_account, make_policy):
    policy = make_policy(make_account(), "BTCUSDT")
    _arm_on_exchange(simulator, policy)
    # Another web process is sending for this address right now.
    claim = Duty.objects.create(
        name=f"send:default:{policy.account.base_url}", holder="web:elsewhere:1", expires_at=time_in(10)
    )
    actions.disarm(policy.pk, user=None, ip=None)
    assert "BTCUSDT" in armed_symbols(simulator), "left to the process holding the claim"
    Duty.objects.filter(pk=claim.pk).update(expires_at=time_in(-1))  # it died: its claim runs out
    assert [r.outcome for r in fallback.send_owed()] == ["confirmed"]
    assert "BTCUSDT" not in armed_symbols(simulator)


def _settled(policy) -> bool:
    return policy.generation == 2 and policy.final_disarm_generation == 2


def time_in(seconds: float):
    from datetime import UTC, datetime, timedelta

    return datetime.now(tz=UTC) + timedelta(seconds=seconds)
