"""seed_demo: the demo's users, simulator accounts with working keys of every type, armed policies and
resting orders; a second run reuses everything."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings

from heartbeats.domain import clients, roles
from heartbeats.models import Action, CountdownPolicy, Environment, ExchangeAccount, Operation
from simulator.cli import load_accounts

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
    assert load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json") == 4
    demo_accounts = ExchangeAccount.objects.all()
    assert {a.key_type for a in demo_accounts} == {"hmac", "ed25519", "rsa"}
    assert {a.venue for a in demo_accounts} == {"usdm", "coinm"}
    for account in demo_accounts:
        assert account.environment == Environment.CUSTOM
        assert account.base_url == simulator.url
        clients.check_key(account)  # a signed request the simulator accepts


def test_it_arms_a_dozen_policies_through_the_audited_path(simulator, var_dir):
    seed(simulator)
    policies = CountdownPolicy.objects.all()
    assert policies.count() == 12
    assert len({p.symbol for p in policies}) >= 10
    assert all(p.armed and p.generation == 1 for p in policies)
    arms = Operation.objects.filter(action=Action.ARM)
    assert arms.count() == 12
    assert {op.username for op in arms} == {"operator"}


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
    assert CountdownPolicy.objects.count() == 12
    assert Operation.objects.filter(action=Action.ARM).count() == 12
    disarmed.refresh_from_db()
    assert not disarmed.armed, "a policy disarmed by someone stays disarmed"


def test_it_follows_the_simulator_to_another_port(simulator, var_dir):
    seed(simulator, url="http://127.0.0.1:1")
    seed(simulator)
    assert {a.base_url for a in ExchangeAccount.objects.all()} == {simulator.url}
    entries = json.loads((var_dir / "demo" / "simulator-accounts.json").read_text())
    assert len(entries) == 4


def test_it_places_resting_orders_once_per_simulator_start(simulator, var_dir):
    seed(simulator)
    load_accounts(simulator, var_dir / "demo" / "simulator-accounts.json")
    assert "24 resting orders placed" in seed(simulator, "--place-orders")
    assert "0 resting orders placed" in seed(simulator, "--place-orders")
    for policy in CountdownPolicy.objects.select_related("account"):
        orders = simulator.exchange.open_orders(policy.account.api_key, policy.symbol)
        assert len(orders) == 2, policy
