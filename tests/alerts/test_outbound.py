"""Alert channels and the healthcheck reach public addresses only: loopback, link-local (cloud metadata),
private and other non-public addresses are refused when a URL is saved, and again whenever a name is
resolved at send time (DNS may change), unless CG_ALLOW_PRIVATE_ALERT_HOSTS allows them."""

import socket

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from heartbeats.desk.alerts import delivery, monitor_ping
from heartbeats.domain import outbound
from heartbeats.models import AlertChannel

pytestmark = pytest.mark.django_db


@pytest.fixture
def public_only(settings):
    settings.ALLOW_PRIVATE_ALERT_HOSTS = False


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd00:ec2::254", "private"),
        ("100.100.100.200", "not a public address"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "not a public address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_which_addresses_are_refused(address, why):
    found = outbound.address_refusal(address)
    if why is None:
        assert found == ""
    else:
        assert found and why in found


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:8080/hook",
        "json://169.254.169.254/latest/meta-data",
        "json://[::1]/hook",
        "xml://10.0.0.5/hook",
        "json://localhost:9000/hook",
        "json://metadata.google.internal/computeMetadata",
        "mailto://user:pass@192.168.1.2?to=risk@example.com",
    ],
)
def test_a_private_url_is_refused_when_saved(public_only, client, key_admin, url):
    client.force_login(key_admin)
    response = client.post(
        reverse("alert_channel_new"), {"name": "pager", "new_url": url, "repeat_minutes": 30}
    )
    assert response.status_code == 400
    assert "public addresses only" in response.content.decode()
    assert not AlertChannel.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "json://hooks.example.com/alerts",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#risk",
        "tgram://123456789:abcdefg_hijklmnop/12345",
    ],
)
def test_public_and_service_urls_are_accepted(public_only, url):
    delivery.check_url(url)


def test_a_private_address_is_refused_at_send_time_and_nothing_reaches_it(public_only, receiver):
    delivered, why = delivery.send(receiver.url(), "title", "body")
    assert not delivered
    assert "public addresses only" in why and "loopback" in why
    assert receiver.messages == []


def test_a_name_that_resolves_to_a_private_address_later_is_refused_then(public_only, receiver, monkeypatch):
    """Saved while it pointed somewhere public; by the time of sending, the name points at this server."""
    url = f"json://alerts.example.com:{receiver.port}/hook"
    delivery.check_url(url)  # a name: nothing to refuse at saving

    def rebinding(host, port, *args, **kwargs):
        if host == "alerts.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return socket.getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(outbound, "_resolve", rebinding)
    delivered, why = delivery.send(url, "title", "body")
    assert not delivered and "loopback" in why
    assert receiver.messages == []


def test_the_guard_acts_only_while_sending(public_only, receiver):
    with outbound.public_only(), pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", receiver.port), timeout=2)
    socket.create_connection(("127.0.0.1", receiver.port), timeout=2).close()  # the engine, the database…


def test_allowed_when_the_operator_says_so(settings, receiver):
    settings.ALLOW_PRIVATE_ALERT_HOSTS = True
    delivery.check_url(receiver.url())
    assert delivery.send(receiver.url(), "title", "body") == (True, "")
    assert len(receiver.wait_for(1)) == 1


def test_the_healthcheck_url_is_checked_at_start_and_at_each_ping(public_only, settings, receiver):
    settings.HEALTHCHECK_URL = f"http://127.0.0.1:{receiver.port}/ping/abc"
    with pytest.raises(SystemCheckError, match="E011"):
        call_command("check")
    assert not monitor_ping.ping_if_healthy(settings.HEALTHCHECK_URL)
    assert receiver.messages == []
