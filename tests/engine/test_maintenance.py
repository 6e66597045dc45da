"""A maintenance window run by the worker's `maintenance` duty and the real engine against the simulator:
disarmed on the exchange at its start, armed again at its end, also when the engine restarts in the middle
(everything it needs is in the database), and never re-arming a policy someone disarmed by hand meanwhile."""

from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.desk import actions, maintenance
from heartbeats.engine import Engine
from heartbeats.models import Action, MaintenanceWindow, Operation, WindowState
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def _window(account, seconds_to_start: float, seconds_long: float) -> MaintenanceWindow:
    start = timezone.now() + timedelta(seconds=seconds_to_start)
    return maintenance.create(
        user=None,
        ip=None,
        reason="exchange maintenance",
        starts_at=start,
        ends_at=start + timedelta(seconds=seconds_long),
        account_ids=[account.pk],
    )


def _arms_since(simulator, symbol, when) -> list[dict]:
    return [r for r in countdown_requests(simulator, symbol) if r["countdown_ms"] and r["received_at"] > when]


def _state(window) -> str:
    return MaintenanceWindow.objects.get(pk=window.pk).state


def test_the_worker_disarms_at_the_start_and_rearms_at_the_end_across_a_restart(
    simulator, make_account, make_policy, engine_thread, run_duties
):
    run_duties("worker", "maintenance")
    account = make_account()
    policies = [make_policy(account, s, interval_s=1, countdown_ms=6000) for s in SYMBOLS]
    other = make_policy(make_account(), "XRPUSDT", interval_s=1, countdown_ms=6000)
    for p in [*policies, other]:
        actions.arm(p.pk, user=None, ip=None)

    with engine_thread(Engine(engine_id="first", config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == {*SYMBOLS, "XRPUSDT"}, timeout=10, message="all armed")
        window = _window(account, 2.0, 6.0)
        wait_for(lambda: _state(window) == WindowState.RUNNING, timeout=4, message="the window started")
        started = MaintenanceWindow.objects.get(pk=window.pk).started_at
        assert started - window.starts_at < timedelta(seconds=1.5)
        # The exchange's ground truth: the window's countdowns stopped, the other account's kept beating.
        wait_for(
            lambda: armed_symbols(simulator) == {"XRPUSDT"}, timeout=5, message="disarmed on the exchange"
        )

    # An engine restart during the window: a new engine, with nothing but the database to go by.
    assert _state(window) == WindowState.RUNNING
    with engine_thread(Engine(engine_id="second", config=fast_config())):
        wait_for(lambda: _state(window) == WindowState.ENDED, timeout=10, message="the window ended")
        ended = MaintenanceWindow.objects.get(pk=window.pk).ended_at
        assert ended - window.ends_at < timedelta(seconds=1.5)
        wait_for(lambda: armed_symbols(simulator) == {*SYMBOLS, "XRPUSDT"}, timeout=10, message="armed again")
    actions_seen = list(
        Operation.objects.filter(action__startswith="window_").order_by("at").values_list("action", flat=True)
    )
    assert actions_seen == [Action.WINDOW_CREATE, Action.WINDOW_START, Action.WINDOW_END]


def test_a_policy_disarmed_by_hand_during_the_window_stays_disarmed(
    simulator, make_account, make_policy, engine_thread, run_duties
):
    run_duties("worker", "maintenance")
    account = make_account()
    policies = [make_policy(account, s, interval_s=1, countdown_ms=6000) for s in SYMBOLS]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    with engine_thread(Engine(engine_id="only", config=fast_config())):
        wait_for(lambda: armed_symbols(simulator) == set(SYMBOLS), timeout=10, message="all armed")
        window = _window(account, 0.5, 4.0)
        wait_for(lambda: armed_symbols(simulator) == set(), timeout=6, message="disarmed by the window")
        # Someone arms BTC and disarms it again by hand during the window: a generation the window never gave.
        actions.arm(policies[0].pk, user=None, ip=None)
        actions.disarm(policies[0].pk, user=None, ip=None)
        wait_for(lambda: _state(window) == WindowState.ENDED, timeout=8, message="the window ended")
        wait_for(lambda: armed_symbols(simulator) == {"ETHUSDT", "SOLUSDT"}, timeout=6, message="re-armed")
        # Two more beats of each re-armed policy, and none for BTC since the window ended.
        ended = MaintenanceWindow.objects.get(pk=window.pk).ended_at.timestamp()
        wait_for(
            lambda: all(len(_arms_since(simulator, s, ended)) >= 2 for s in ("ETHUSDT", "SOLUSDT")),
            timeout=4,
            message="two beats of each re-armed policy",
        )
        assert _arms_since(simulator, "BTCUSDT", ended) == []
        assert armed_symbols(simulator) == {"ETHUSDT", "SOLUSDT"}


def test_with_no_engine_alive_the_web_starts_the_window_and_sends_its_zeros(
    simulator, make_account, make_policy, run_duties
):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=1, countdown_ms=60_000)
    actions.arm(policy.pk, user=None, ip=None)
    simulator.exchange.set_countdown(simulator.exchange.account(account.api_key), "usdm", "BTCUSDT", 60_000)
    run_duties("web", "maintenance", "owed-zeros")  # what the web processes run
    window = _window(account, 0.5, 30.0)
    wait_for(lambda: _state(window) == WindowState.RUNNING, timeout=4, message="the window started")
    wait_for(lambda: armed_symbols(simulator) == set(), timeout=4, message="the web's zero")
