"""An edit is checked against the exchange before it is saved; whatever was committed meanwhile (a disarm, the
engine's facts, another key admin's change) must survive the save: edits write only the columns they own."""

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from heartbeats import forms
from heartbeats.desk import actions
from heartbeats.domain import symbols
from heartbeats.forms import AccountForm, PolicyForm
from heartbeats.models import Action, CountdownPolicy, ExchangeAccount, Operation

from .conftest import account_form_data, make_account, make_policy, new_api_key, new_hmac_secret

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("live_engine")]

IP = "203.0.113.7"


@pytest.fixture
def account(db):
    return make_account("desk-a")


@pytest.fixture
def armed(cast, account):
    policy = make_policy(account, "BTCUSDT")
    actions.arm(policy.pk, user=cast.operator, ip=IP)
    return CountdownPolicy.objects.get(pk=policy.pk)


def during_exchange_check(monkeypatch, module, name, happen):
    """Run `happen()` inside the form's exchange call `module.name`: a change committed while it waits."""

    def call(*args, **kwargs):
        happen()

    monkeypatch.setattr(module, name, call)


def disarm_acknowledged(policy, user):
    """An operator's disarm, then the engine's record that the exchange acknowledged it."""
    actions.disarm(policy.pk, user=user, ip=IP)
    CountdownPolicy.objects.filter(pk=policy.pk).update(
        disarm_acked_at=timezone.now(), disarm_acked_generation=F("generation")
    )


def policy_data(policy, **over):
    data = {
        "account": policy.account_id,
        "symbol": policy.symbol,
        "countdown_ms": policy.countdown_ms,
        "interval_s": policy.interval_s,
    }
    return {**data, **over}


def refusal(form, user) -> str | None:
    """save_audited's refusal (its message), or None when it saved."""
    try:
        form.save_audited(user=user, ip=IP)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


def assert_disarm_survived(policy_id, interval_s):
    stored = CountdownPolicy.objects.get(pk=policy_id)
    disarm = Operation.objects.get(action=Action.DISARM)
    assert (stored.armed, stored.generation) == (False, disarm.targets.get().generation)
    assert stored.desired_changed_at is not None and stored.desired_changed_at <= disarm.at
    assert stored.disarm_acked_generation == stored.generation
    assert stored.interval_s == interval_s
    return stored


# Policies ---------------------------------------------------------------------------------------------


def test_a_policy_edit_keeps_a_disarm_committed_during_the_symbol_check(cast, armed, monkeypatch):
    during_exchange_check(
        monkeypatch, symbols, "validate_symbol", lambda: disarm_acknowledged(armed, cast.operator)
    )
    form = PolicyForm(policy_data(armed, interval_s=20), instance=armed)
    assert form.is_valid(), form.errors
    disarmed_at = CountdownPolicy.objects.get(pk=armed.pk).desired_changed_at
    form.save_audited(user=cast.key_admin, ip=IP)
    stored = assert_disarm_survived(armed.pk, 20)
    assert stored.desired_changed_at == disarmed_at
    # The audit trail says what the edit changed, and only that.
    assert Operation.objects.get(action=Action.POLICY_CHANGE).changes == {"interval_s": [30, 20]}


