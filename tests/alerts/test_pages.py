"""The Alerts page and the channel forms: who may do what, the URL never shown again, every change audited,
bad input refused with nothing saved."""

import pytest
from django.urls import reverse

from heartbeats.models import Action, Operation
from heartbeats.models.alerts import AlertChannel, AlertEvent, Notification
from tests.alerts.conftest import make_channel
from tests.web.conftest import make_account

pytestmark = pytest.mark.django_db
TOKEN = "xoxbSECRETtoken98765"


@pytest.fixture
def as_key_admin(client, key_admin):
    client.force_login(key_admin)
    return client


def test_a_key_admin_adds_a_channel_and_never_sees_its_url_again(as_key_admin, receiver):
    account = make_account()
    url = receiver.url(token=TOKEN)
    response = as_key_admin.post(
        reverse("alert_channel_new"),
        {
            "name": "desk webhook",
            "new_url": url,
            "enabled": "on",
            "events": [AlertEvent.POLICY_FAILING, AlertEvent.ENGINE_DOWN],
            "accounts": [account.pk],
            "repeat_minutes": "15",
        },
    )
    assert response.status_code == 302
    channel = AlertChannel.objects.get()
    assert channel.url == url and channel.url_hint == "json://…"
    assert channel.events == [AlertEvent.POLICY_FAILING, AlertEvent.ENGINE_DOWN]
    assert list(channel.accounts.all()) == [account]
    op = Operation.objects.get(action=Action.CHANNEL_CREATE)
    assert TOKEN not in str(op.changes) and op.changes["url"] == [None, "json://…"]
    for page in (reverse("alerts"), reverse("alert_channel", args=[channel.pk])):
        body = as_key_admin.get(page).content.decode()
        assert "desk webhook" in body and TOKEN not in body and str(receiver.port) not in body

    # Edit without a URL keeps the stored one; the audit names what changed.
    response = as_key_admin.post(
        reverse("alert_channel", args=[channel.pk]),
        {"name": "desk webhook", "new_url": "", "enabled": "on", "repeat_minutes": "0"},
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.url == url and channel.repeat_minutes == 0 and channel.events == []
    change = Operation.objects.get(action=Action.CHANNEL_CHANGE)
    assert change.changes["repeat_minutes"] == [15, 0] and "url" not in change.changes


def test_bad_input_is_refused_with_nothing_saved(as_key_admin):
    cases = [
        ({"name": "x", "new_url": "nonsense://nowhere", "repeat_minutes": "5"}, "not a notification URL"),
        ({"name": "x", "new_url": "", "repeat_minutes": "5"}, "This field is required"),
        ({"name": "x", "new_url": "log://", "repeat_minutes": "-1"}, "greater than or equal to 0"),
        ({"name": "x", "new_url": "log://", "repeat_minutes": "99999"}, "10080"),
        ({"name": "x", "new_url": "log://", "repeat_minutes": "5", "events": ["nope"]}, "not one of"),
        ({"name": "x", "new_url": "log://", "repeat_minutes": "5", "accounts": ["abc"]}, "valid value"),
    ]
    for data, message in cases:
        response = as_key_admin.post(reverse("alert_channel_new"), data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), (data, message)
        assert "nonsense://nowhere" not in response.content.decode()
    assert not AlertChannel.objects.exists()


def test_viewers_and_operators_read_but_cannot_change(client, viewer, operator, receiver):
    channel = make_channel(receiver.url(token=TOKEN))
    for person in (viewer, operator):
        client.force_login(person)
        page = client.get(reverse("alerts"))
        assert page.status_code == 200 and "desk pager" in page.content.decode()
        assert 'id="add-channel"' not in page.content.decode()
        assert client.get(reverse("alert_channel_new")).status_code == 403
        assert client.post(reverse("alert_channel_test", args=[channel.pk])).status_code == 403
        assert client.post(reverse("alert_channel_delete", args=[channel.pk])).status_code == 403
    assert AlertChannel.objects.count() == 1 and not Notification.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("alerts"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_test_button_reports_the_result_and_is_audited(as_key_admin, receiver):
    channel = make_channel(receiver.url(token=TOKEN))
    response = as_key_admin.post(reverse("alert_channel_test", args=[channel.pk]), follow=True)
    assert "the service accepted it" in response.content.decode()
    assert receiver.titles() == ["Test from Countdown Guard (desk pager)"]
    receiver.status = 500
    response = as_key_admin.post(reverse("alert_channel_test", args=[channel.pk]), follow=True)
    body = response.content.decode()
    assert "not delivered" in body and TOKEN not in body
    assert Operation.objects.filter(action=Action.CHANNEL_TEST).count() == 2


def test_delete_is_audited_and_keeps_the_record(as_key_admin, receiver):
    channel = make_channel(receiver.url(token=TOKEN))
    as_key_admin.post(reverse("alert_channel_test", args=[channel.pk]))
    response = as_key_admin.post(reverse("alert_channel_delete", args=[channel.pk]))
    assert response.status_code == 302 and not AlertChannel.objects.exists()
    note = Notification.objects.get()
    assert note.channel is None and note.channel_name == "desk pager"
    assert Operation.objects.get(action=Action.CHANNEL_DELETE).changes["name"] == ["desk pager", None]
    assert as_key_admin.get(reverse("alert_channel", args=["999"])).status_code == 404
    assert as_key_admin.get(reverse("alert_channel", args=["abc"])).status_code == 404


def test_admin_lists_notifications_read_only_and_never_shows_a_url(client, django_user_model, receiver):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw-long-enough-123")
    client.force_login(admin)
    channel = make_channel(receiver.url(token=TOKEN))
    from heartbeats.desk.alerts import delivery

    note = delivery.send_test(channel, username="root")
    listing = client.get(reverse("admin:heartbeats_notification_changelist")).content.decode()
    assert "Test from Countdown Guard" in listing
    detail = client.get(reverse("admin:heartbeats_notification_change", args=[note.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.post(reverse("admin:heartbeats_notification_delete", args=[note.pk])).status_code == 403
    channel_page = client.get(
        reverse("admin:heartbeats_alertchannel_change", args=[channel.pk])
    ).content.decode()
    assert "json://…" in channel_page and TOKEN not in channel_page and str(receiver.port) not in channel_page


def test_the_admin_adds_a_channel_with_its_accounts_and_one_audit_row(client, django_user_model, receiver):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw-long-enough-123")
    client.force_login(admin)
    account = make_account()
    response = client.post(
        reverse("admin:heartbeats_alertchannel_add"),
        {
            "name": "desk pager",
            "new_url": receiver.url(token=TOKEN),
            "accounts": [account.pk],
            "repeat_minutes": 5,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = AlertChannel.objects.get()
    assert (list(channel.accounts.all()), channel.enabled, channel.url_hint) == ([account], False, "json://…")
    created = Operation.objects.get(action=Action.CHANNEL_CREATE)
    assert created.username == "root" and created.changes["accounts"] == [None, ["desk-a"]]
    assert TOKEN not in str(created.changes)


def test_a_viewer_opens_a_channel_in_the_admin_read_only(client, viewer, receiver):
    channel = make_channel(receiver.url(token=TOKEN))
    client.force_login(viewer)
    page = client.get(reverse("admin:heartbeats_alertchannel_change", args=[channel.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "desk pager" in body and 'name="_save"' not in body and 'name="new_url"' not in body
    assert TOKEN not in body
