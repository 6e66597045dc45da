"""Behind the proxy, forwarded headers count only from the proxy (CG_FORWARDED_ALLOW_IPS, or a unix socket's
peer): a process talking to the web server directly can neither claim https nor another client address for
the audit trail and the sign-in lockout."""

import pytest
from django.urls import reverse

from heartbeats.models import Action, Operation
from tests.web.conftest import PASSWORD

PROXY = "192.0.2.80"


@pytest.fixture
def behind_proxy(settings):
    settings.BEHIND_PROXY = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.FORWARDED_ALLOW_IPS = [f"{PROXY}/32"]
    settings.TRUSTED_PROXY_COUNT = 1


def _sign_in(client, user, peer):
    client.post(
        reverse("login"),
        {"username": user.get_username(), "password": PASSWORD},
        REMOTE_ADDR=peer,
        HTTP_X_FORWARDED_FOR="203.0.113.9",
        HTTP_X_FORWARDED_PROTO="https",
    )
    return Operation.objects.filter(action=Action.SIGN_IN).latest("id").ip


def test_the_proxy_is_believed(behind_proxy, client, viewer):
    assert _sign_in(client, viewer, PROXY) == "203.0.113.9"


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "10.0.0.7"])
def test_anyone_else_is_not(behind_proxy, client, viewer, peer):
    assert _sign_in(client, viewer, peer) == peer


def test_a_unix_socket_peer_is_the_proxy_on_this_host(behind_proxy, client, viewer):
    assert _sign_in(client, viewer, "") == "203.0.113.9"


def test_https_is_believed_from_the_proxy_only(behind_proxy, client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    headers = {"HTTP_X_FORWARDED_PROTO": "https"}
    assert client.get(reverse("login"), REMOTE_ADDR=PROXY, **headers).status_code == 200
    assert client.get(reverse("login"), REMOTE_ADDR="127.0.0.1", **headers).status_code == 301
