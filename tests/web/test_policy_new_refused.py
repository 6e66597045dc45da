"""The add-policy page shows a refusal that comes only at save time (after the exchange checks passed) on the
form, like any other error: never a server error, and nothing written."""

import pytest
from django.urls import reverse

from heartbeats.domain import symbols
from heartbeats.forms import PolicyForm
from heartbeats.models import Action, CountdownPolicy, Operation
from tests.web.conftest import make_account, make_policy

pytestmark = pytest.mark.django_db


def test_it_shows_a_symbol_added_by_someone_else_meanwhile_as_a_form_error(client, key_admin, monkeypatch):
    account = make_account("desk-a")
    monkeypatch.setattr(symbols, "validate_symbol", lambda account, symbol: None)
    real_save = PolicyForm.save_audited

    def after_another_save(form, **kwargs):  # another key admin's save lands just before this one
        make_policy(account, "ETHUSDT")
        return real_save(form, **kwargs)

    monkeypatch.setattr(PolicyForm, "save_audited", after_another_save)
    client.force_login(key_admin)
    response = client.post(
        reverse("policy_new"),
        {"account": account.pk, "symbol": "ETHUSDT", "countdown_ms": 120_000, "interval_s": 30},
    )
    assert response.status_code == 400
    assert "desk-a already has a policy for ETHUSDT: change that one instead." in response.content.decode()
    assert CountdownPolicy.objects.filter(symbol="ETHUSDT").count() == 1
    assert not Operation.objects.filter(action=Action.POLICY_CREATE).exists()
