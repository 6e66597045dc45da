"""A fixed cast of users (operator, viewer, key admin, outsider) and policies in every status."""

from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.domain import roles
from heartbeats.models import CountdownPolicy, EngineLiveness, Environment, ExchangeAccount, Outcome

PASSWORD = "a long test password 1"
API_KEY = "webTestApiKeyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA9Z7Q"
SECRET = "webTestSecretBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def _user(django_user_model, username, *role_names):
    user = django_user_model.objects.create_user(username=username, password=PASSWORD)
    if role_names:
        roles.grant(user, *role_names)
    return user


@pytest.fixture
def operator(db, django_user_model):
    return _user(django_user_model, "olga", roles.OPERATOR)


@pytest.fixture
def viewer(db, django_user_model):
    return _user(django_user_model, "victor", roles.VIEWER)


@pytest.fixture
def key_admin(db, django_user_model):
    return _user(django_user_model, "kim", roles.KEY_ADMIN)


@pytest.fixture
def outsider(db, django_user_model):
    return _user(django_user_model, "otto")


@pytest.fixture
def as_operator(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def as_viewer(client, viewer):
    client.force_login(viewer)
    return client


def make_account(
    label="desk-a", *, base_url="http://127.0.0.1:9", egress="default", api_key=API_KEY, **extra
):
    return ExchangeAccount.objects.create(
        label=label,
        environment=Environment.CUSTOM,
        custom_base_url=base_url,
        key_type="hmac",
        api_key=api_key,
        secret=SECRET,
        egress=egress,
        **extra,
    )


def make_policy(account, symbol, state="disarmed", *, now=None, countdown_ms=120_000, interval_s=30, **extra):
    """A policy whose stored facts make CountdownPolicy.status() say `state`."""
    now = now or timezone.now()
    facts = {}
    armed_facts = {
        "armed": True,
        "generation": 1,
        "last_arm_generation": 1,
        "last_arm_countdown_ms": countdown_ms,
        "last_arm_sent_at": now - timedelta(seconds=5),
        "last_attempt_at": now - timedelta(seconds=5),
        "last_outcome": Outcome.CONFIRMED,
    }
    if state == "armed":
        facts = armed_facts
    elif state == "late":
        facts = {**armed_facts, "last_arm_sent_at": now - timedelta(seconds=interval_s * 1.5 + 10)}
    elif state == "expired":
        facts = {**armed_facts, "last_arm_sent_at": now - timedelta(milliseconds=countdown_ms + 1000)}
    elif state == "failing":
        facts = {
            **armed_facts,
            "generation": 2,
            "fatal_generation": 2,
            "last_outcome": Outcome.FATAL,
            "last_error": "-2015 Invalid API-key, IP, or permissions for action.",
        }
    elif state == "uncertain":
        facts = {**armed_facts, "generation": 2, "last_outcome": Outcome.UNCERTAIN}
    elif state == "arming":
        facts = {"armed": True, "generation": 1}
    elif state != "disarmed":
        raise ValueError(state)
    policy = CountdownPolicy.objects.create(
        account=account, symbol=symbol, countdown_ms=countdown_ms, interval_s=interval_s, **{**facts, **extra}
    )
    assert policy.status(now).state == state, (state, policy.status(now))
    return policy


def make_engine(*, egress="default", seen_ago=None, holds_lease=True, **extra):
    """An engine's liveness record. Without `seen_ago` it is dated a minute ahead: an engine alive all through
    the test, however long a busy machine makes it (a real one writes its record every second)."""
    now = timezone.now()
    seen_ago = -60.0 if seen_ago is None else seen_ago
    return EngineLiveness.objects.create(
        engine_id=f"engine-{egress}-{holds_lease}",
        egress=egress,
        host="test-host",
        pid=1,
        started_at=now - timedelta(minutes=1),
        seen_at=now - timedelta(seconds=seen_ago),
        holds_lease=holds_lease,
        **extra,
    )


@pytest.fixture
def desk(db):
    """Two accounts and a policy in each interesting status."""
    a = make_account("desk-a")
    b = make_account("desk-b", api_key="otherKeyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC1234")
    return {
        "accounts": (a, b),
        "armed": make_policy(a, "BTCUSDT", "armed"),
        "late": make_policy(a, "ETHUSDT", "late"),
        "disarmed": make_policy(a, "SOLUSDT", "disarmed"),
        "expired": make_policy(b, "BNBUSDT", "expired"),
        "failing": make_policy(b, "XRPUSDT", "failing"),
        "uncertain": make_policy(b, "ADAUSDT", "uncertain"),
    }


@pytest.fixture
def sim_desk(db, simulator):
    """Two accounts on the simulator with countdowns really armed there, and the matching facts stored."""
    from heartbeats.domain.clients import client_for

    accounts = []
    policies = []
    for n, (label, symbols) in enumerate([("sim-a", ["BTCUSDT", "ETHUSDT"]), ("sim-b", ["SOLUSDT"])]):
        api_key = f"simKey{n}" + "Q" * 58
        simulator.exchange.add_account(api_key, "hmac", SECRET)
        account = make_account(label, base_url=simulator.url, api_key=api_key)
        accounts.append(account)
        with client_for(account) as client:
            client.sync_time()
            for symbol in symbols:
                client.countdown(symbol, 120_000)
        policies += [make_policy(account, symbol, "armed") for symbol in symbols]
    assert len(simulator.exchange.countdowns()) == 3
    return {"accounts": accounts, "policies": policies, "sim": simulator}
