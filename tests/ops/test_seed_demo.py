"""seed_demo: the demo's users, simulator accounts with working keys of every type (futures and options),
armed policies and resting orders; a second run reuses everything."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from heartbeats.domain import clients, roles, validation
from heartbeats.models import Action, CountdownPolicy, Environment, ExchangeAccount, Operation, Venue
from simulator.cli import load_accounts
from simulator.symbols import MARKETS, OPTIONS

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
    assert load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json") == 5
    demo_accounts = ExchangeAccount.objects.all()
    assert {a.key_type for a in demo_accounts} == {"hmac", "ed25519", "rsa"}
    assert {a.venue for a in demo_accounts} == {"usdm", "coinm", "options"}
    for account in demo_accounts:
        assert account.environment == Environment.CUSTOM
        assert account.base_url == simulator.url
        clients.check_key(account)  # a signed request the simulator accepts
    options_desk = ExchangeAccount.objects.get(label="Options desk")
    assert simulator.exchange.account(options_desk.api_key).options, "the key may use /eapi"


def test_it_arms_a_dozen_futures_policies_and_two_options_underlyings_through_the_audited_path(
    simulator, var_dir
):
    seed(simulator)
    policies = CountdownPolicy.objects.all()
    assert policies.count() == 14
    futures = policies.exclude(account__venue=Venue.OPTIONS)
    assert futures.count() == 12
    assert len({p.symbol for p in futures}) >= 10
    assert all(p.armed and p.generation == 1 for p in policies)
    arms = Operation.objects.filter(action=Action.ARM)
    assert arms.count() == 14
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
    assert ExchangeAccount.objects.count() == 5
    assert CountdownPolicy.objects.count() == 14
    assert Operation.objects.filter(action=Action.ARM).count() == 14
    disarmed.refresh_from_db()
    assert not disarmed.armed, "a policy disarmed by someone stays disarmed"


def test_it_follows_the_simulator_to_another_port(simulator, var_dir):
    seed(simulator, url="http://127.0.0.1:1")
    seed(simulator)
    assert {a.base_url for a in ExchangeAccount.objects.all()} == {simulator.url}
    entries = json.loads((var_dir / "demo" / "simulator-accounts.json").read_text())
    assert len(entries) == 5


def test_it_places_resting_orders_once_per_simulator_start(simulator, var_dir):
    seed(simulator)
    load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json")
    assert "28 resting orders placed" in seed(simulator, "--place-orders")
    assert "0 resting orders placed" in seed(simulator, "--place-orders")
    for policy in CountdownPolicy.objects.select_related("account").exclude(account__venue=Venue.OPTIONS):
        orders = simulator.exchange.open_orders(policy.account.api_key, policy.symbol)
        assert len(orders) == 2, policy


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
