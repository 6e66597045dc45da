"""The request weight budget: heartbeats never push the exchange's count past its limit and always leave the
reserve that lets every disarm through."""

import time

import pytest

from heartbeats.desk import actions
from heartbeats.engine import Engine
from heartbeats.engine.weight import WeightMeter
from heartbeats.models import EngineLiveness
from tests.engine.conftest import countdown_requests, fast_config, wait_for


def test_it_counts_weight_per_exchange_minute_and_keeps_the_reserve():
    now = [120.5]  # 0.5 s into an exchange minute
    meter = WeightMeter(limit=100, clock=lambda: now[0])
    meter.set_reserve_for(2)  # 40 for two disarms and their second zeros
    for _ in range(6):
        assert meter.room_for(10, urgent=False)
        meter.charge(10)
    assert not meter.room_for(10, urgent=False)
    assert meter.room_for(10, urgent=True)
    meter.report(95)  # the exchange counted more (another process on this address)
    assert not meter.room_for(10, urgent=True)
    assert meter.next_minute_at() == pytest.approx(180.01)
    now[0] = 180.02
    assert meter.used() == 0
    assert meter.room_for(10, urgent=False)


def test_a_charge_never_sent_is_given_back_within_its_minute_and_never_below_the_exchanges_count():
    now = [120.5]
    meter = WeightMeter(limit=100, clock=lambda: now[0])
    sent = meter.charge(10)
    held = meter.charge(10)  # decided, then held back before signing
    meter.report(15)  # the sent one's answer: the estimate (20, the held one in flight) is kept
    assert meter.used() == 20
    meter.refund(10, held)
    assert meter.used() == 15, "the exchange's own count once the held one is given back"
    meter.refund(10, sent)  # a wrong refund cannot take the estimate below what the exchange counted
    assert meter.used() == 15
    late = meter.charge(10)
    now[0] = 180.5  # the next minute: a refund of the last one's charge changes nothing in this one
    meter.charge(10)
    meter.refund(10, late)
    assert meter.used() == 10


def test_a_count_from_across_the_minutes_turn_never_holds_the_next_minutes_heartbeats():
    now = [179.99]
    meter = WeightMeter(limit=6000, clock=lambda: now[0])
    meter.set_reserve_for(50)  # 1,000 kept for disarms
    meter.charge(2900)
    meter.report(2900, at=179.99, sent_at=179.95)  # this minute's own count
    now[0] = 180.03  # the minute turns while a beat is out; its answer carries the old minute's count
    meter.charge(10)
    meter.report(2910, at=180.02, sent_at=179.97)
    assert meter.used() == 10, "a count that may be either minute's is left out"
    meter.report(2900, at=179.99, sent_at=179.95)  # a late answer of the minute gone changes nothing
    assert meter.used() == 10
    meter.charge(2100)
    assert meter.room_for(10, urgent=False), "heartbeats go on: 2,110 of 5,000 spent"
    meter.report(2150, at=180.5, sent_at=180.45)  # the new minute's own count is taken in
    assert meter.used() == 2150


@pytest.mark.django_db(transaction=True)
def test_it_paces_heartbeats_at_the_limit_and_still_disarms(
    simulator, make_account, make_policy, engine_thread
):
    # A small limit, and the exchange's minute starting now, so the whole test happens inside one minute.
    simulator.exchange.set_limits(weight_limit=150)
    simulator.exchange.set_skew((60_000 - int(time.time() * 1000) % 60_000 + 2_000) % 60_000)
    account = make_account()
    policies = [make_policy(account, s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    engine = Engine(config=fast_config())
    with engine_thread(engine):
        # 3 policies keep 60 in reserve: heartbeats stop near 90 of 150, about 3 s in.
        wait_for(
            lambda: EngineLiveness.objects.filter(
                engine_id=engine.engine_id, last_error__contains="Weight budget reached"
            ).exists(),
            timeout=8,
            message="heartbeats held at the ceiling",
        )
        operation = actions.disarm(policies[0].pk, user=None, ip=None)
        committed = operation.at.timestamp()
        zero = wait_for(
            lambda: [r for r in countdown_requests(simulator, "BTCUSDT") if r["countdown_ms"] == 0],
            timeout=1,
            message="the disarm despite the paced heartbeats",
        )[0]
        # The second zero, final_disarm_delay later, may use the reserve too; meanwhile (over two intervals of
        # the other two policies) no heartbeat may leave.
        wait_for(
            lambda: len([r for r in countdown_requests(simulator, "BTCUSDT") if r["countdown_ms"] == 0]) >= 2,
            timeout=fast_config().final_disarm_delay + 2,
            message="the second zero",
        )
    assert all(r["status"] != 429 for r in simulator.exchange.requests_log())
    assert max(r["used_weight"] for r in simulator.exchange.requests_log()) <= 150
    assert zero["received_at"] - committed < 0.3
    assert zero["status"] == 200
    # Heartbeats reached the ceiling (limit − reserve − clock syncs) and then waited for the next minute.
    assert 7 <= _arms(simulator) <= 9
    assert [r for r in countdown_requests(simulator) if r["countdown_ms"] and r["id"] > zero["id"]] == []


def _arms(simulator) -> int:
    return len([r for r in countdown_requests(simulator) if r["countdown_ms"]])


@pytest.mark.django_db(transaction=True)
def test_arms_held_back_by_a_silent_strategy_cost_the_others_nothing(
    simulator, make_account, make_policy, engine_thread, time_machine
):
    from tests.strategies.conftest import make_strategy

    time_machine.move_to((time.time() // 60 + 1) * 60 + 1)  # one exchange minute for the whole test
    simulator.exchange.set_limits(weight_limit=300)  # 200 after the reserve for five policies' disarms
    account = make_account()
    held = [
        make_policy(account, s, countdown_ms=60_000) for s in ("BTCUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT")
    ]
    free = make_policy(account, "ETHUSDT", countdown_ms=60_000)
    make_strategy(held)  # never pinged: its policies are held back from the start
    for p in (*held, free):
        actions.arm(p.pk, user=None, ip=None)
    with engine_thread(Engine(config=fast_config())):
        wait_for(lambda: countdown_requests(simulator, "ETHUSDT"), message="the free policy armed")
        started = time.time()
        # Its beats cost 10 a second: 200 last it beyond this wait.
        wait_for(
            lambda: (
                len([r for r in countdown_requests(simulator, "ETHUSDT") if r["received_at"] > started]) >= 7
            ),
            timeout=9,
            message="seven beats of the free policy",
        )
    assert [r for r in countdown_requests(simulator) if r["symbol"] != "ETHUSDT"] == []
