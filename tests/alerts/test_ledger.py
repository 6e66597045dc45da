"""One alert per transition, a recovery when it clears, reminders while it lasts, nothing lost while a
channel is down, and never a channel's token in a message, a record or a log line."""

import logging
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from heartbeats.desk import actions
from heartbeats.desk.alerts import delivery, ledger
from heartbeats.models import CountdownPolicy, Outcome
from heartbeats.models.alerts import AlertCondition, AlertEvent, Delivery, Notification, NotificationKind
from tests.alerts.conftest import make_channel
from tests.web.conftest import make_account, make_engine, make_policy

pytestmark = pytest.mark.django_db


def deliver_all():
    for pk in delivery.due_ids():
        delivery.deliver(pk)


def step():
    ledger.evaluate()
    deliver_all()


def recover(*policies):
    """The policies beaten on time again, as a working engine leaves them."""
    now = timezone.now()
    CountdownPolicy.objects.filter(pk__in=[p.pk for p in policies]).update(
        generation=1,
        fatal_generation=None,
        last_arm_generation=1,
        last_arm_sent_at=now,
        last_attempt_at=now,
        last_outcome=Outcome.CONFIRMED,
        last_error="",
    )


@pytest.fixture
def alive():
    return make_engine()


def test_a_failing_policy_is_told_once_and_its_recovery_once(receiver, alive):
    account = make_account()
    make_channel(receiver.url())
    policy = make_policy(account, "BTCUSDT", "failing")

    step()
    step()
    step()
    assert len(receiver.messages) == 1
    alert = receiver.messages[0]
    assert alert["title"] == "Policy failing: desk-a BTCUSDT"
    assert "-2015 Invalid API-key" in alert["message"] and "What to do:" in alert["message"]
    assert alert["type"] == "failure"

    recover(policy)
    step()
    step()
    assert receiver.titles() == [
        "Policy failing: desk-a BTCUSDT",
        "Recovered: Policy failing: desk-a BTCUSDT",
    ]
    assert receiver.messages[1]["type"] == "success"
    assert not AlertCondition.objects.filter(active=True).exists()
    sent = Notification.objects.order_by("id")
    assert [(n.kind, n.status) for n in sent] == [("alert", "sent"), ("recovery", "sent")]


def test_a_change_of_state_is_told_as_a_change(receiver, alive):
    account = make_account()
    make_channel(receiver.url())
    policy = make_policy(account, "ETHUSDT", "late")
    step()
    CountdownPolicy.objects.filter(pk=policy.pk).update(
        generation=2, fatal_generation=2, last_outcome=Outcome.FATAL, last_error="-1121 Invalid symbol."
    )
    step()
    assert receiver.titles() == ["Policy late: desk-a ETHUSDT", "Now: Policy failing: desk-a ETHUSDT"]


def test_a_short_blip_is_not_told(receiver, alive, settings):
    settings.ALERT_HOLD_SECONDS = 60
    account = make_account()
    make_channel(receiver.url())
    policy = make_policy(account, "ADAUSDT", "uncertain")
    step()
    recover(policy)
    step()
    assert receiver.messages == []
    assert AlertCondition.objects.get().cleared_at is not None


def test_channels_hear_only_their_events_and_accounts(receiver, alive):
    a, b = make_account("desk-a"), make_account("desk-b", api_key="B" * 64)
    make_channel(receiver.url("all"), name="all")
    make_channel(receiver.url("failing"), name="failing only", events=[AlertEvent.POLICY_FAILING])
    make_channel(receiver.url("b"), name="desk b", accounts=[b])
    make_policy(a, "BTCUSDT", "failing")
    make_policy(b, "ETHUSDT", "late")
    step()
    heard = sorted(zip(receiver.paths, receiver.titles(), strict=True))
    assert heard == [
        ("/all", "Policy failing: desk-a BTCUSDT"),
        ("/all", "Policy late: desk-b ETHUSDT"),
        ("/b", "Policy late: desk-b ETHUSDT"),
        ("/failing", "Policy failing: desk-a BTCUSDT"),
    ]


def test_reminders_come_at_the_channel_pace(receiver, alive):
    account = make_account()
    make_channel(receiver.url(), repeat_minutes=5)
    make_policy(account, "BTCUSDT", "failing")
    step()
    step()
    assert len(receiver.messages) == 1
    Notification.objects.update(created_at=timezone.now() - timedelta(minutes=5, seconds=1))
    step()
    step()
    assert receiver.titles() == ["Policy failing: desk-a BTCUSDT", "Still: Policy failing: desk-a BTCUSDT"]


def test_nothing_is_lost_while_a_channel_is_down(receiver, alive, caplog):
    account = make_account()
    make_channel(receiver.url(token="SUPERsecretTOKEN123"))
    make_policy(account, "BTCUSDT", "failing")
    receiver.status = 500
    with caplog.at_level(logging.WARNING):
        step()
    note = Notification.objects.get()
    assert note.status == Delivery.RETRYING and note.attempts == 1
    assert timedelta(seconds=5) < note.next_attempt_at - timezone.now() <= timedelta(seconds=10)
    assert "500" in note.last_error, note.last_error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "desk pager" in logged
    for text in (note.last_error, logged):
        assert "SUPERsecretTOKEN123" not in text

    deliver_all()  # not due yet: backoff
    assert Notification.objects.get().attempts == 1
    receiver.status = 200
    Notification.objects.update(next_attempt_at=timezone.now())
    deliver_all()
    note.refresh_from_db()
    assert note.status == Delivery.SENT and note.attempts == 2 and note.last_error == ""
    assert receiver.titles() == ["Policy failing: desk-a BTCUSDT"]


