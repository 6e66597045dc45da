"""Against the simulator with the real engine: a strategy that goes silent stops the heartbeats, so the
exchange's expiry cancels its orders; and Cancel orders now pulls plain and conditional orders of many
symbols at once."""

import time

import pytest
from django.utils import timezone

from heartbeats.desk import actions
from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.strategies import pings
from heartbeats.engine import Engine
from heartbeats.models import Action, CountdownPolicy, Operation, OrderCancel, Strategy
from tests.engine.conftest import countdown_requests
from tests.strategies.conftest import fast_config, make_strategy, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_silent_strategy_lets_the_exchange_cancel_its_orders(
    simulator, make_account, make_policy, engine_thread
):
    account = make_account()
    held = make_policy(account, "BTCUSDT", interval_s=1, countdown_ms=5000)
    free = make_policy(account, "ETHUSDT", interval_s=1, countdown_ms=5000)
    _strategy, key = make_strategy([held], grace_s=5, rearm_on_return=True)
    pings.record(key, "10.0.0.5")
    for policy in (held, free):
        actions.arm(policy.pk, user=None, ip=None)
    simulator.exchange.place_order(account.api_key, "BTCUSDT", price="1000")
    with engine_thread(Engine("default", config=fast_config())):
        wait_for(lambda: len(countdown_requests(simulator, "BTCUSDT")) >= 2, timeout=10)
        last_ping = time.time()  # no more pings from here
        wait_for(lambda: not simulator.exchange.open_orders(account.api_key, "BTCUSDT"), timeout=20)
        gone_after = time.time() - last_ping
        arms = countdown_requests(simulator, "BTCUSDT")
        # Nothing was beaten past the grace (plus the engine's one-second recheck)...
        assert all(e["received_at"] <= last_ping + 5 + 1.5 for e in arms), arms[-1]
        # ...so the exchange's countdown ran out about a countdown after the last arm: orders gone.
        assert 5 <= gone_after <= 5 + 5 + 3, gone_after
        # The policy without a strategy was beaten all along.
        assert len(countdown_requests(simulator, "ETHUSDT")) > len(arms)
        # The strategy comes back (and may resume by itself): beats again within its reaction time.
        before = len(arms)
        assert pings.record(key, "10.0.0.5") == "RESUMED"
        wait_for(lambda: len(countdown_requests(simulator, "BTCUSDT")) > before, timeout=3)
    print(
        f"orders cancelled by the exchange {gone_after:.1f} s after the last ping (grace 5 s, countdown 5 s)"
    )


def _desk(simulator, make_account, make_policy, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT")):
    account = make_account()
    policies = []
    for symbol in symbols:
        policies.append(make_policy(account, symbol))
        simulator.exchange.place_order(account.api_key, symbol, price="1000")
        simulator.exchange.place_order(account.api_key, symbol, side="SELL", price="900000")
        simulator.exchange.place_algo_order(account.api_key, symbol, trigger_price="500")
    return account, policies


def test_cancel_orders_now_pulls_plain_and_conditional_orders_of_every_symbol(
    simulator, make_account, make_policy
):
    account, policies = _desk(simulator, make_account, make_policy)
    other, others = _desk(simulator, make_account, make_policy, symbols=("XRPUSDT",))
    started = time.monotonic()
    operation = killswitch.cancel_orders(
        [p.pk for p in policies + others], user=None, username="olga", ip="10.0.0.7", reason="desk halted"
    )
    rows = killswitch.wait(operation)
    took = time.monotonic() - started
    assert sorted((r.symbol, r.kind, r.state) for r in rows) == sorted(
        (s, kind, "done") for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT") for kind in ("orders", "algo")
    )
    for acct, symbols in ((account, ("BTCUSDT", "ETHUSDT", "SOLUSDT")), (other, ("XRPUSDT",))):
        for symbol in symbols:
            assert simulator.exchange.open_orders(acct.api_key, symbol) == []
            assert simulator.exchange.open_algo_orders(acct.api_key, symbol) == []
    op = Operation.objects.get(pk=operation.pk)
    assert op.action == Action.CANCEL_ORDERS and op.reason == "desk halted" and op.username == "olga"
    # The countdowns were left as they were.
    assert not Operation.objects.filter(action=Action.DISARM_SELECTED).exists()
    print(f"cancel orders now: 4 symbols x 2 kinds in {took * 1000:.0f} ms")


def test_cancel_orders_now_can_disarm_first(simulator, make_account, make_policy):
    account, policies = _desk(simulator, make_account, make_policy, symbols=("BTCUSDT",))
    actions.arm(policies[0].pk, user=None, ip=None)
    operation = killswitch.cancel_orders([policies[0].pk], reason="going home", disarm=True)
    killswitch.wait(operation)
    assert not CountdownPolicy.objects.get(pk=policies[0].pk).armed
    assert Operation.objects.filter(action=Action.DISARM_SELECTED).count() == 1
    assert simulator.exchange.open_orders(account.api_key, "BTCUSDT") == []


def test_refusals_change_nothing(simulator, make_account, make_policy):
    _account, policies = _desk(simulator, make_account, make_policy, symbols=("BTCUSDT",))
    for kwargs, message in (
        ({"policy_ids": [policies[0].pk], "reason": " "}, "reason"),
        ({"policy_ids": [], "reason": "x"}, "at least one"),
        ({"policy_ids": [policies[0].pk, 999999], "reason": "x"}, "999999"),
    ):
        with pytest.raises(ValueError, match=message):
            killswitch.cancel_orders(kwargs["policy_ids"], reason=kwargs["reason"])
    assert not Operation.objects.filter(action=Action.CANCEL_ORDERS).exists()
    assert not OrderCancel.objects.exists()


def test_a_failing_strategy_has_its_orders_cancelled_by_the_guard(simulator, make_account, make_policy):
    account, policies = _desk(simulator, make_account, make_policy, symbols=("BTCUSDT", "ETHUSDT"))
    for policy in policies:
        actions.arm(policy.pk, user=None, ip=None)
    _strategy, key = make_strategy(policies)
    pings.record(key, None)
    assert pings.record(key, None, fail=True) == "FAILED"
    wait_for(lambda: OrderCancel.objects.filter(state="done").count() == 4, timeout=10)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert simulator.exchange.open_orders(account.api_key, symbol) == []
        assert simulator.exchange.open_algo_orders(account.api_key, symbol) == []
    assert Strategy.objects.get().held_since <= timezone.now()


def test_an_address_short_of_weight_is_never_pushed_into_a_ban(simulator, make_account, make_policy):
    from heartbeats.domain import ratelimits

    account, policies = _desk(simulator, make_account, make_policy)
    ratelimits.ensure_row(account.egress, account.base_url)
    minute = ratelimits.exchange_minute(time.time())
    # Room for the clock and two requests beyond what is kept for disarms (none armed: the key check's
    # weight; see killswitch.cancel).
    from heartbeats.domain import budget

    used = 2400 - min(budget.reserve_for(0), 2400 // 4) - 3
    ratelimits.record(account.egress, account.base_url, minute=minute, used_weight=used, weight_limit=2400)
    operation = killswitch.cancel_orders([p.pk for p in policies], reason="limits")
    rows = killswitch.wait(operation)
    assert sorted(r.state for r in rows) == ["done", "done"] + ["skipped"] * 4
    assert all("weight" in r.error and "Press again" in r.error for r in rows if r.state == "skipped")
    deletes = [e for e in simulator.exchange.requests_log() if e.get("method") == "DELETE"]
    assert len(deletes) == 2
