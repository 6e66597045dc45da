"""A channel's form (the Alerts page and the admin) writes what it shows, under a lock on the channel's row:
another key admin's change committed while the form's request is in progress is either kept (a URL the
form leaves alone) or makes the form refuse with nothing saved (a setting the form also writes)."""

import pytest
from django.test import Client
from django.urls import reverse

from heartbeats.domain import roles
from heartbeats.forms.alerts import ChannelForm
from heartbeats.models import Action, ExchangeAccount, Operation
from heartbeats.models.alerts import AlertChannel
from tests.alerts.conftest import make_channel
from tests.concurrent import during
from tests.web.conftest import make_account

pytestmark = pytest.mark.django_db(transaction=True)

OLD_URL = "json://127.0.0.1:9/old?token=OLDtoken12345"
NEW_URL = "json://127.0.0.1:9/new?token=NEWtoken67890"
REFUSED = "desk pager was changed by someone else while this form was being checked ({}). Nothing was saved"


@pytest.fixture
def as_key_admin(client, key_admin):
    client.force_login(key_admin)
    return client


@pytest.fixture
def other_admin(django_user_model):
    """Another key admin, changing the same channel at the same time."""
    user = django_user_model.objects.create_user(username="kate", password="a long test password 3")
    roles.grant(user, roles.KEY_ADMIN)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "a long test password 4")


def form_data(channel, **over) -> dict:
    """What the channel's form posts for `channel` as it is stored (URL left blank), with `over`."""
    data = {
        "name": channel.name,
        "new_url": "",
        "events": list(channel.events),
        "accounts": list(channel.accounts.values_list("pk", flat=True)),
        "repeat_minutes": channel.repeat_minutes,
    }
    if channel.enabled:
        data["enabled"] = "on"  # an unticked checkbox is not posted
    return {**data, **over}


def meanwhile(monkeypatch, write):
    """`write()` commits from another connection while the form is being checked."""
    during(monkeypatch, ChannelForm, "clean", write)


def page_edit(client, channel, **over):
    return client.post(reverse("alert_channel", args=[channel.pk]), form_data(channel, **over))


def admin_edit(client, channel, **over):
    return client.post(
        reverse("admin:heartbeats_alertchannel_change", args=[channel.pk]), form_data(channel, **over)
    )


def changes() -> list[tuple[str, dict]]:
    changed = Operation.objects.filter(action=Action.CHANNEL_CHANGE).order_by("id")
    return [(op.username, op.changes) for op in changed]


def test_a_page_edit_keeps_a_url_replaced_meanwhile(as_key_admin, other_admin, monkeypatch):
    channel = make_channel(OLD_URL)
    meanwhile(monkeypatch, lambda: page_edit(other_admin, channel, new_url=NEW_URL))
    response = page_edit(as_key_admin, channel, repeat_minutes=5)
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = AlertChannel.objects.get(pk=channel.pk)
    assert (stored.url, stored.repeat_minutes) == (NEW_URL, 5)
    assert changes() == [
        ("kate", {"url": [None, "json://… (replaced)"]}),
        ("kim", {"repeat_minutes": [30, 5]}),
    ]


def test_a_page_edit_is_refused_when_the_channel_was_disabled_meanwhile(
    as_key_admin, other_admin, monkeypatch
):
    channel = make_channel(OLD_URL)
    meanwhile(monkeypatch, lambda: page_edit(other_admin, channel, enabled=""))
    response = page_edit(as_key_admin, channel, name="desk pager 2")
    assert response.status_code == 400
    assert REFUSED.format("Enabled") in response.content.decode()
    stored = AlertChannel.objects.get(pk=channel.pk)
    assert (stored.name, stored.enabled) == ("desk pager", False)
    assert changes() == [("kate", {"enabled": [True, False]})]


def test_a_page_edit_is_refused_when_the_accounts_changed_meanwhile(as_key_admin, other_admin, monkeypatch):
    account = make_account()
    channel = make_channel(OLD_URL)
    meanwhile(monkeypatch, lambda: page_edit(other_admin, channel, accounts=[account.pk]))
    response = page_edit(as_key_admin, channel, repeat_minutes=5)
    assert response.status_code == 400
    assert REFUSED.format("Accounts") in response.content.decode()
    stored = AlertChannel.objects.get(pk=channel.pk)
    assert (list(stored.accounts.all()), stored.repeat_minutes) == ([account], 30)
    assert changes() == [("kate", {"accounts": [[], ["desk-a"]]})]


def test_an_admin_edit_keeps_a_url_replaced_meanwhile(client, superuser, other_admin, monkeypatch):
    channel = make_channel(OLD_URL)
    meanwhile(monkeypatch, lambda: page_edit(other_admin, channel, new_url=NEW_URL))
    client.force_login(superuser)
    response = admin_edit(client, channel, events=["engine_down"])
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = AlertChannel.objects.get(pk=channel.pk)
    assert (stored.url, stored.events) == (NEW_URL, ["engine_down"])
    assert changes()[-1] == ("root", {"events": [[], ["engine_down"]]})


def test_an_admin_edit_shows_a_channel_disabled_meanwhile_as_a_form_error(
    client, superuser, other_admin, monkeypatch
):
    channel = make_channel(OLD_URL)
    meanwhile(monkeypatch, lambda: page_edit(other_admin, channel, enabled=""))
    client.force_login(superuser)
    response = admin_edit(client, channel, repeat_minutes=5)
    assert response.status_code == 200
    assert REFUSED.format("Enabled") in response.content.decode()
    stored = AlertChannel.objects.get(pk=channel.pk)
    assert (stored.enabled, stored.repeat_minutes) == (False, 30)
    assert changes() == [("kate", {"enabled": [True, False]})]


def test_a_new_channel_for_an_account_deleted_meanwhile_is_refused_with_a_form_error(
    as_key_admin, monkeypatch
):
    account = make_account()
    meanwhile(monkeypatch, lambda: ExchangeAccount.objects.filter(pk=account.pk).delete())
    response = as_key_admin.post(
        reverse("alert_channel_new"),
        {"name": "desk pager", "new_url": OLD_URL, "accounts": [account.pk], "repeat_minutes": 30},
    )
    assert response.status_code == 400
    assert "An account chosen was deleted while this form was being checked. Nothing was saved" in (
        response.content.decode()
    )
    assert not AlertChannel.objects.exists()
    assert not Operation.objects.filter(action=Action.CHANNEL_CREATE).exists()
