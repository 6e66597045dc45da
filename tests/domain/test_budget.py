"""Request weight budget per egress: figures, reserve, refusal with the numbers."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from heartbeats.domain import budget
from heartbeats.models import CountdownPolicy, EngineLiveness

from .conftest import make_account, make_policy

pytestmark = pytest.mark.django_db


def engine_reports_limit(limit, egress="default"):
    now = timezone.now()
    EngineLiveness.objects.create(
        engine_id=f"engine-{egress}",
        egress=egress,
        host="h",
        pid=1,
        started_at=now,
        seen_at=now,
        weight_limit=limit,
    )


def test_it_projects_ten_weight_per_beat_plus_clock_sync():
    account = make_account()
    policies = [make_policy(account, s, interval_s=30) for s in ("BTCUSDT", "ETHUSDT", "BNBUSDT")]
    assert budget.projected_weight_per_minute(policies) == 3 * 20 + 1
    assert budget.projected_weight_per_minute([make_policy(account, "SOLUSDT", interval_s=1)]) == 600 + 1


def test_options_switches_of_an_account_cost_one_heartbeat_per_shortest_interval():
    options = make_account("options desk", venue="options")
    switches = [
        make_policy(options, "BTCUSDT", interval_s=30),
        make_policy(options, "ETHUSDT", interval_s=20),
    ]
    # One heartbeat (10) every 20 s for both, a configuration (1) a minute each, one clock sync: not 10 per
    # underlying per interval as futures countdowns cost.
    assert budget.projected_weight_per_minute(switches) == 30 + 2 + 1
    futures = make_policy(make_account(), "BTCUSDT", interval_s=30)
    assert budget.projected_weight_per_minute([*switches, futures]) == 30 + 2 + 1 + 20 + 1


def test_it_falls_back_to_binance_documented_limit_and_reserves_for_disarm_all():
    account = make_account()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        make_policy(account, symbol, interval_s=30)
    b = budget.budget_for("default")
    assert (b.limit, b.limit_source) == (2400, "fallback")
    assert b.projected == 41
    assert b.reserve == 2 * 10 * 2 + 40
    assert b.available == 2400 - 41 - 80
    assert b.policies == 2


def test_it_uses_the_smallest_known_limit():
    engine_reports_limit(1200)
    make_account()
    assert budget.weight_limit("default") == (1200, "engine")


def test_it_counts_only_enabled_accounts_on_the_same_egress():
    make_policy(make_account("a"), interval_s=10)
    make_policy(make_account("b", enabled=False), interval_s=10)
    make_policy(make_account("c", egress="second-ip"), interval_s=10)
    assert budget.budget_for("default").policies == 1
    assert budget.budget_for("default").projected == 61


def test_it_refuses_an_overspending_policy_with_the_figures():
    engine_reports_limit(1000)
    account = make_account()
    for symbol in ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"):
        make_policy(account, symbol, countdown_ms=32_000, interval_s=10)
    candidate = CountdownPolicy(account=account, symbol="ADAUSDT", countdown_ms=5_000, interval_s=1)
    with pytest.raises(ValidationError) as caught:
        budget.check_policy_fits(candidate)
    message = caught.value.messages[0]
    assert "ADAUSDT every 1 s would need 600/min" in message
    assert "limit 1000/min (engine)" in message
    assert "already projected 301/min" in message
    assert "reserve 160/min" in message
    assert "available 539/min" in message
    assert "Lengthen the interval to at least 2 s" in message

    candidate.interval_s = 2
    budget.check_policy_fits(candidate)


def test_it_counts_an_edited_policy_once():
    engine_reports_limit(200)
    policy = make_policy(make_account(), interval_s=10)  # 60 + 1 + reserve 60 = 121 of 200
    budget.check_policy_fits(policy)
    policy.interval_s = 5  # 120 + 1 + 60 = 181
    budget.check_policy_fits(policy)
    policy.interval_s = 4  # 150 + 1 + 60 = 211
    with pytest.raises(ValidationError):
        budget.check_policy_fits(policy)


def test_it_counts_policies_of_a_disabled_account_when_adding_to_it():
    engine_reports_limit(200)
    account = make_account(enabled=False)
    make_policy(account, interval_s=5)
    with pytest.raises(ValidationError, match="would need"):
        budget.check_policy_fits(CountdownPolicy(account=account, symbol="ETHUSDT", interval_s=5))


def test_it_refuses_to_enable_an_account_whose_policies_do_not_fit():
    engine_reports_limit(300)
    make_policy(make_account("busy"), interval_s=5)  # 121 + 60 reserve
    idle = make_account("idle", enabled=False)
    make_policy(idle, "ETHUSDT", interval_s=5)
    budget.check_account_fits(idle)  # disabled: nothing to check
    idle.enabled = True
    with pytest.raises(ValidationError) as caught:
        budget.check_account_fits(idle)
    assert "The 1 policy of idle would need 121/min" in caught.value.messages[0]
    idle.egress = "second-ip"
    budget.check_account_fits(idle)
