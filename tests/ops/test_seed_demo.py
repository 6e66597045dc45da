"""seed_demo: the demo's users, simulator accounts with working keys of every type (Binance futures and
options, OKX with its passphrase, Kraken Futures), armed policies and resting orders; a second run reuses
everything."""

import base64
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from heartbeats.domain import budget, clients, roles, validation
from heartbeats.models import Action, CountdownPolicy, Environment, ExchangeAccount, Operation, Venue
from simulator.cli import load_accounts
from simulator.symbols import KRAKEN_FUTURES, MARKETS, OPTIONS

pytestmark = pytest.mark.django_db


@pytest.fixture
def var_dir(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        yield tmp_path


def seed(simulator, *args, url=None) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--simulator-url", url or simulator.url, *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_user_for_each_role_with_the_printed_passwords(simulator, var_dir):
    seed(simulator)
    passwords = json.loads((var_dir / "demo" / "passwords.json").read_text())
    users = {u.username: u for u in get_user_model().objects.filter(username__in=passwords)}
    assert set(users) == {"viewer", "operator", "keyadmin", "admin"}
    for name, user in users.items():
        assert user.check_password(passwords[name])
    assert roles.can_view(users["viewer"]) and not roles.can_operate(users["viewer"])
    assert roles.can_operate(users["operator"]) and not roles.can_manage_keys(users["operator"])
    assert roles.can_manage_keys(users["keyadmin"]) and not roles.can_operate(users["keyadmin"])
    assert users["admin"].is_superuser
    sign_ins = (var_dir / "demo" / "sign-ins.txt").read_text()
    assert all(f"{name}" in sign_ins and passwords[name] in sign_ins for name in passwords)
    assert (var_dir / "demo" / "passwords.json").stat().st_mode & 0o077 == 0


def test_it_registers_working_keys_of_all_three_types_on_the_simulator(simulator, var_dir):
    seed(simulator)
    assert load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json") == 7
    demo_accounts = ExchangeAccount.objects.all()
    assert {a.key_type for a in demo_accounts} == {"hmac", "ed25519", "rsa"}
    assert {a.venue for a in demo_accounts} == {"usdm", "coinm", "options", "okx", "kraken_futures"}
    for account in demo_accounts:
        assert account.environment == Environment.CUSTOM
        assert account.base_url == simulator.url
        clients.check_key(account)  # a signed request the simulator accepts
    options_desk = ExchangeAccount.objects.get(label="Options desk")
    assert simulator.exchange.account(options_desk.api_key).options, "the key may use /eapi"


def test_it_adds_an_okx_account_whose_key_has_a_passphrase_and_a_kraken_futures_account(simulator, var_dir):
    seed(simulator)
    load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json")
    okx = ExchangeAccount.objects.get(label="OKX desk")
    assert (okx.venue, okx.key_type) == (Venue.OKX, "hmac")
    assert len(okx.key_passphrase) >= 20
    assert okx.key_passphrase == (var_dir / "demo" / "keys" / "okx-desk.passphrase").read_text().strip()
    assert simulator.exchange.okx.account(okx.api_key).passphrase == okx.key_passphrase
    kraken = ExchangeAccount.objects.get(label="Kraken Futures desk")
    assert (kraken.venue, kraken.key_type, kraken.key_passphrase) == (Venue.KRAKEN_FUTURES, "hmac", "")
    assert len(base64.b64decode(kraken.secret, validate=True)) == 64, "a base64 secret, as Kraken's"
    assert simulator.exchange.account(kraken.api_key) is not None
    others = ExchangeAccount.objects.exclude(pk=okx.pk)
    assert not any(a.key_passphrase for a in others)
    entries = json.loads((var_dir / "demo" / "simulator-accounts.json").read_text())
    venues_of = {e["label"]: e.get("venue") for e in entries}
    assert venues_of["OKX desk"] == "okx" and venues_of["Kraken Futures desk"] == "kraken_futures"
    assert sum(v is not None for v in venues_of.values()) == 2, "Binance keys as before"


def test_each_new_venue_has_one_armed_whole_account_switch_within_its_rules(simulator, var_dir):
    seed(simulator)
    for label, venue in (("OKX desk", Venue.OKX), ("Kraken Futures desk", Venue.KRAKEN_FUTURES)):
        (policy,) = CountdownPolicy.objects.filter(account__label=label)
        assert policy.symbol == "", "the whole account"
        assert policy.armed and policy.generation == 1
        assert policy.countdown_ms % 1000 == 0, "whole seconds"
        assert not validation.timing_errors(policy.countdown_ms, policy.interval_s, venue=venue)
        assert not validation.symbol_format_error(policy.symbol, venue)
        budget.check_policy_fits(policy)
    okx = CountdownPolicy.objects.get(account__label="OKX desk")
    assert 10_000 <= okx.countdown_ms <= 120_000, "OKX's bounds"


def test_it_arms_a_dozen_futures_policies_two_options_underlyings_and_two_accounts_through_the_audited_path(
    simulator, var_dir
):
    seed(simulator)
    policies = CountdownPolicy.objects.all()
    assert policies.count() == 16
    futures = policies.filter(account__venue__in=[Venue.USDM, Venue.COINM])
    assert futures.count() == 12
    assert len({p.symbol for p in futures}) >= 10
    assert policies.filter(account__venue__in=[Venue.OKX, Venue.KRAKEN_FUTURES]).count() == 2
    assert all(p.armed and p.generation == 1 for p in policies)
    arms = Operation.objects.filter(action=Action.ARM)
    assert arms.count() == 16
    assert {op.username for op in arms} == {"operator"}


def test_it_adds_an_options_account_whose_switches_cover_btc_and_eth(simulator, var_dir):
    seed(simulator)
    account = ExchangeAccount.objects.get(label="Options desk")
    assert account.venue == Venue.OPTIONS
    underlyings = {p.symbol: p for p in account.policies.all()}
    assert set(underlyings) == {"BTCUSDT", "ETHUSDT"}
    for policy in underlyings.values():
        assert policy.armed
        assert policy.countdown_ms >= 5_000, "Binance Options' shortest countdown"
        assert not validation.timing_errors(policy.countdown_ms, policy.interval_s)
        assert not validation.symbol_format_error(policy.symbol, Venue.OPTIONS)


def test_it_reuses_everything_on_a_second_run(simulator, var_dir):
    seed(simulator)
    passwords = (var_dir / "demo" / "passwords.json").read_text()
    keys = {p.name: p.read_text() for p in (var_dir / "demo" / "keys").iterdir()}
    secrets_before = {a.label: (a.api_key, a.secret) for a in ExchangeAccount.objects.all()}
    disarmed = CountdownPolicy.objects.first()
    disarmed.armed = False
    disarmed.save(update_fields=["armed"])

    seed(simulator)

    assert (var_dir / "demo" / "passwords.json").read_text() == passwords
    assert {p.name: p.read_text() for p in (var_dir / "demo" / "keys").iterdir()} == keys
    assert {a.label: (a.api_key, a.secret) for a in ExchangeAccount.objects.all()} == secrets_before
    assert get_user_model().objects.count() == 4
    assert ExchangeAccount.objects.count() == 7
    assert CountdownPolicy.objects.count() == 16
    assert Operation.objects.filter(action=Action.ARM).count() == 16
    okx = ExchangeAccount.objects.get(label="OKX desk")
    assert okx.key_passphrase == (var_dir / "demo" / "keys" / "okx-desk.passphrase").read_text().strip()
    disarmed.refresh_from_db()
    assert not disarmed.armed, "a policy disarmed by someone stays disarmed"


def test_it_follows_the_simulator_to_another_port(simulator, var_dir):
    seed(simulator, url="http://127.0.0.1:1")
    seed(simulator)
    assert {a.base_url for a in ExchangeAccount.objects.all()} == {simulator.url}
    entries = json.loads((var_dir / "demo" / "simulator-accounts.json").read_text())
    assert len(entries) == 7


def test_it_places_resting_orders_once_per_simulator_start(simulator, var_dir):
    seed(simulator)
    load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json")
    assert "34 resting orders placed" in seed(simulator, "--place-orders")
    assert "0 resting orders placed" in seed(simulator, "--place-orders")
    binance_futures = [Venue.USDM, Venue.COINM]
    for policy in CountdownPolicy.objects.select_related("account").filter(
        account__venue__in=binance_futures
    ):
        orders = simulator.exchange.open_orders(policy.account.api_key, policy.symbol)
        assert len(orders) == 2, policy


def test_it_rests_orders_on_the_okx_and_kraken_futures_accounts_once(simulator, var_dir):
    seed(simulator)
    load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json")
    seed(simulator, "--place-orders")
    seed(simulator, "--place-orders")
    okx = ExchangeAccount.objects.get(label="OKX desk")
    okx_orders = simulator.exchange.okx.open_orders(okx.api_key)
    assert sorted(o["instId"] for o in okx_orders) == ["BTC-USDT-SWAP", "BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    assert all(o["state"] == "live" and o["tag"] == "" for o in okx_orders), "untagged: the account's switch"
    assert all("E" not in o["px"] for o in okx_orders), okx_orders
    kraken = ExchangeAccount.objects.get(label="Kraken Futures desk")
    kraken_orders = simulator.exchange.open_orders(kraken.api_key)
    assert sorted(o["symbol"] for o in kraken_orders) == ["PF_ETHUSD", "PF_XBTUSD", "PF_XBTUSD"]
    assert all(MARKETS[o["symbol"]].venue == KRAKEN_FUTURES for o in kraken_orders)


def test_it_rests_option_orders_under_each_options_underlying(simulator, var_dir):
    seed(simulator)
    load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json")
    seed(simulator, "--place-orders")
    seed(simulator, "--place-orders")
    account = ExchangeAccount.objects.get(label="Options desk")
    orders = simulator.exchange.open_orders(account.api_key)
    by_underlying = {}
    for order in orders:
        market = MARKETS[order["symbol"]]
        assert market.venue == OPTIONS, order["symbol"]
        by_underlying.setdefault(market.underlying, set()).add(order["symbol"])
    assert by_underlying.keys() == {"BTCUSDT", "ETHUSDT"}
    assert all(len(symbols) == 2 for symbols in by_underlying.values()), by_underlying
    assert len(orders) == 4, "one bid per option, not one more on a second run"
