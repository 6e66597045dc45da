"""Disabling an account stops its heartbeats without a disarm: the exchange would cancel the orders of every
armed policy at expiry. That is an operator's decision, so a key admin may disable an account only once none
of its policies is armed or still owes a disarm."""

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from heartbeats import forms
from heartbeats.desk import actions
from heartbeats.forms import AccountForm
from heartbeats.models import Action, CountdownPolicy, ExchangeAccount, Operation

from .conftest import account_form_data, make_account, make_policy

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("live_engine")]

IP = "203.0.113.8"
REFUSED = (
    "Disarm BTCUSDT, ETHUSDT of desk-a first: disabling the account would stop their heartbeats and the "
    "exchange would cancel their orders."
)


@pytest.fixture
def account(db):
    return make_account("desk-a")


def arm(policy, user):
    actions.arm(policy.pk, user=user, ip=IP)


def acknowledge_disarm(policy):
    CountdownPolicy.objects.filter(pk=policy.pk).update(
        disarm_acked_at=timezone.now(), disarm_acked_generation=F("generation")
    )


def disabling(account, **over):
    """The account form with `enabled` unticked (unless `over` ticks it)."""
    data = {k: v for k, v in account_form_data(account).items() if k != "enabled"}
    data.update(over)
    return AccountForm(data, instance=ExchangeAccount.objects.get(pk=account.pk))


def enabled(account) -> bool:
    return ExchangeAccount.objects.get(pk=account.pk).enabled


def test_it_refuses_to_disable_an_account_with_armed_or_disarming_policies(cast, account):
    arm(make_policy(account, "ETHUSDT"), cast.operator)
    disarming = make_policy(account, "BTCUSDT")
    arm(disarming, cast.operator)
    actions.disarm(disarming.pk, user=cast.operator, ip=IP)  # not acknowledged by the exchange yet
    make_policy(account, "SOLUSDT")  # never armed: no countdown to protect
    form = disabling(account)
    assert not form.is_valid()
    assert form.errors["enabled"] == [REFUSED]
    assert enabled(account)


def test_it_names_the_one_policy_in_the_singular(cast, account):
    arm(make_policy(account, "BTCUSDT"), cast.operator)
    form = disabling(account)
    assert not form.is_valid()
    assert form.errors["enabled"] == [
        "Disarm BTCUSDT of desk-a first: disabling the account would stop its heartbeats and the exchange "
        "would cancel its orders."
    ]


def test_it_lets_a_key_admin_disable_once_every_disarm_is_acknowledged(cast, account):
    policy = make_policy(account, "BTCUSDT")
    arm(policy, cast.operator)
    actions.disarm(policy.pk, user=cast.operator, ip=IP)
    assert not disabling(account).is_valid()
    acknowledge_disarm(policy)
    form = disabling(account)
    assert form.is_valid(), form.errors
    form.save_audited(user=cast.key_admin, ip=IP)
    assert not enabled(account)
    assert Operation.objects.get(action=Action.ACCOUNT_CHANGE).changes == {"enabled": [True, False]}


def test_it_refuses_at_save_time_when_a_policy_was_armed_after_validation(cast, account):
    policies = [make_policy(account, "BTCUSDT"), make_policy(account, "ETHUSDT")]
    form = disabling(account)
    assert form.is_valid(), form.errors
    for policy in policies:
        arm(policy, cast.operator)
    with pytest.raises(ValidationError) as refused:
        form.save_audited(user=cast.key_admin, ip=IP)
    assert refused.value.message_dict == {"enabled": [REFUSED]}
    assert enabled(account)
    assert not Operation.objects.filter(action=Action.ACCOUNT_CHANGE).exists()


def test_the_admin_refuses_to_disable_with_a_form_error(client, cast, account):
    arm(make_policy(account, "BTCUSDT"), cast.operator)
    arm(make_policy(account, "ETHUSDT"), cast.operator)
    client.force_login(cast.key_admin)
    url = reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk])
    response = client.post(url, disabling(account).data)
    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert enabled(account)


def test_the_admin_shows_a_save_time_refusal_as_a_form_error(client, cast, account, monkeypatch):
    policy = make_policy(account, "BTCUSDT")
    real_signer_for = forms.signer_for

    def arm_meanwhile(instance):  # runs after clean() found nothing armed
        arm(policy, cast.operator)
        return real_signer_for(instance)

    monkeypatch.setattr(forms, "signer_for", arm_meanwhile)
    client.force_login(cast.key_admin)
    url = reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk])
    response = client.post(url, disabling(account).data)
    assert response.status_code == 200
    assert "Disarm BTCUSDT of desk-a first" in response.content.decode()
    assert enabled(account)
    assert CountdownPolicy.objects.get(pk=policy.pk).armed


def test_it_still_lets_other_edits_of_an_account_with_armed_policies_through(cast, account):
    arm(make_policy(account, "BTCUSDT"), cast.operator)
    form = disabling(account, label="desk-renamed", enabled="on")
    assert form.is_valid(), form.errors
    form.save_audited(user=cast.key_admin, ip=IP)
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert (stored.label, stored.enabled) == ("desk-renamed", True)
