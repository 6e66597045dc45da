"""Tokens of each role, a client that sends one, and the web tests' cast of people and policies."""

import pytest
from django.test import Client

from heartbeats.models.tokens import ApiToken
from tests.web.conftest import desk, key_admin, operator, outsider, sim_desk, viewer  # noqa: F401

API = "/api/v1/"


def make_token(name="runbook", role="operator", addresses=(), created_by=None) -> tuple[ApiToken, str]:
    return ApiToken.issue(name=name, role=role, allowed_addresses=list(addresses), created_by=created_by)


class ApiClient:
    """Django's test client with the bearer token on every request, CSRF checks enforced (as a browser's
    would be), and a default source address."""

    def __init__(self, raw: str | None, address="192.0.2.10"):
        self.client = Client(enforce_csrf_checks=True)
        self.raw = raw
        self.address = address

    def _headers(self, extra):
        headers = {"REMOTE_ADDR": extra.pop("REMOTE_ADDR", self.address)}
        if self.raw is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.raw}"
        return {**headers, **extra}

    def get(self, path, data=None, **extra):
        return self.client.get(API + path, data, **self._headers(extra))

    def post(self, path, body=None, **extra):
        return self.client.post(
            API + path, body or {}, content_type="application/json", **self._headers(extra)
        )


@pytest.fixture
def operator_token(db):
    token, raw = make_token("incident runbook", "operator")
    return token, ApiClient(raw)


@pytest.fixture
def viewer_token(db):
    token, raw = make_token("status bot", "viewer")
    return token, ApiClient(raw)
