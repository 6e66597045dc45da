"""Policy validation against the venue's exchange info (the simulator): symbols, timing, budget."""

import pytest
from django.utils import timezone

from heartbeats.domain import symbols
from heartbeats.forms import PolicyForm
from heartbeats.models import CountdownPolicy
from simulator import Simulator

from .conftest import make_account, make_policy

pytestmark = pytest.mark.django_db


def policy_form(account, symbol="BTCUSDT", countdown_ms=120_000, interval_s=30, instance=None):
    data = {"account": account.pk, "symbol": symbol, "countdown_ms": countdown_ms, "interval_s": interval_s}
    return PolicyForm(data, instance=instance)


def refused(form, field):
    assert not form.is_valid()
    assert (
        not CountdownPolicy.objects.filter(symbol=form.data["symbol"]).exclude(pk=form.instance.pk).exists()
    )
    return " ".join(form.errors[field])


def exchange_info_calls(simulator):
    return [r for r in simulator.exchange.requests_log() if r["path"].endswith("exchangeInfo")]


def test_it_saves_a_policy_for_a_trading_symbol(sim_account):
    form = policy_form(sim_account)
    assert form.is_valid(), form.errors
    policy = form.save()
    assert (policy.symbol, policy.countdown_ms, policy.interval_s, policy.armed) == (
        "BTCUSDT",
        120_000,
        30,
        False,
    )
    assert form.changes() == {
        "account": [None, "sim-usdm"],
        "symbol": [None, "BTCUSDT"],
        "countdown_ms": [None, 120_000],
        "interval_s": [None, 30],
    }


def test_it_says_symbols_are_upper_case(sim_account):
    assert refused(policy_form(sim_account, "btcusdt"), "symbol") == "Symbols are upper case: BTCUSDT."


def test_it_refuses_separators_in_symbols(sim_account):
    assert "BTCUSDT" in refused(policy_form(sim_account, "BTC-USDT"), "symbol")


def test_it_refuses_a_symbol_that_is_not_trading(sim_account):
    message = refused(policy_form(sim_account, "LUNAUSDT"), "symbol")
    assert "not trading (status SETTLING)" in message


def test_it_refuses_a_symbol_the_venue_does_not_list(sim_account):
    assert "not listed on USD-M futures" in refused(policy_form(sim_account, "NOPEUSDT"), "symbol")


def test_it_refuses_a_coin_margined_symbol_on_a_usdm_account(sim_account):
    assert "COIN-M symbol" in refused(policy_form(sim_account, "BTCUSD_PERP"), "symbol")


def test_it_accepts_coin_margined_symbols_on_a_coin_margined_account(simulator, sim_key):
    account = make_account(
        "sim-coinm", base_url=simulator.url, venue="coinm", api_key=sim_key[0], secret=sim_key[1]
    )
    assert policy_form(account, "BTCUSD_PERP").is_valid()
    assert "not a COIN-M symbol" in refused(policy_form(account, "BTCUSDT"), "symbol")


def test_it_caches_the_exchange_info_between_validations(simulator, sim_account):
    assert policy_form(sim_account, "BTCUSDT").is_valid()
    assert policy_form(sim_account, "ETHUSDT").is_valid()
    assert len(exchange_info_calls(simulator)) == 1
    symbols.exchange_facts(sim_account, refresh=True)
    assert len(exchange_info_calls(simulator)) == 2
    assert "BTCUSDT" in symbols.trading_symbols(sim_account)


def test_it_refuses_when_the_symbol_list_cannot_be_fetched(sim_account, simulator):
    simulator.exchange.inject(path="/fapi/v1/exchangeInfo", status=503, count=None)
    assert "could not be fetched" in refused(policy_form(sim_account), "symbol")


def test_it_refuses_a_countdown_too_tight_for_the_interval(sim_account):
    message = refused(policy_form(sim_account, countdown_ms=20_000, interval_s=10), "countdown_ms")
    assert "Raise the countdown to 32000 ms or shorten the interval to 6 s" in message


def test_it_refuses_intervals_and_countdowns_out_of_bounds(sim_account):
    form = policy_form(sim_account, countdown_ms=4_000_000, interval_s=0)
    assert not form.is_valid()
    assert "at least 1 s" in " ".join(form.errors["interval_s"])
    assert "at most 3600000 ms" in " ".join(form.errors["countdown_ms"])


def test_it_refuses_a_second_policy_for_the_same_symbol_before_asking_the_exchange(simulator, sim_account):
    make_policy(sim_account, "BTCUSDT")
    form = policy_form(sim_account, "BTCUSDT")
    assert not form.is_valid()
    assert form.errors["symbol"] == ["sim-usdm already has a policy for BTCUSDT: change that one instead."]
    assert exchange_info_calls(simulator) == []


def test_it_lets_a_policy_keep_its_own_symbol_when_edited(sim_account):
    policy = make_policy(sim_account, "BTCUSDT")
    form = policy_form(sim_account, "BTCUSDT", countdown_ms=150_000, instance=policy)
    assert form.is_valid(), form.errors


def test_it_states_the_real_lower_bounds_for_negative_numbers(sim_account):
    form = policy_form(sim_account, countdown_ms=-5, interval_s=-1)
    assert not form.is_valid()
    assert form.errors["countdown_ms"] == ["The countdown must be at least 5000 ms."]
    assert form.errors["interval_s"] == ["The interval must be at least 1 s."]


def test_it_refuses_a_policy_over_the_budget_published_by_the_exchange(db):
    sim = Simulator(weight_limit=300)
    sim.start()
    try:
        account = make_account("small", base_url=sim.url)
        make_policy(account, "ETHUSDT", countdown_ms=32_000, interval_s=10)  # 60 + 1, reserve 20 + 40
        form = policy_form(account, "BTCUSDT", countdown_ms=32_000, interval_s=3)  # 200 more, reserve 20 more
        assert not form.is_valid()
        message = " ".join(form.non_field_errors())
        assert "would need 200/min" in message
        assert "limit 300/min (exchange info)" in message
        assert "reserve 80/min" in message
        assert "available 159/min" in message
        assert "Lengthen the interval to at least 4 s" in message
        assert policy_form(account, "BTCUSDT", countdown_ms=32_000, interval_s=4).is_valid()
    finally:
        sim.stop()


def test_it_refuses_to_move_an_armed_policy_to_another_symbol(sim_account):
    policy = make_policy(sim_account, "BTCUSDT", armed=True, generation=1, desired_changed_at=timezone.now())
    form = policy_form(sim_account, "ETHUSDT", instance=policy)
    assert not form.is_valid()
    assert "Disarm BTCUSDT before changing its symbol" in " ".join(form.non_field_errors())
    policy.refresh_from_db()
    retimed = policy_form(sim_account, "BTCUSDT", countdown_ms=100_000, instance=policy)
    assert retimed.is_valid(), retimed.errors
    assert retimed.save().countdown_ms == 100_000
    assert retimed.changes() == {"countdown_ms": [120_000, 100_000]}
