"""Who the API answers: a known, unrevoked token from an allowed address; 401 or 403 JSON otherwise. No
session, no CSRF token and no second factor take part."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from heartbeats.models.tokens import ApiToken
from tests.api.conftest import make_token
from tests.web.conftest import make_account, make_policy

pytestmark = pytest.mark.django_db


class TestUnauthenticated:
    @pytest.mark.parametrize(
        ("header", "message"),
        [
            (None, "Send an API token"),
            ("Basic dXNlcjpwYXNz", "Send an API token"),
            ("Bearer ", "Send an API token"),
            ("Bearer garbage", "Unknown API token."),
            ("Bearer cg_" + "A" * 43, "Unknown API token."),
            ("Bearer cg_" + "A" * 5000, "Unknown API token."),
        ],
    )
    def test_a_missing_or_unknown_token_is_a_401(self, operator_token, header, message):
        client = Client()
        extra = {"HTTP_AUTHORIZATION": header} if header else {}
        response = client.get("/api/v1/status", **extra)
        assert response.status_code == 401
        assert message in response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_a_revoked_token_is_a_401_and_changes_nothing(self, operator_token):
        token, api = operator_token
        policy = make_policy(make_account(), "BTCUSDT", "armed")
        assert token.revoke()
        response = api.post(f"policies/{policy.pk}/disarm", {"reason": "incident"})
        assert response.status_code == 401
        assert response.json() == {"detail": "This API token has been revoked."}
        policy.refresh_from_db()
        assert policy.armed and policy.generation == 1

    def test_a_session_is_no_substitute_for_a_token(self, client, operator):
        client.force_login(operator)
        assert client.get("/api/v1/status").status_code == 401


class TestTokens:
    def test_only_the_hash_is_stored(self, db):
        token, raw = make_token()
        assert raw.startswith("cg_") and len(raw) >= 40
        stored = ApiToken.objects.filter(pk=token.pk).values().get()
        assert not any(raw in str(value) for value in stored.values())
        assert stored["token_hash"] != raw and len(stored["token_hash"]) == 64
        assert token.masked == f"cg_…{raw[-4:]}"

    def test_last_use_is_recorded_at_most_every_few_seconds(
        self, viewer_token, django_assert_max_num_queries
    ):
        token, api = viewer_token
        assert api.get("status").status_code == 200
        token.refresh_from_db()
        first = token.last_used_at
        assert first is not None and token.last_used_ip == "192.0.2.10"
        assert api.get("status", REMOTE_ADDR="192.0.2.11").status_code == 200
        token.refresh_from_db()
        assert (token.last_used_at, token.last_used_ip) == (first, "192.0.2.10")
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(seconds=11))
        assert api.get("status", REMOTE_ADDR="192.0.2.11").status_code == 200
        token.refresh_from_db()
        assert token.last_used_at > first and token.last_used_ip == "192.0.2.11"

    def test_a_recent_use_costs_no_write(self, viewer_token, django_assert_num_queries):
        token, _ = viewer_token
        token.touch("192.0.2.1")
        with django_assert_num_queries(0):
            token.touch("192.0.2.1")


class TestNoSessionMachinery:
    def test_csrf_is_not_asked_of_token_requests(self, operator_token):
        _, api = operator_token  # its client enforces CSRF checks, as a browser's would
        policy = make_policy(make_account(), "BTCUSDT", "armed")
        assert api.post(f"policies/{policy.pk}/disarm", {"reason": "incident"}).status_code == 202

    def test_a_session_owing_its_second_factor_is_not_redirected(self, settings, operator_token, operator):
        settings.REQUIRE_2FA = True
        _, api = operator_token
        api.client.force_login(operator)  # signed in with the password only: the pages send it to enrol
        assert api.client.get("/").status_code == 302
        response = api.get("status")
        assert response.status_code == 200 and "policies" in response.json()
