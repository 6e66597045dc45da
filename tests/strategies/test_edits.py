"""A strategy's page form writes the columns people own (name, owner, grace, what to do on return or silence,
its policies); pings, /fail, the silence latch, a release and a new ping URL write the others. Whatever of
theirs commits while the form's request is in progress survives its save, and the audit row says what the
form changed and only that."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk.strategies import pings, silence
from heartbeats.domain import roles
from heartbeats.forms.strategies import StrategyForm
from heartbeats.models import Action, Operation
from heartbeats.models.strategies import HoldReason, Strategy
from tests.concurrent import during
from tests.strategies.conftest import make_strategy
from tests.web.conftest import make_account, make_policy

pytestmark = pytest.mark.django_db(transaction=True)

BOT = "10.7.7.7"


@pytest.fixture
def as_key_admin(client, key_admin):
    client.force_login(key_admin)
    return client


def form_data(strategy, **over) -> dict:
    """What the edit page posts for `strategy` as it is stored, with `over`."""
    data = {"name": strategy.name, "owner": strategy.owner, "grace_s": strategy.grace_s}
    for flag in ("rearm_on_return", "cancel_when_silent"):
        if getattr(strategy, flag):
            data[flag] = "on"  # an unticked checkbox is not posted
    data["policies"] = list(strategy.policies.values_list("pk", flat=True))
    return {**data, **over}


def edit(client, strategy, **over):
    return client.post(reverse("strategy_edit", args=[strategy.pk]), form_data(strategy, **over))


def meanwhile(monkeypatch, write):
    """`write()` commits from another connection while the edit's form is being checked."""
    during(monkeypatch, StrategyForm, "clean", write)


def person(django_user_model, name, role):
    user = django_user_model.objects.create_user(username=name, password="a long test password 2")
    roles.grant(user, role)
    return user


def post_as(user, url, data=None):
    """Another person's request, on a client (and, run through commit_elsewhere, a connection) of its own."""
    client = Client()
    client.force_login(user)
    return client.post(url, data or {})


def the_change() -> dict:
    return Operation.objects.get(action=Action.STRATEGY_CHANGE).changes


def test_an_edit_keeps_a_failure_reported_meanwhile(as_key_admin, monkeypatch):
    strategy, key = make_strategy(grace_s=30)
    pings.record(key, BOT)
    meanwhile(monkeypatch, lambda: pings.record(key, BOT, fail=True))
    response = edit(as_key_admin, strategy, grace_s=60)
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.held_reason, stored.ping_count, stored.grace_s) == (HoldReason.FAILED, 2, 60)
    assert stored.held_since is not None and stored.last_ping_at == stored.held_since
    assert the_change() == {"grace_s": [30, 60]}


def test_an_edit_keeps_a_silence_latched_meanwhile(as_key_admin, monkeypatch):
    strategy, key = make_strategy(grace_s=30)
    pings.record(key, BOT)
    last = timezone.now() - timedelta(seconds=31)
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=last)
    meanwhile(monkeypatch, silence.latch_silences)
    response = edit(as_key_admin, strategy, owner="desk two")
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.held_reason, stored.held_since) == (HoldReason.SILENT, last + timedelta(seconds=30))
    assert (stored.owner, stored.last_ping_at, stored.ping_count) == ("desk two", last, 1)
    assert the_change() == {"owner": ["", "desk two"]}


def test_an_edit_keeps_the_pings_taken_meanwhile(as_key_admin, monkeypatch):
    strategy, key = make_strategy(grace_s=30)
    meanwhile(monkeypatch, lambda: [pings.record(key, BOT) for _ in range(3)])
    response = edit(as_key_admin, strategy, cancel_when_silent="on")
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.ping_count, stored.last_ping_ip, stored.cancel_when_silent) == (3, BOT, True)
    assert stored.last_ping_at is not None
    assert the_change() == {"cancel_when_silent": [False, True]}


def test_an_edit_keeps_a_release_committed_meanwhile(as_key_admin, operator, monkeypatch):
    strategy, key = make_strategy(grace_s=30)
    pings.record(key, BOT, fail=True)
    release = reverse("strategy_release", args=[strategy.pk])
    meanwhile(monkeypatch, lambda: post_as(operator, release, {"reason": "fixed the feed"}))
    response = edit(as_key_admin, strategy, name="mm-bot-2")
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.held_reason, stored.held_since, stored.name) == ("", None, "mm-bot-2")
    assert Operation.objects.filter(action=Action.STRATEGY_RELEASE).count() == 1
    assert the_change() == {"name": ["mm-bot", "mm-bot-2"]}


