"""Binance Options as a key admin meets it: an account on the simulator (custom base URL), its key check's
wording, and policies that name an underlying (BTCUSDT covers every BTC option), never one option."""

import pytest
from django.urls import reverse

from heartbeats.forms import AccountForm, PolicyForm
from heartbeats.models import CountdownPolicy, ExchangeAccount

from .conftest import make_account, new_api_key, new_hmac_secret
from .test_account_form import form_data

pytestmark = pytest.mark.django_db

ADMIN_IP = "203.0.113.51"


def options_form_data(simulator_url, api_key, secret, **over) -> dict:
    return form_data(simulator_url, api_key, secret, label="desk-options", venue="options", **over)


def all_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@pytest.fixture
def options_account(simulator, sim_key):
    api_key, secret = sim_key
    return make_account(
        "sim-options", base_url=simulator.url, venue="options", api_key=api_key, secret=secret
    )


def policy_form(account, symbol="BTCUSDT", countdown_ms=120_000, interval_s=30):
    return PolicyForm(
        {"account": account.pk, "symbol": symbol, "countdown_ms": countdown_ms, "interval_s": interval_s}
    )


def symbol_error(form) -> str:
    assert not form.is_valid()
    assert not CountdownPolicy.objects.exists()
    return " ".join(form.errors["symbol"])


# -- The account ---------------------------------------------------------------------------------------------


def test_the_account_form_offers_options_and_explains_what_its_switch_covers():
    form = AccountForm()
    assert ("options", "Options") in form.fields["venue"].choices
    assert "BTCUSDT covers every BTC option" in form.fields["venue"].help_text


def test_it_saves_an_options_account_on_the_simulator_after_an_options_key_check(simulator):
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret, options=True)
    form = AccountForm(options_form_data(simulator.url, api_key, secret))
    assert form.is_valid(), form.errors
    account = form.save()
    assert (account.venue, account.base_url) == ("options", simulator.url)
    checked = [r["path"] for r in simulator.exchange.requests_log() if r["path"].endswith("openOrders")]
    assert checked == ["/eapi/v1/openOrders"]


def test_it_refuses_options_on_the_testnet_binance_does_not_run(simulator):
    data = options_form_data(simulator.url, new_api_key(), new_hmac_secret(), environment="testnet")
    form = AccountForm(data)
    assert not form.is_valid()
    assert "Binance runs no Binance testnet (demo) for Options" in " ".join(form.errors["environment"])
    assert simulator.exchange.requests_log() == []  # refused before anything was sent
    assert not ExchangeAccount.objects.exists()


def test_a_key_admin_picking_options_and_the_testnet_in_the_admin_is_refused(client, cast, simulator):
    client.force_login(cast.key_admin)
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret)
    response = client.post(
        reverse("admin:heartbeats_exchangeaccount_add"),
        options_form_data(simulator.url, api_key, secret, environment="testnet"),
        REMOTE_ADDR=ADMIN_IP,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Binance runs no Binance testnet (demo) for Options" in html
    assert '<option value="options" selected>Options</option>' in html
    assert not ExchangeAccount.objects.exists()


def test_minus_2015_on_an_options_account_asks_for_the_options_permission(simulator):
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret, options=False)  # a futures-only key
    form = AccountForm(options_form_data(simulator.url, api_key, secret))
    assert not form.is_valid()
    text = all_errors(form)
    assert "code -2015" in text and "enable Options" in text and "IP whitelist" in text
    assert "Futures" not in text and "futures" not in text
    assert not ExchangeAccount.objects.exists()


def test_minus_2015_on_a_futures_account_still_asks_for_futures(simulator):
    form = AccountForm(form_data(simulator.url, new_api_key(), new_hmac_secret()))
    assert not form.is_valid()
    assert "enable Futures for USD-M" in all_errors(form)


# -- Its policies --------------------------------------------------------------------------------------------


def test_it_saves_a_policy_for_an_underlying(options_account):
    form = policy_form(options_account, "BTCUSDT")
    assert form.is_valid(), form.errors
    policy = form.save()
    assert (policy.account, policy.symbol, policy.armed) == (options_account, "BTCUSDT", False)


def test_the_policy_form_presents_the_field_as_symbol_or_underlying_and_names_each_accounts_venue(
    options_account,
):
    usdm = make_account("desk-usdm")
    form = PolicyForm()
    assert form.fields["symbol"].label == "Symbol / underlying"
    assert "BTCUSDT covers every BTC option" in form.fields["symbol"].help_text
    assert "5000 ms on Options" in form.fields["countdown_ms"].help_text
    offered = dict((str(value), label) for value, label in form.fields["account"].choices)
    assert offered[str(options_account.pk)] == "sim-options (Options)"
    assert offered[str(usdm.pk)] == "desk-usdm (USD-M)"


def test_it_refuses_one_option_and_points_at_its_underlying(options_account, simulator):
    message = symbol_error(policy_form(options_account, "BTC-261225-100000-C"))
    assert "BTC-261225-100000-C is an option symbol" in message
    assert "enter BTCUSDT, which covers every BTC option" in message
    assert simulator.exchange.requests_log() == []  # judged from its spelling alone


def test_it_refuses_an_underlying_options_does_not_list_and_names_those_it_does(options_account, simulator):
    message = symbol_error(policy_form(options_account, "DOGEUSDT"))
    assert f"DOGEUSDT is not an underlying listed on Options at {simulator.url}" in message
    assert "Listed there: BNBUSDT, BTCUSDT, ETHUSDT." in message
    assert "futures" not in message


def test_it_refuses_a_futures_symbol_on_an_options_account(options_account):
    assert "COIN-M futures symbol" in symbol_error(policy_form(options_account, "BTCUSD_PERP"))
    assert symbol_error(policy_form(options_account, "btcusdt")) == "Underlyings are upper case: BTCUSDT."


def test_it_points_an_option_typed_on_a_futures_account_at_an_options_account(sim_account):
    message = symbol_error(policy_form(sim_account, "ETH-261225-3000-P"))
    assert "this account trades USD-M futures" in message
    assert "Options account" in message and "ETHUSDT covers every ETH option" in message


def test_a_futures_symbol_options_does_not_list_names_the_futures_venue(sim_account, simulator):
    message = symbol_error(policy_form(sim_account, "NOPEUSDT"))
    assert f"NOPEUSDT is not listed on USD-M futures at {simulator.url}" in message


def test_a_countdown_under_five_seconds_names_options_own_minimum(options_account):
    form = policy_form(options_account, countdown_ms=4_000, interval_s=1)
    assert not form.is_valid()
    message = " ".join(form.errors["countdown_ms"])
    assert "at least 5000 ms (5 s, the least Binance Options accepts)" in message


def test_a_countdown_under_five_seconds_on_futures_names_the_guards_floor_only(sim_account):
    form = policy_form(sim_account, countdown_ms=4_000, interval_s=1)
    assert not form.is_valid()
    message = " ".join(form.errors["countdown_ms"])
    assert "at least 5000 ms (5 s)" in message and "Options" not in message
