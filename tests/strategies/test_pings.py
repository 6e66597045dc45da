"""The ping endpoints: cheap, no session, safe with any input; and what a ping, a /fail, a silence and a
release do to a strategy's hold."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk.strategies import pings, silence
from heartbeats.domain import throttle
from heartbeats.engine import sql
from heartbeats.models import Action, Operation
from heartbeats.models.strategies import HoldReason, Strategy, StrategyPing
from tests.strategies.conftest import make_strategy
from tests.web.conftest import make_account, make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_second(monkeypatch):
    """The throttle's window is one second: the clock stands still so a burst falls in one window."""
    monkeypatch.setattr(throttle, "_now", lambda: 1_800_000_000.25)


def test_a_ping_is_recorded_with_its_source_address(client):
    strategy, key = make_strategy()
    for method in (client.get, client.post):
        response = method(reverse("ping", args=[key]), REMOTE_ADDR="10.1.2.3")
        assert response.status_code == 200 and response.content == b"OK\n"
    assert client.head(reverse("ping", args=[key]), REMOTE_ADDR="10.1.2.3").status_code == 200
    strategy.refresh_from_db()
    assert strategy.ping_count == 3 and strategy.last_ping_ip == "10.1.2.3"
    assert StrategyPing.objects.filter(strategy=strategy).count() == 3
    assert "sessionid" not in client.cookies


@pytest.mark.parametrize(
    "key", ["nope", "x" * 200, "a" * 32, "abc%00def0123456789", "abc def 0123456789abc", "é" * 20]
)
def test_unknown_or_malformed_keys_get_a_plain_404(client, key):
    make_strategy()
    response = client.get(f"/ping/{key}")
    assert response.status_code == 404 and b"No strategy has this ping URL" in response.content


def test_a_flood_is_refused_and_not_recorded(client):
    strategy, key = make_strategy()
    codes = [client.get(reverse("ping", args=[key])).status_code for _ in range(pings.PER_KEY_PER_SECOND + 5)]
    assert codes.count(200) == pings.PER_KEY_PER_SECOND and codes[-1] == 429
    assert StrategyPing.objects.filter(strategy=strategy).count() == pings.PER_KEY_PER_SECOND


def test_the_key_is_stored_only_as_its_digest():
    strategy, key = make_strategy()
    assert strategy.ping_key_hash == pings.digest(key) and key not in str(Strategy.objects.values().get())


def test_the_engine_reads_a_hold_from_the_strategy():
    account = make_account()
    policy = make_policy(account, "BTCUSDT", "armed")
    assert sql.desired(policy.pk)[2] == ""
    strategy, key = make_strategy([policy], grace_s=10)
    assert sql.desired(policy.pk)[2] == "Held: waiting for the strategy's first ping."
    pings.record(key, "10.0.0.1")
    assert sql.desired(policy.pk) == (True, policy.generation, "")
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=11))
    assert sql.desired(policy.pk)[2].startswith("Held: no ping from the strategy for 11")


def test_a_silence_is_latched_audited_and_needs_a_release():
    account = make_account()
    policy = make_policy(account, "BTCUSDT", "armed")
    strategy, key = make_strategy([policy], grace_s=5)
    pings.record(key, "10.0.0.1")
    assert silence.latch_silences() == []
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=6))
    assert silence.latch_silences() == [strategy.pk]
    assert silence.latch_silences() == []  # once
    strategy.refresh_from_db()
    assert strategy.held_reason == HoldReason.SILENT
    assert Operation.objects.filter(action=Action.STRATEGY_SILENT).count() == 1
    # Coming back does not resume by itself...
    assert pings.record(key, "10.0.0.1") == "HELD"
    assert sql.desired(policy.pk)[2] == "Held: the strategy went silent."
    # ...an operator does, and the fresh ping counts.
    pings.release(Strategy.objects.get(pk=strategy.pk), user=None, ip="10.9.9.9", reason="bot restarted")
    assert sql.desired(policy.pk)[2] == ""
    assert Operation.objects.get(action=Action.STRATEGY_RELEASE).reason == "bot restarted"


def test_a_release_without_a_reason_changes_nothing():
    strategy, _key = make_strategy(held_reason=HoldReason.FAILED, held_since=timezone.now())
    with pytest.raises(ValueError, match="reason"):
        pings.release(strategy, user=None, ip=None, reason="  ")
    assert Strategy.objects.get(pk=strategy.pk).held_reason == HoldReason.FAILED