def test_a_notification_is_given_up_on_after_the_set_hours(receiver, alive, settings):
    settings.ALERT_GIVE_UP_HOURS = 1
    account = make_account()
    make_channel(receiver.url())
    make_policy(account, "BTCUSDT", "failing")
    receiver.status = 503
    ledger.evaluate()
    Notification.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    deliver_all()
    assert Notification.objects.get().status == Delivery.FAILED


def test_engine_down_is_told_once_the_set_time_has_passed(receiver, settings):
    settings.ALERT_ENGINE_DOWN_SECONDS = 30
    account = make_account()
    make_channel(receiver.url())
    make_policy(account, "BTCUSDT", "disarmed")
    engine = make_engine(seen_ago=10)
    step()
    assert receiver.messages == []
    engine.seen_at = timezone.now() - timedelta(seconds=31)
    engine.save(update_fields=["seen_at"])
    step()
    assert receiver.titles() == ["Engine down"]
    assert "No heartbeats are sent" in receiver.messages[0]["message"]
    engine.seen_at = timezone.now()
    engine.save(update_fields=["seen_at"])
    step()
    assert receiver.titles() == ["Engine down", "Recovered: Engine down"]


def test_ban_and_rate_limit_say_until_when(receiver):
    account = make_account()
    make_channel(receiver.url())
    make_policy(account, "BTCUSDT", "disarmed")
    until = timezone.now() + timedelta(minutes=3)
    make_engine(banned_until=until)
    step()
    assert [t.split(" until ")[0] for t in receiver.titles()] == ["Banned by the exchange"]
    assert f"{timezone.localtime(until):%H:%M:%S}" in receiver.titles()[0]


def test_disarm_all_is_announced_with_who_why_and_results(receiver, alive, operator):
    account = make_account()
    make_channel(receiver.url())
    make_policy(account, "BTCUSDT", "armed")
    make_policy(account, "ETHUSDT", "armed")
    step()  # the first run starts from the newest action: history is not news
    operation = actions.disarm_all(user=operator, ip="10.0.0.7", reason="exchange incident")
    step()  # results still coming: waits
    assert receiver.messages == []
    CountdownPolicy.objects.update(disarm_acked_generation=2, disarm_acked_at=timezone.now())
    step()
    assert len(receiver.messages) == 1
    message = receiver.messages[0]
    assert message["title"] == f"Disarm all by {operator.username}: 2 disarmed"
    assert "Reason: exchange incident" in message["message"] and "10.0.0.7" in message["message"]
    assert "desk-a BTCUSDT: disarmed" in message["message"]
    assert Notification.objects.get().event == AlertEvent.KILL_ACTION
    step()
    assert len(receiver.messages) == 1, operation


def test_a_test_message_reports_its_result(receiver):
    channel = make_channel(receiver.url())
    note = delivery.send_test(channel, username="karen")
    assert note.status == Delivery.SENT and note.kind == NotificationKind.TEST
    assert receiver.titles() == ["Test from Countdown Guard (desk pager)"]
    receiver.server.shutdown()
    receiver.server.server_close()
    note = delivery.send_test(channel, username="karen")
    assert note.status == Delivery.FAILED and "T0KENsecretVALUE42" not in note.last_error
    assert note.last_error


def test_the_log_channel_writes_alerts_to_the_log(alive, caplog):
    account = make_account()
    make_channel("log://", name="demo log")
    make_policy(account, "BTCUSDT", "failing")
    with caplog.at_level(logging.WARNING, logger="countdown_guard.alerts"):
        step()
    lines = [r.getMessage() for r in caplog.records if r.name == "countdown_guard.alerts"]
    assert len(lines) == 1 and lines[0].startswith("ALERT Policy failing: desk-a BTCUSDT | ")


def test_url_check_refuses_what_apprise_cannot_send_to():
    delivery.check_url("json://127.0.0.1:9/hook")
    delivery.check_url("log://")
    for bad in ("", "nonsense://x", "http//example", "x" * 3000):
        with pytest.raises(delivery.ChannelURLError):
            delivery.check_url(bad)


def test_scrub_keeps_host_names_and_drops_tokens():
    url = "slack://T1234ABCD/B5678EFGH/abcdefghijklmnopQRSTUV/#desk"
    text = (
        "Failed to send Slack notification to hooks.slack.com with T1234ABCD/B5678EFGH/abcdefghijklmnopQRSTUV"
    )
    scrubbed = delivery.scrub(text, url)
    assert "hooks.slack.com" in scrubbed
    assert "abcdefghijklmnopQRSTUV" not in scrubbed and "T1234ABCD" not in scrubbed


