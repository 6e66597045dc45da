"""One engine per egress identity: the lease is a conditional UPDATE with a row-count check, and no two
engines ever send at the same time."""

import contextlib
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.desk import actions
from heartbeats.domain.leases import Lease
from heartbeats.engine import Engine, engine_alive, liveness
from heartbeats.engine.sql import lease_wait
from heartbeats.models import Action, Duty, Operation
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_grants_the_lease_to_one_holder_until_it_expires():
    first, second = Lease("engine:default", "first", ttl=0.5), Lease("engine:default", "second", ttl=0.5)
    assert first.acquire()
    assert not second.acquire()
    assert first.renew()
    wait_for(
        lambda: lease_wait("engine:default", "second") == 0,
        timeout=2,
        message="the lease run out (on the database's clock)",
    )
    assert second.acquire()
    assert not first.renew(), "an expired holder learns it lost the lease"
    assert not first.release()
    assert second.release()
    assert Duty.objects.get(name="engine:default").holder == ""


def test_it_never_lets_two_engines_send_at_once(simulator, make_account, make_policy, engine_thread):
    account = make_account()
    policies = [make_policy(account, s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    one, two = Engine(engine_id="one", config=fast_config()), Engine(engine_id="two", config=fast_config())
    overlaps, samples = [], []
    done = threading.Event()

    def watch():
        while not done.is_set():
            at = time.time()  # before reading: a sample seen inactive was read after `at`
            active = one.is_active, two.is_active
            samples.append((at, any(active)))
            if all(active):
                overlaps.append(at)
            time.sleep(0.002)  # the sampling rate: this thread watches, it waits for nothing

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    first, second = engine_thread(one), engine_thread(two)
    running = []
    try:
        first.__enter__()
        running.append(first)
        wait_for(lambda: one.is_active, message="first engine active")
        first_active = time.time()
        second.__enter__()
        running.append(second)
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
        # Both running for more than an interval: every symbol beaten once more, by the first alone.
        both_since = time.time()
        wait_for(lambda: _beaten_since(simulator, both_since), timeout=3, message="a beat of every symbol")
        assert not two.is_active
        handing_over = time.time()
        running.remove(first)
        first.__exit__(None, None, None)  # a clean stop: the standby takes over at once
        wait_for(lambda: two.is_active, timeout=1.2, message="take-over after release")
        took_over = time.time()
        wait_for(lambda: _beaten_since(simulator, took_over), timeout=3, message="the second engine's beats")
        ended = time.time()
    finally:
        for context in reversed(running):
            context.__exit__(None, None, None)
        done.set()
        watcher.join()
    # Within the first engine's own stop, well before its lease (1.5 s) could have expired: it was released.
    # (The stop joins the first engine's threads, which a loaded machine can take a few tenths of a second.)
    assert took_over - handing_over < 1.0
    assert overlaps == []
    # One engine active all along, but for the hand-over itself (its start and its stop aside; a tenth of a
    # second spared before each stop, for a sample taken then but read once the stop began).
    idle = [t for t, active in samples if not active]
    assert not [t for t in idle if first_active <= t < handing_over - 0.1 or took_over <= t < ended - 0.1]
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        sent = [r["received_at"] for r in countdown_requests(simulator, symbol)]
        gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
        assert min(gaps) > 0.5, f"{symbol} was beaten twice in a row: {gaps}"
    assert simulator.exchange.cancellations() == []


def _beaten_since(simulator, when) -> bool:
    """Every symbol beaten (and answered) after `when`."""
    beaten = {r["symbol"] for r in countdown_requests(simulator) if r["received_at"] > when and r["status"]}
    return beaten == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


def test_it_takes_over_an_expired_lease(simulator, make_account, make_policy, engine_thread):
    account = make_account()
    policy = make_policy(account, "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    # A crashed engine's lease: still held for another second, never renewed.
    expires = timezone.now() + timedelta(seconds=1)
    Duty.objects.create(
        name="engine:default", holder="crashed", expires_at=expires, acquired_at=timezone.now()
    )
    engine = Engine(engine_id="survivor", config=fast_config())
    with engine_thread(engine):
        wait_for(lambda: engine.is_active, timeout=3, message="take-over")
        took_over = timezone.now()
        wait_for(lambda: "BTCUSDT" in armed_symbols(simulator), timeout=1)
        assert engine_alive()
    assert expires <= took_over < expires + timedelta(seconds=0.5)
    assert not engine_alive()


def test_it_times_the_lease_on_the_databases_clock_not_the_hosts(monkeypatch):
    first, second = Lease("engine:default", "first", ttl=2.0), Lease("engine:default", "second", ttl=2.0)
    assert first.acquire()
    # The second engine's host clock runs a minute ahead: the lease is still running all the same.
    ahead = timezone.now() + timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: ahead)
    assert lease_wait("engine:default", "second") > 1
    assert not second.acquire()
    assert Duty.objects.get(name="engine:default").holder == "first"


def test_it_audits_an_engine_coming_up_taking_over_and_stopping(
    simulator, make_account, make_policy, engine_thread
):
    actions.arm(make_policy(make_account(), "BTCUSDT").pk, user=None, ip=None)
    Duty.objects.create(
        name="engine:default",
        holder="crashed",
        expires_at=timezone.now() + timedelta(seconds=0.3),
        acquired_at=timezone.now(),
    )
    with engine_thread(Engine(engine_id="survivor", config=fast_config())):
        wait_for(engine_alive, timeout=3, message="take-over")
    rows = list(
        Operation.objects.exclude(action=Action.ARM)
        .order_by("at")
        .values_list("action", "username", "reason")
    )
    assert [(a, u) for a, u, _ in rows] == [
        (Action.ENGINE_STOP, "engine"),
        (Action.ENGINE_START, "engine"),
        (Action.ENGINE_STOP, "engine"),
    ]
    assert "crashed stopped without handing over" in rows[0][2]
    assert "survivor took over" in rows[1][2]
    assert "survivor stopped: stopped" in rows[2][2]


def test_a_clean_hand_over_to_a_standby_is_not_an_audited_event(
    simulator, make_account, make_policy, engine_thread
):
    actions.arm(make_policy(make_account(), "BTCUSDT").pk, user=None, ip=None)
    one = Engine(engine_id="one", config=fast_config())
    two = Engine(engine_id="two", config=fast_config())
    with contextlib.ExitStack() as both:
        first = both.enter_context(contextlib.ExitStack())
        first.enter_context(engine_thread(one))
        wait_for(lambda: one.is_active, message="the first engine active")
        both.enter_context(engine_thread(two))
        wait_for(lambda: liveness.standbys("default", exclude="one"), message="the second standing by")
        first.close()  # the first one's worker process restarts: it hands the lease over
        wait_for(lambda: two.is_active, timeout=4, message="hand-over to the standby")
        actions_seen = list(Operation.objects.order_by("at").values_list("action", flat=True))
    assert actions_seen[:2] == [Action.ARM, Action.ENGINE_START]
    assert Action.ENGINE_STOP not in actions_seen[:3], "a hand-over to a standby is not a stop"
