"""One engine per egress identity: the lease is a conditional UPDATE with a row-count check, and no two
engines ever send at the same time."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats import actions
from heartbeats.engine import Engine, engine_alive
from heartbeats.engine.lease import Lease
from heartbeats.models import EngineLease
from tests.engine.conftest import armed_symbols, countdown_requests, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_grants_the_lease_to_one_holder_until_it_expires():
    first, second = Lease("default", "first", ttl=0.5), Lease("default", "second", ttl=0.5)
    first.ensure_row()
    assert first.acquire()
    assert not second.acquire()
    assert first.renew()
    time.sleep(0.6)
    assert second.looks_free()
    assert second.acquire()
    assert not first.renew(), "an expired holder learns it lost the lease"
    assert not first.release()
    assert second.release()
    assert EngineLease.objects.get(egress="default").holder == ""


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
            both = one.is_active and two.is_active
            samples.append(one.is_active or two.is_active)
            if both:
                overlaps.append(time.time())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    first, second = engine_thread(one), engine_thread(two)
    running = []
    try:
        first.__enter__()
        running.append(first)
        wait_for(lambda: one.is_active, message="first engine active")
        second.__enter__()
        running.append(second)
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
        time.sleep(1.5)
        assert not two.is_active
        handing_over = time.time()
        running.remove(first)
        first.__exit__(None, None, None)  # a clean end of shift: the standby takes over at once
        wait_for(lambda: two.is_active, timeout=1, message="take-over after release")
        took_over = time.time()
        time.sleep(1.5)
    finally:
        for context in reversed(running):
            context.__exit__(None, None, None)
        done.set()
        watcher.join()
    assert took_over - handing_over < 0.5
    assert overlaps == []
    assert sum(samples) > len(samples) * 0.8
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        sent = [r["received_at"] for r in countdown_requests(simulator, symbol)]
        gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
        assert min(gaps) > 0.5, f"{symbol} was beaten twice in a row: {gaps}"
    assert simulator.exchange.cancellations() == []


def test_it_takes_over_an_expired_lease(simulator, make_account, make_policy, engine_thread):
    account = make_account()
    policy = make_policy(account, "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    # A crashed engine's lease: still held for another second, never renewed.
    expires = timezone.now() + timedelta(seconds=1)
    EngineLease.objects.create(
        egress="default", holder="crashed", expires_at=expires, acquired_at=timezone.now()
    )
    engine = Engine(engine_id="survivor", config=fast_config())
    with engine_thread(engine):
        wait_for(lambda: engine.is_active, timeout=3, message="take-over")
        took_over = timezone.now()
        wait_for(lambda: "BTCUSDT" in armed_symbols(simulator), timeout=1)
        assert engine_alive()
    assert expires <= took_over < expires + timedelta(seconds=0.5)
    assert not engine_alive()
