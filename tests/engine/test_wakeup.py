"""The engine waits for the database to change instead of querying it many times a second: a committed
disarm wakes the watcher, a released or expired lease wakes the standby, and between changes the threads
sleep. The backstops (`poll_every`, `standby_poll_every`) are set far beyond each test's limit here, so a
test passes only through the wake-up."""

import contextlib
import secrets
import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from heartbeats.desk import actions
from heartbeats.domain.leases import Lease
from heartbeats.engine import Engine, wakeup
from heartbeats.models import CountdownPolicy
from tests.engine.conftest import armed_symbols, fast_config, in_feed_wait, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NO_BACKSTOP = 60.0


def _waiting_feed(channel: str, timeout: float):
    """A thread waiting on a feed of its own (as the watcher and keeper do); reports what the wait said and
    how long it took."""
    ready, outcome = threading.Event(), {}

    def wait():
        try:
            feed = wakeup.feed(channel)
            feed.wait(1.0, threading.Event())  # the first wait only learns where the database stands
            ready.set()
            began = time.monotonic()
            outcome["woke"] = feed.wait(timeout, threading.Event())
            outcome["after"] = time.monotonic() - began
            feed.close()
        finally:
            connections.close_all()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    assert ready.wait(5)
    wait_for(lambda: in_feed_wait(thread), message="the thread in its wait")
    return thread, outcome


def test_a_committed_change_wakes_a_waiting_feed_at_once(make_account, make_policy):
    policy = make_policy(make_account())
    thread, outcome = _waiting_feed(wakeup.DESIRED, timeout=NO_BACKSTOP)
    CountdownPolicy.objects.filter(pk=policy.pk).update(armed=True, updated_at=timezone.now())
    thread.join(10)
    assert outcome["woke"] == {wakeup.DESIRED}
    assert outcome["after"] < 2, f"woke {outcome['after']:.2f} s after the commit"


def test_a_feed_without_news_sleeps_until_its_timeout():
    thread, outcome = _waiting_feed(wakeup.DESIRED, timeout=0.8)
    thread.join(10)
    assert outcome["woke"] == set()
    assert outcome["after"] >= 0.75


def test_a_commit_about_something_else_wakes_nobody_waiting_for_desired_state(make_account, make_policy):
    """The engine's own writes (a beat and its facts), a strategy's ping: news for others, not for the
    watcher, which would otherwise read the database after every beat."""
    from heartbeats.models import Beat, Strategy

    policy = make_policy(make_account())
    thread, outcome = _waiting_feed(wakeup.DESIRED, timeout=1.5)
    Beat.objects.create(
        policy=policy,
        generation=0,
        kind="arm",
        countdown_ms=30000,
        outcome="confirmed",
        sent_at=timezone.now(),
    )
    CountdownPolicy.objects.filter(pk=policy.pk).update(last_arm_sent_at=timezone.now())
    Strategy.objects.create(name="quiet", ping_key_hash=secrets.token_hex(32))
    thread.join(10)
    assert outcome["woke"] == set()


def test_each_subject_wakes_the_feeds_that_wait_for_it(make_account, make_policy):
    from heartbeats.models import Strategy

    thread, outcome = _waiting_feed(wakeup.STRATEGIES, timeout=NO_BACKSTOP)
    Strategy.objects.create(name="mm", ping_key_hash=secrets.token_hex(32))
    thread.join(10)
    assert outcome["woke"] == {wakeup.STRATEGIES}


def test_a_disarm_reaches_the_exchange_without_any_polling(
    simulator, make_account, make_policy, engine_thread
):
    policy = make_policy(make_account(), interval_s=5, countdown_ms=30000)
    actions.arm(policy.pk, user=None, ip=None)
    engine = Engine(config=fast_config(poll_every=NO_BACKSTOP, full_reload_every=NO_BACKSTOP))
    with engine_thread(engine):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"}, timeout=10, message="the arm")
        wait_for(lambda: in_feed_wait(engine.watcher), message="the watcher waiting for news")
        began = time.monotonic()
        actions.disarm(policy.pk, user=None, ip=None)
        wait_for(lambda: not armed_symbols(simulator), timeout=5, message="the disarm at the exchange")
        took = time.monotonic() - began
    assert took < 1.0, f"the zero arrived {took:.2f} s after the disarm (round trip included)"


def test_a_standby_takes_over_at_once_when_the_lease_is_released(
    simulator, make_account, make_policy, engine_thread
):
    policy = make_policy(make_account(), interval_s=5, countdown_ms=30000)
    actions.arm(policy.pk, user=None, ip=None)
    config = fast_config(standby_poll_every=NO_BACKSTOP, lease_ttl=30, lease_margin=1)
    first, second = Engine(engine_id="first", config=config), Engine(engine_id="second", config=config)
    with contextlib.ExitStack() as stack:
        stop_first = stack.enter_context(contextlib.ExitStack())
        stop_first.enter_context(engine_thread(first))
        wait_for(lambda: first.is_active, timeout=10, message="the first engine active")
        stack.enter_context(engine_thread(second))
        wait_for(lambda: second.keeper.is_alive(), timeout=10, message="the standby started")
        wait_for(lambda: in_feed_wait(second.keeper), timeout=5, message="the standby waiting for the lease")
        stop_first.close()  # the first engine stops and hands its 30 s lease over
        released = time.monotonic()
        wait_for(lambda: second.is_active, timeout=5, message="the standby active")
        assert time.monotonic() - released < 1.5


def test_a_standby_takes_over_when_a_dead_holders_lease_runs_out(
    simulator, make_account, make_policy, engine_thread
):
    policy = make_policy(make_account(), interval_s=5, countdown_ms=30000)
    actions.arm(policy.pk, user=None, ip=None)
    dead = Lease("engine:default", "a-dead-engine", ttl=2.0)
    dead.ensure_row()
    assert dead.acquire()
    taken = time.monotonic()  # never renewed: runs out 2 s from now, on the database's clock
    engine = Engine(engine_id="standby", config=fast_config(standby_poll_every=NO_BACKSTOP))
    with engine_thread(engine):
        wait_for(lambda: engine.is_active, timeout=6, message="the standby active")
        waited = time.monotonic() - taken
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"}, timeout=5, message="the arm")
    assert 1.8 <= waited < 3.5, f"took over {waited:.2f} s after the lease was last renewed"
