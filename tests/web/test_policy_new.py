import pytest
from django.urls import reverse

from heartbeats.models import Action, CountdownPolicy, Operation
from tests.web.conftest import SECRET, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim_account(simulator):
    api_key = "newPolicyKey" + "P" * 52
    simulator.exchange.add_account(api_key, "hmac", SECRET)
    return make_account("sim-new", base_url=simulator.url, api_key=api_key)


def _post(client, account, symbol="BTCUSDT", countdown_ms=120_000, interval_s=30):
    return client.post(
        reverse("policy_new"),
        {"account": account.pk, "symbol": symbol, "countdown_ms": countdown_ms, "interval_s": interval_s},
    )


def test_it_lets_a_key_admin_add_a_disarmed_policy(client, key_admin, sim_account):
    client.force_login(key_admin)
    assert client.get(reverse("policy_new")).status_code == 200
    response = _post(client, sim_account)
    policy = CountdownPolicy.objects.get()
    assert response.status_code == 302 and response.url == reverse("policy", args=[policy.pk])
    assert (policy.symbol, policy.armed) == ("BTCUSDT", False)
    assert Operation.objects.filter(action=Action.POLICY_CREATE, user=key_admin).exists()


@pytest.mark.parametrize("symbol", ["NOPEUSDT", "LUNAUSDT"])
def test_it_refuses_a_symbol_the_exchange_does_not_trade(client, key_admin, sim_account, symbol):
    client.force_login(key_admin)
    response = _post(client, sim_account, symbol=symbol)
    assert response.status_code == 400
    assert 'class="form-error"' in response.content.decode()
    assert not CountdownPolicy.objects.exists()


def test_it_explains_a_countdown_too_short_for_its_interval(client, key_admin, sim_account):
    client.force_login(key_admin)
    response = _post(client, sim_account, countdown_ms=5000, interval_s=30)
    assert response.status_code == 400
    assert not CountdownPolicy.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_it_refuses_everyone_else(client, who, request, sim_account):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("policy_new")).status_code == 403
    assert _post(client, sim_account).status_code == 403
    assert not CountdownPolicy.objects.exists()


def test_it_shows_the_link_only_to_key_admins(client, key_admin, viewer):
    client.force_login(key_admin)
    assert reverse("policy_new") in client.get(reverse("board")).content.decode()
    client.force_login(viewer)
    assert reverse("policy_new") not in client.get(reverse("board")).content.decode()