def test_a_strategy_may_resume_by_itself_when_it_comes_back():
    account = make_account()
    policy = make_policy(account, "BTCUSDT", "armed")
    strategy, key = make_strategy([policy], grace_s=5, rearm_on_return=True)
    pings.record(key, None)
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=60))
    assert pings.record(key, None) == "RESUMED"
    assert sql.desired(policy.pk)[2] == ""
    assert Operation.objects.filter(action=Action.STRATEGY_RESUMED).count() == 1


def test_fail_holds_at_once_and_is_audited(client, monkeypatch):
    cancelled = []
    monkeypatch.setattr(silence, "cancel_for", lambda strategy, why: cancelled.append((strategy.name, why)))
    monkeypatch.setattr(pings, "cancel_for", lambda strategy, why: cancelled.append((strategy.name, why)))
    account = make_account()
    policy = make_policy(account, "BTCUSDT", "armed")
    _strategy, key = make_strategy([policy])
    client.get(reverse("ping", args=[key]))
    response = client.post(reverse("ping_fail", args=[key]))
    assert response.status_code == 200 and response.content == b"FAILED\n"
    assert sql.desired(policy.pk)[2] == "Held: the strategy reported a failure."
    assert cancelled == [("mm-bot", "strategy mm-bot reported a failure (/fail)")]
    assert Operation.objects.get(action=Action.STRATEGY_FAILED).username == "strategy mm-bot"


@pytest.mark.parametrize("rearm", [False, True])
def test_a_silence_ended_before_the_latch_still_cancels_at_once(monkeypatch, rearm):
    cancelled = []
    monkeypatch.setattr(pings, "cancel_for", lambda strategy, why: cancelled.append(why))
    account = make_account()
    policy = make_policy(account, "BTCUSDT", "armed")
    strategy, key = make_strategy([policy], grace_s=5, cancel_when_silent=True, rearm_on_return=rearm)
    pings.record(key, None)
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=6))
    assert pings.record(key, None) == ("RESUMED" if rearm else "HELD")
    assert cancelled == ["strategy mm-bot went silent for more than 5 s"]
    assert silence.latch_silences() == []


def _touched(action) -> list[tuple]:
    operation = Operation.objects.get(action=action)
    return list(operation.targets.values_list("symbol", "effect", "changed"))


def test_a_hold_and_its_release_list_every_policy_of_the_strategy():
    account = make_account()
    btc = make_policy(account, "BTCUSDT", "armed")
    sol = make_policy(account, "SOLUSDT")  # disarmed: held all the same, should someone arm it
    make_policy(account, "ETHUSDT", "armed")  # another strategy's, or none: not held
    strategy, key = make_strategy([btc, sol], grace_s=5)
    pings.record(key, "10.0.0.1")
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=6))
    silence.latch_silences()
    assert _touched(Action.STRATEGY_SILENT) == [("BTCUSDT", "held", False), ("SOLUSDT", "held", False)]
    held = Operation.objects.get(action=Action.STRATEGY_SILENT).targets.get(symbol="BTCUSDT")
    assert (held.policy, held.generation) == (btc, btc.generation)  # a hold gives no generation
    pings.release(Strategy.objects.get(pk=strategy.pk), user=None, ip="10.9.9.9", reason="bot restarted")
    assert _touched(Action.STRATEGY_RELEASE) == [
        ("BTCUSDT", "released", False),
        ("SOLUSDT", "released", False),
    ]


def test_a_fail_and_a_return_list_the_strategys_policies(monkeypatch):
    monkeypatch.setattr(pings, "cancel_for", lambda strategy, why: None)
    policy = make_policy(make_account(), "BTCUSDT", "armed")
    strategy, key = make_strategy([policy], rearm_on_return=True)
    pings.record(key, "10.0.0.1", fail=True)
    pings.record(key, "10.0.0.1")
    assert _touched(Action.STRATEGY_FAILED) == [("BTCUSDT", "held", False)]
    assert _touched(Action.STRATEGY_RESUMED) == [("BTCUSDT", "released", False)]
    # A ping in a hold that is not latched yet latches it, listing the policies too.
    Strategy.objects.filter(pk=strategy.pk).update(
        rearm_on_return=False, last_ping_at=timezone.now() - timedelta(seconds=60)
    )
    assert pings.record(key, "10.0.0.1") == "HELD"
    assert _touched(Action.STRATEGY_SILENT) == [("BTCUSDT", "held", False)]
