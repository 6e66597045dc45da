"""One incident, one message: problems with one cause are told together after a short wait, a problem another
one explains is listed in that one's message instead of ringing on its own, and an incident recovers once."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from heartbeats.desk.alerts import delivery, ledger
from heartbeats.models import CountdownPolicy
from heartbeats.models.alerts import AlertCondition, Delivery, Notification
from tests.alerts.conftest import make_channel
from tests.alerts.test_ledger import recover
from tests.web.conftest import make_account, make_engine, make_policy

pytestmark = pytest.mark.django_db


def step():
    result = ledger.evaluate()
    for pk in delivery.due_ids():
        delivery.deliver(pk)
    return result


def test_fifty_policies_refused_alike_are_one_message_then_one_recovery(receiver, settings):
    settings.ALERT_GROUP_WAIT_SECONDS = 5
    make_engine()
    account = make_account("desk-a")
    make_channel(receiver.url())
    policies = [make_policy(account, f"S{i:02d}USDT", "failing") for i in range(30)]
    with time_machine.travel(timezone.now(), tick=True) as clock:
        result = step()
        assert receiver.messages == []  # the burst is still coming in
        assert 4 <= result.next_due_s <= 5
        policies += [make_policy(account, f"S{i:02d}USDT", "failing") for i in range(30, 50)]
        clock.shift(timedelta(seconds=5))
        step()
        assert receiver.messages == []  # more came: it waits until the burst has been quiet for the wait
        clock.shift(timedelta(seconds=5))
        step()
        step()
        assert receiver.titles() == ["Policy failing: 50 policies on desk-a"]
        message = receiver.messages[0]["message"]
        assert "-2015 Invalid API-key" in message
        assert "Policies (50): desk-a S00USDT, desk-a S01USDT" in message and "and 25 more" in message

        recover(*policies[:49])
        step()
        assert len(receiver.messages) == 1  # one still failing: the incident is not over
        recover(*policies[49:])
        step()
    assert receiver.titles() == [
        "Policy failing: 50 policies on desk-a",
        "Recovered: Policy failing: 50 policies on desk-a",
    ]


def test_a_trickle_that_never_stops_is_told_after_four_waits_at_the_latest(receiver, settings):
    settings.ALERT_GROUP_WAIT_SECONDS = 5
    make_engine()
    account = make_account("desk-a")
    make_channel(receiver.url())
    with time_machine.travel(timezone.now(), tick=True) as clock:
        for i in range(5):
            make_policy(account, f"S{i:02d}USDT", "failing")
            step()
            assert receiver.messages == []
            clock.shift(timedelta(seconds=4))
        clock.shift(timedelta(seconds=1))
        step()
    assert receiver.titles() == ["Policy failing: 5 policies on desk-a"]


def test_different_refusals_or_accounts_are_different_incidents(receiver):
    make_engine()
    a, b = make_account("desk-a"), make_account("desk-b", api_key="B" * 64)
    make_channel(receiver.url())
    make_policy(a, "BTCUSDT", "failing")
    make_policy(a, "ETHUSDT", "failing")
    make_policy(b, "BTCUSDT", "failing")
    make_policy(a, "SOLUSDT", "failing", last_error="-1121 Invalid symbol.")
    step()
    assert sorted(receiver.titles()) == [
        "Policy failing: 2 policies on desk-a",
        "Policy failing: desk-a SOLUSDT",
        "Policy failing: desk-b BTCUSDT",
    ]


def test_an_engine_down_is_one_message_naming_the_late_policies_and_one_recovery(receiver, settings):
    settings.ALERT_ENGINE_DOWN_SECONDS = 30
    account = make_account("desk-a")
    make_channel(receiver.url())
    late = [make_policy(account, s, "late", interval_s=10) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    engine = make_engine(seen_ago=20)
    step()
    assert receiver.messages == []  # late, but its engine is down: the engine's alert will say it
    engine.seen_at = timezone.now() - timedelta(seconds=31)
    engine.save(update_fields=["seen_at"])
    step()
    step()
    assert receiver.titles() == ["Engine down"]
    message = receiver.messages[0]["message"]
    assert "Held up by it: 3 policies (3 late): desk-a BTCUSDT, desk-a ETHUSDT, desk-a SOLUSDT." in message
    assert "3 armed policies depend on it; the first countdown runs out at" in message

    # The worker is back: the engine catches up with the late beats within their hold, and nobody hears of
    # them, late, after the fact.
    engine.seen_at = timezone.now() + timedelta(minutes=1)
    engine.save(update_fields=["seen_at"])
    step()
    recover(*late)
    step()
    assert receiver.titles() == ["Engine down", "Recovered: Engine down"]


def test_a_policy_still_late_after_its_engine_came_back_is_told_after_its_hold(receiver, settings):
    settings.ALERT_ENGINE_DOWN_SECONDS = 30
    settings.ALERT_HOLD_SECONDS = 5
    account = make_account("desk-a")
    make_channel(receiver.url())
    make_policy(account, "BTCUSDT", "late", interval_s=10)
    engine = make_engine(seen_ago=40)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        step()
        engine.seen_at = timezone.now() + timedelta(minutes=5)
        engine.save(update_fields=["seen_at"])
        result = step()
        assert receiver.titles() == ["Engine down", "Recovered: Engine down"]
        assert 4 <= result.next_due_s <= 5
        clock.shift(timedelta(seconds=5))
        step()
    assert receiver.titles()[2:] == ["Policy late: desk-a BTCUSDT"]


def test_a_strategy_holding_beats_back_is_the_one_message_with_its_own_advice(receiver):
    from heartbeats.desk.strategies import pings
    from heartbeats.models.strategies import Strategy
    from tests.strategies.conftest import make_strategy

    make_engine()
    account = make_account("desk-a")
    make_channel(receiver.url())
    late = make_policy(account, "BTCUSDT", "late")
    expired = make_policy(account, "ETHUSDT", "expired")
    strategy, key = make_strategy([late, expired], grace_s=5, rearm_on_return=True)
    pings.record(key, None)
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=6))
    step()
    titles = receiver.titles()
    assert "Policy late: desk-a BTCUSDT" not in titles
    assert sorted(titles) == [
        "Countdown expired (orders cancelled): desk-a ETHUSDT",
        "Strategy mm-bot silent: heartbeats held back",
    ]
    expiry = next(m["message"] for m in receiver.messages if m["title"].startswith("Countdown"))
    assert "Its strategy holds heartbeats back" in expiry
    assert "engine" not in expiry.split("What to do:")[1]
    assert AlertCondition.objects.get(key=f"policy:{late.pk}").inhibited_by == f"strategy:{strategy.pk}"


def test_lapses_found_together_on_one_account_are_one_message(receiver):
    from tests.alerts.test_ledger import _beat

    make_engine()
    account = make_account("desk-a")
    make_channel(receiver.url())
    t0 = timezone.now() - timedelta(seconds=40)
    resumed = timezone.now() - timedelta(seconds=1)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        policy = make_policy(account, symbol, "armed", countdown_ms=10_000, interval_s=3)
        _beat(policy, t0, t0)
        _beat(policy, t0 + timedelta(seconds=20), t0 + timedelta(seconds=3))  # the countdown ran out
        CountdownPolicy.objects.filter(pk=policy.pk).update(last_arm_sent_at=resumed, last_attempt_at=resumed)
    step()
    step()
    assert receiver.titles() == ["Countdown expired (orders cancelled): 3 policies on desk-a"]
    message = receiver.messages[0]["message"]
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert f"cancelled every open order of {symbol}" in message


def test_an_alert_its_channel_could_not_take_before_the_recovery_is_not_sent_after_it(receiver):
    make_engine()
    account = make_account("desk-a")
    make_channel(receiver.url())
    policy = make_policy(account, "BTCUSDT", "failing")
    receiver.status = 503  # the channel is down while it lasts
    step()
    assert Notification.objects.get().status == Delivery.RETRYING
    recover(policy)
    receiver.status = 200
    Notification.objects.update(next_attempt_at=timezone.now())  # its retry is due
    step()
    assert receiver.messages == []  # neither the stale alert nor a recovery of something never heard
    note = Notification.objects.get()
    assert note.status == Delivery.FAILED and "recovered before" in note.last_error


def test_a_problem_nothing_can_join_is_told_without_the_group_wait(receiver, settings):
    settings.ALERT_GROUP_WAIT_SECONDS = 5
    settings.ALERT_ENGINE_DOWN_SECONDS = 30
    make_policy(make_account("desk-a"), "BTCUSDT", "disarmed")
    make_channel(receiver.url())
    make_engine(seen_ago=31)
    step()
    assert receiver.titles() == ["Engine down"]


def test_a_strategy_starting_beside_the_guard_is_not_told_before_its_first_ping_is_overdue(
    receiver, settings
):
    from heartbeats.desk.strategies import pings
    from tests.strategies.conftest import make_strategy

    settings.ALERT_HOLD_SECONDS = 5
    make_engine()
    make_channel(receiver.url())
    policy = make_policy(make_account("desk-a"), "BTCUSDT", "armed")
    _strategy, key = make_strategy([policy], grace_s=5, rearm_on_return=True)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        step()
        clock.shift(timedelta(seconds=2))
        pings.record(key, None)  # its first ping, two seconds in
        step()
        assert receiver.messages == []
        assert not AlertCondition.objects.filter(active=True).exists()


def test_the_alerts_page_lists_each_incident_with_what_it_holds_up(receiver, settings, client, viewer):
    settings.ALERT_ENGINE_DOWN_SECONDS = 30
    account = make_account("desk-a")
    make_channel(receiver.url())
    for symbol in ("BTCUSDT", "ETHUSDT"):
        make_policy(account, symbol, "late", interval_s=10)
    make_engine(seen_ago=40)
    step()
    client.force_login(viewer)
    page = client.get("/alerts/").content.decode()
    going_on = page.split('id="open-conditions"')[1].split("</section>")[0]
    assert going_on.count("data-incident") == 1 and "Engine down" in going_on
    assert "Held up by it: 2" in going_on
    assert "Policy late: desk-a BTCUSDT" in going_on and "Policy late: desk-a ETHUSDT" in going_on
