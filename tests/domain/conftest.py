"""A fixed cast of users (operator, viewer, key admin, outsider, superuser), keys, and account helpers."""

import secrets
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from heartbeats.domain import roles
from heartbeats.models import CountdownPolicy, ExchangeAccount

DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
ED25519_PEM = (DATA / "ed25519-test-key.pem").read_text()
RSA_PEM = (DATA / "rsa-test-key.pem").read_text()
RSA_ENCRYPTED_PEM = (DATA / "rsa-encrypted-test-key.pem").read_text()
PASSWORD = "correct horse battery staple"


def new_hmac_secret() -> str:
    return secrets.token_hex(32)


def new_api_key() -> str:
    return secrets.token_urlsafe(48)[:64]


@pytest.fixture
def cast(django_user_model):
    """Users for permission tests. Groups come from roles.ensure_groups (a flush elsewhere may drop them)."""
    roles.ensure_groups()

    def user(name, *role_names, **extra):
        person = django_user_model.objects.create_user(name, f"{name}@example.com", PASSWORD, **extra)
        if role_names:
            roles.grant(person, *role_names)
        return django_user_model.objects.get(pk=person.pk)

    return SimpleNamespace(
        operator=user("olga", roles.OPERATOR),
        viewer=user("victor", roles.VIEWER),
        key_admin=user("karen", roles.KEY_ADMIN),
        outsider=user("oscar"),
        superuser=django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD),
    )


@pytest.fixture
def key_a():
    return Fernet.generate_key().decode()


@pytest.fixture
def key_b():
    return Fernet.generate_key().decode()


def make_account(
    label="desk-a", *, base_url="http://127.0.0.1:9", egress="default", **fields
) -> ExchangeAccount:
    """An account saved directly (no key check): for tests that do not talk to the exchange."""
    values = {
        "label": label,
        "environment": "custom",
        "custom_base_url": base_url,
        "key_type": "hmac",
        "api_key": new_api_key(),
        "secret": new_hmac_secret(),
        "egress": egress,
    }
    values.update(fields)
    return ExchangeAccount.objects.create(**values)


def make_policy(
    account, symbol="BTCUSDT", *, countdown_ms=120_000, interval_s=30, **fields
) -> CountdownPolicy:
    return CountdownPolicy.objects.create(
        account=account, symbol=symbol, countdown_ms=countdown_ms, interval_s=interval_s, **fields
    )


@pytest.fixture
def sim_key(simulator):
    """An HMAC key registered on the simulator: (api_key, secret)."""
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret)
    return api_key, secret


@pytest.fixture
def sim_account(db, simulator, sim_key):
    api_key, secret = sim_key
    return make_account("sim-usdm", base_url=simulator.url, api_key=api_key, secret=secret)


@pytest.fixture
def live_engine(db):
    """An engine holding the lease (fresh for the whole test), so actions send nothing themselves."""
    from datetime import timedelta

    from django.utils import timezone

    from heartbeats.models import EngineLiveness

    now = timezone.now()
    return EngineLiveness.objects.create(
        engine_id="engine-test",
        host="test",
        pid=1,
        started_at=now,
        seen_at=now + timedelta(hours=1),
        holds_lease=True,
    )


def account_form_data(account, **over) -> dict:
    """What the account form posts for `account` as it is stored (key fields left blank), with `over`."""
    data = {
        "label": account.label,
        "venue": account.venue,
        "environment": account.environment,
        "custom_base_url": account.custom_base_url,
        "key_type": account.key_type,
        "egress": account.egress,
        "new_api_key": "",
        "new_secret": "",
        "new_key_passphrase": "",
    }
    if account.enabled:
        data["enabled"] = "on"  # an unticked checkbox is not posted
    return {**data, **over}
