"""A token's row has two writers: its uses (`last_used_at`, `last_used_ip`, on API requests) and key admins
(`revoked_at`, on the API tokens page; the admin is read-only). Each writes its own columns with one
conditional UPDATE, so neither undoes the other when both commit during the same request."""

import pytest
from django.urls import reverse

from heartbeats.models import Action, Operation
from heartbeats.models.tokens import ApiToken
from tests.api.conftest import ApiClient, make_token
from tests.concurrent import commit_elsewhere, during

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_revoke_keeps_a_use_recorded_meanwhile(client, key_admin, monkeypatch):
    token, raw = make_token()
    used = {}
    load = ApiToken.objects.get

    def load_then_use(*args, **kwargs):  # the page has loaded the token; a runbook uses it now
        found = load(*args, **kwargs)
        used["response"] = commit_elsewhere(lambda: ApiClient(raw).get("status"))
        return found

    monkeypatch.setattr(ApiToken.objects, "get", load_then_use)
    client.force_login(key_admin)
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302 and used["response"].status_code == 200
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.revoked_at is not None
    assert stored.last_used_at is not None and stored.last_used_ip == "192.0.2.10"
    revoke = Operation.objects.get(action=Action.TOKEN_REVOKE)
    assert revoke.changes == {"revoked_at": [None, stored.revoked_at.isoformat()]}


def test_a_use_does_not_undo_a_revoke_committed_meanwhile(monkeypatch):
    token, raw = make_token()
    during(monkeypatch, ApiToken, "touch", lambda: ApiToken.objects.get(pk=token.pk).revoke())
    ApiClient(raw).get("status")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.revoked_at is not None
    assert stored.last_used_ip == "192.0.2.10"
    assert ApiClient(raw).get("status").status_code == 401