def test_an_edit_keeps_a_ping_url_replaced_meanwhile(as_key_admin, key_admin, monkeypatch):
    strategy, old_key = make_strategy(grace_s=30)
    new_url = reverse("strategy_new_key", args=[strategy.pk])
    replaced = {}
    meanwhile(monkeypatch, lambda: replaced.update(page=post_as(key_admin, new_url)))
    response = edit(as_key_admin, strategy, grace_s=45)
    assert response.status_code == 302, response.content.decode()[:2000]
    new_key = replaced["page"].context["url"].rstrip("/").rsplit("/", 1)[-1]
    assert pings.record(new_key, BOT) == "OK"
    assert pings.record(old_key, BOT) is None
    assert Strategy.objects.get(pk=strategy.pk).grace_s == 45
    assert the_change() == {"grace_s": [30, 45]}


def test_an_edit_is_refused_when_another_key_admin_changed_the_same_strategy_meanwhile(
    as_key_admin, django_user_model, monkeypatch
):
    strategy, _key = make_strategy(grace_s=30)
    other = person(django_user_model, "kate", roles.KEY_ADMIN)
    url = reverse("strategy_edit", args=[strategy.pk])
    meanwhile(monkeypatch, lambda: post_as(other, url, form_data(strategy, grace_s=90)))
    response = edit(as_key_admin, strategy, grace_s=60, name="mm-bot-2")
    assert response.status_code == 400
    assert (
        "mm-bot was changed by someone else while this form was being checked (Grace (seconds)). Nothing "
        "was saved: reload the page and make your change again."
    ) in response.content.decode()
    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.name, stored.grace_s) == ("mm-bot", 90)
    assert [op.username for op in Operation.objects.filter(action=Action.STRATEGY_CHANGE)] == ["kate"]


def test_an_edit_is_refused_when_a_chosen_policy_was_given_to_another_strategy_meanwhile(
    as_key_admin, monkeypatch
):
    policy = make_policy(make_account(), "BTCUSDT")
    strategy, _key = make_strategy(grace_s=30)
    other, _other_key = make_strategy(name="arb-bot")
    meanwhile(monkeypatch, lambda: make_strategy([policy], name="late-bot"))
    response = edit(as_key_admin, strategy, policies=[policy.pk], owner="desk two")
    assert response.status_code == 400
    assert "desk-a BTCUSDT was given to strategy late-bot while this form was being checked" in (
        response.content.decode()
    )
    policy.refresh_from_db()
    assert policy.strategy.name == "late-bot"
    assert Strategy.objects.get(pk=strategy.pk).owner == ""
    assert not Operation.objects.filter(action=Action.STRATEGY_CHANGE).exists()
    assert other.policies.count() == 0


def test_an_edit_of_a_strategy_deleted_meanwhile_does_not_bring_it_back(as_key_admin, monkeypatch):
    strategy, _key = make_strategy(grace_s=30)
    meanwhile(monkeypatch, lambda: Strategy.objects.filter(pk=strategy.pk).delete())
    response = edit(as_key_admin, strategy, grace_s=60)
    assert response.status_code == 400
    assert "mm-bot was deleted while this form was being checked. Nothing was saved." in (
        response.content.decode()
    )
    assert not Strategy.objects.exists()
    assert not Operation.objects.filter(action=Action.STRATEGY_CHANGE).exists()


def test_a_release_keeps_a_ping_taken_meanwhile(client, operator, monkeypatch):
    strategy, key = make_strategy(grace_s=30)
    pings.record(key, BOT)
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=60))
    assert silence.latch_silences() == [strategy.pk]
    during(monkeypatch, pings, "release", lambda: pings.record(key, BOT))  # "HELD": no rearm_on_return
    client.force_login(operator)
    response = client.post(reverse("strategy_release", args=[strategy.pk]), {"reason": "feed is back"})
    assert response.status_code == 302
    stored = Strategy.objects.get(pk=strategy.pk)
    assert (stored.held_reason, stored.ping_count) == ("", 2)
    assert stored.last_ping_at is not None and timezone.now() - stored.last_ping_at < timedelta(seconds=10)
    release = Operation.objects.get(action=Action.STRATEGY_RELEASE)
    assert release.changes == {"strategy": "mm-bot", "held": [HoldReason.SILENT, ""]}


def test_a_release_says_what_it_released_when_the_hold_changed_meanwhile(client, operator, monkeypatch):
    strategy, key = make_strategy(grace_s=30)
    pings.record(key, BOT)
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=60))
    assert silence.latch_silences() == [strategy.pk]
    during(monkeypatch, pings, "release", lambda: pings.record(key, BOT, fail=True))
    client.force_login(operator)
    client.post(reverse("strategy_release", args=[strategy.pk]), {"reason": "feed is back"})
    release = Operation.objects.get(action=Action.STRATEGY_RELEASE)
    assert release.changes == {"strategy": "mm-bot", "held": [HoldReason.FAILED, ""]}