def test_a_policy_edit_in_the_admin_keeps_a_disarm_committed_meanwhile(client, cast, armed, monkeypatch):
    during_exchange_check(
        monkeypatch, symbols, "validate_symbol", lambda: disarm_acknowledged(armed, cast.operator)
    )
    client.force_login(cast.key_admin)
    response = client.post(
        reverse("admin:heartbeats_countdownpolicy_change", args=[armed.pk]), policy_data(armed, interval_s=20)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert_disarm_survived(armed.pk, 20)
    assert Operation.objects.get(action=Action.POLICY_CHANGE).changes == {"interval_s": [30, 20]}


def test_a_policy_edit_keeps_the_engine_facts_written_meanwhile(cast, armed, monkeypatch):
    during_exchange_check(monkeypatch, symbols, "validate_symbol", lambda: None)
    form = PolicyForm(policy_data(armed, countdown_ms=100_000), instance=armed)
    assert form.is_valid(), form.errors
    sent = timezone.now()
    CountdownPolicy.objects.filter(pk=armed.pk).update(
        last_arm_sent_at=sent, last_arm_countdown_ms=120_000, last_arm_generation=1, last_outcome="confirmed"
    )
    form.save_audited(user=cast.key_admin, ip=IP)
    stored = CountdownPolicy.objects.get(pk=armed.pk)
    assert (stored.last_arm_sent_at, stored.last_arm_generation, stored.last_outcome) == (
        sent,
        1,
        "confirmed",
    )
    assert stored.countdown_ms == 100_000


def test_a_policy_armed_during_the_check_is_not_moved_to_another_symbol(cast, account, monkeypatch):
    policy = make_policy(account, "BTCUSDT")
    arm = lambda: actions.arm(policy.pk, user=cast.operator, ip=IP)  # noqa: E731
    during_exchange_check(monkeypatch, symbols, "validate_symbol", arm)
    form = PolicyForm(policy_data(policy, symbol="ETHUSDT"), instance=policy)
    assert form.is_valid(), form.errors
    message = refusal(form, cast.key_admin)
    stored = CountdownPolicy.objects.get(pk=policy.pk)
    assert (stored.symbol, stored.armed) == ("BTCUSDT", True)
    assert "Disarm BTCUSDT before changing its symbol or account" in message
    assert not Operation.objects.filter(action=Action.POLICY_CHANGE).exists()


def test_the_admin_shows_a_refused_move_as_a_form_error(client, cast, account, monkeypatch):
    policy = make_policy(account, "BTCUSDT")
    arm = lambda: actions.arm(policy.pk, user=cast.operator, ip=IP)  # noqa: E731
    during_exchange_check(monkeypatch, symbols, "validate_symbol", arm)
    client.force_login(cast.key_admin)
    response = client.post(
        reverse("admin:heartbeats_countdownpolicy_change", args=[policy.pk]),
        policy_data(policy, symbol="ETHUSDT"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Disarm BTCUSDT before changing its symbol or account" in html
    assert 'value="ETHUSDT"' in html  # the posted form again, not a fresh one
    assert CountdownPolicy.objects.get(pk=policy.pk).symbol == "BTCUSDT"


def test_a_new_policy_for_a_symbol_taken_meanwhile_is_refused_with_a_form_error(cast, account, monkeypatch):
    during_exchange_check(monkeypatch, symbols, "validate_symbol", lambda: None)
    form = PolicyForm({"account": account.pk, "symbol": "ETHUSDT", "countdown_ms": 120_000, "interval_s": 30})
    assert form.is_valid(), form.errors
    make_policy(account, "ETHUSDT")  # another key admin's, saved after this form's checks
    assert (
        refusal(form, cast.key_admin) == "desk-a already has a policy for ETHUSDT: change that one instead."
    )
    assert CountdownPolicy.objects.filter(symbol="ETHUSDT").count() == 1


# Accounts ---------------------------------------------------------------------------------------------


def test_an_account_edit_does_not_undo_a_disable_committed_meanwhile(cast, account):
    form = AccountForm(account_form_data(account, label="desk-renamed"), instance=account)
    assert form.is_valid(), form.errors
    ExchangeAccount.objects.filter(pk=account.pk).update(enabled=False)  # another key admin's edit
    message = refusal(form, cast.key_admin)
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert stored.enabled is False
    assert stored.label == "desk-a"
    assert "desk-a was changed by someone else while this form was being checked (Enabled)" in message
    assert not Operation.objects.filter(action=Action.ACCOUNT_CHANGE).exists()


def test_an_account_edit_does_not_undo_a_key_rotation_committed_meanwhile(cast, account):
    form = AccountForm(account_form_data(account, label="desk-renamed"), instance=account)
    assert form.is_valid(), form.errors
    rotated = ExchangeAccount.objects.get(pk=account.pk)
    rotated.api_key, rotated.secret = new_api_key(), new_hmac_secret()
    rotated.save()
    message = refusal(form, cast.key_admin)
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert (stored.api_key, stored.secret) == (rotated.api_key, rotated.secret)
    assert stored.api_key_last4 == rotated.api_key[-4:]
    assert "(API key)" in message


def test_an_account_renamed_to_a_label_taken_meanwhile_is_refused_with_a_form_error(cast, account):
    form = AccountForm(account_form_data(account, label="desk-b"), instance=account)
    assert form.is_valid(), form.errors
    make_account("desk-b")  # another key admin's, saved after this form's checks
    assert refusal(form, cast.key_admin) == "An account named desk-b already exists."
    assert ExchangeAccount.objects.get(pk=account.pk).label == "desk-a"


def test_an_account_edit_writes_its_own_fields_and_the_audit_trail(cast, account):
    form = AccountForm(account_form_data(account, label="desk-renamed", egress="second-ip"), instance=account)
    assert form.is_valid(), form.errors
    assert refusal(form, cast.key_admin) is None
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert (stored.label, stored.egress, stored.api_key) == ("desk-renamed", "second-ip", account.api_key)
    change = Operation.objects.get(action=Action.ACCOUNT_CHANGE)
    assert change.changes == {"label": ["desk-a", "desk-renamed"], "egress": ["default", "second-ip"]}


def test_the_admin_shows_an_account_changed_meanwhile_as_a_form_error(client, cast, account, monkeypatch):
    # A changed base URL is checked against the exchange again: another key admin disables it meanwhile.
    disable = lambda: ExchangeAccount.objects.filter(pk=account.pk).update(enabled=False)  # noqa: E731
    during_exchange_check(monkeypatch, forms, "check_key", disable)
    client.force_login(cast.key_admin)
    response = client.post(
        reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk]),
        account_form_data(account, custom_base_url="http://127.0.0.1:8"),
    )
    assert response.status_code == 200
    assert "was changed by someone else while this form was being checked" in response.content.decode()
    stored = ExchangeAccount.objects.get(pk=account.pk)
    assert (stored.enabled, stored.custom_base_url) == (False, "http://127.0.0.1:9")


def test_the_admin_add_form_shows_a_symbol_taken_meanwhile_as_a_form_error(
    client, cast, account, monkeypatch
):
    during_exchange_check(monkeypatch, symbols, "validate_symbol", lambda: None)
    real_save = PolicyForm.save_audited

    def after_another_save(form, **kwargs):  # another key admin's save lands just before this one
        make_policy(account, "ETHUSDT")
        return real_save(form, **kwargs)

    monkeypatch.setattr(PolicyForm, "save_audited", after_another_save)
    client.force_login(cast.key_admin)
    response = client.post(
        reverse("admin:heartbeats_countdownpolicy_add"),
        {"account": account.pk, "symbol": "ETHUSDT", "countdown_ms": 120_000, "interval_s": 30},
    )
    assert response.status_code == 200
    assert "desk-a already has a policy for ETHUSDT: change that one instead." in response.content.decode()
    assert CountdownPolicy.objects.filter(symbol="ETHUSDT").count() == 1
    assert not Operation.objects.filter(action=Action.POLICY_CREATE).exists()