def _beat(policy, sent_at, due_at, countdown_ms=10_000):
    from heartbeats.models import Beat, BeatKind

    return Beat.objects.create(
        policy=policy,
        generation=1,
        kind=BeatKind.ARM,
        countdown_ms=countdown_ms,
        due_at=due_at,
        sent_at=sent_at,
        outcome=Outcome.CONFIRMED,
    )


def test_a_lapse_between_two_evaluations_is_still_told_once(receiver, alive):
    account = make_account()
    make_channel(receiver.url())
    policy = make_policy(account, "BTCUSDT", "armed", countdown_ms=10_000, interval_s=3)
    t0 = timezone.now() - timedelta(seconds=40)
    _beat(policy, t0, t0)
    _beat(policy, t0 + timedelta(seconds=20), t0 + timedelta(seconds=3))  # 17 s late: the countdown ran out
    resumed = timezone.now() - timedelta(seconds=1)
    CountdownPolicy.objects.filter(pk=policy.pk).update(last_arm_sent_at=resumed, last_attempt_at=resumed)
    step()
    step()
    assert receiver.titles() == ["Countdown expired (orders cancelled): desk-a BTCUSDT"]
    assert "armed again" in receiver.messages[0]["message"]


def test_an_expiry_told_as_it_showed_is_not_told_again_from_the_beats(receiver, alive):
    account = make_account()
    make_channel(receiver.url())
    policy = make_policy(account, "BTCUSDT", "expired", countdown_ms=10_000, interval_s=3)
    step()
    assert receiver.titles() == ["Countdown expired (orders cancelled): desk-a BTCUSDT"]
    # The engine arms it again: the beats now show the lapse the condition already told.
    expired_at = policy.last_arm_sent_at + timedelta(milliseconds=10_000)
    _beat(policy, policy.last_arm_sent_at, policy.last_arm_sent_at)
    now = timezone.now()
    _beat(policy, now, policy.last_arm_sent_at + timedelta(seconds=3))
    CountdownPolicy.objects.filter(pk=policy.pk).update(last_arm_sent_at=now, last_attempt_at=now)
    step()
    step()
    assert receiver.titles() == [
        "Countdown expired (orders cancelled): desk-a BTCUSDT",
        "Countdown running again: Countdown expired (orders cancelled): desk-a BTCUSDT",
    ], expired_at


def test_a_failed_key_check_is_announced_without_the_key(receiver, simulator):
    from heartbeats.forms import AccountForm
    from tests.domain.conftest import new_api_key, new_hmac_secret
    from tests.domain.test_account_form import form_data

    make_channel(receiver.url(), events=[AlertEvent.KEY_CHECK_FAILED])
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret, ip_whitelist=["192.0.2.77"])
    assert not AccountForm(form_data(simulator.url, api_key, secret)).is_valid()
    deliver_all()
    assert receiver.titles() == ["Key check failed: desk-a"]
    message = receiver.messages[0]["message"]
    assert "-2015" in message and api_key not in message and secret not in message


def test_maintenance_windows_are_announced_as_they_start_and_end(receiver, alive, operator):
    from heartbeats.desk import maintenance

    account = make_account()
    make_channel(receiver.url(), events=[AlertEvent.MAINTENANCE])
    make_policy(account, "BTCUSDT", "armed")
    step()  # the bookmark starts here
    now = timezone.now()
    window = maintenance.create(
        user=operator,
        ip="10.0.0.9",
        reason="exchange upgrade",
        account_ids=[account.pk],
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )
    maintenance.apply_due()
    CountdownPolicy.objects.update(disarm_acked_generation=2, disarm_acked_at=timezone.now())
    step()
    maintenance.end_now(window.pk, user=operator, ip="10.0.0.9", reason="done early")
    step()  # waits for the re-arms' results
    assert len(receiver.messages) == 1
    CountdownPolicy.objects.update(
        last_arm_generation=F("generation"), last_arm_sent_at=timezone.now(), last_arm_countdown_ms=120_000
    )
    step()
    titles = receiver.titles()
    assert titles[0].startswith("Maintenance window started on schedule"), titles
    assert titles[1].startswith("Maintenance window ended early by olga"), titles
    assert "Reason: done early" in receiver.messages[1]["message"]


def test_a_silent_strategy_is_told_and_its_return_too(receiver, alive):
    from heartbeats.desk.strategies import pings
    from tests.strategies.conftest import make_strategy

    account = make_account()
    make_channel(receiver.url(), events=[AlertEvent.STRATEGY_HELD])
    policy = make_policy(account, "BTCUSDT", "armed")
    strategy, key = make_strategy([policy], grace_s=5, rearm_on_return=True)
    pings.record(key, None)
    step()
    assert receiver.messages == []
    from heartbeats.models.strategies import Strategy

    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=6))
    step()
    assert receiver.titles() == ["Strategy mm-bot silent: heartbeats held back"]
    assert "desk-a BTCUSDT" in receiver.messages[0]["message"]
    pings.record(key, None)
    step()
    assert receiver.titles()[-1] == "Recovered: Strategy mm-bot silent: heartbeats held back"
