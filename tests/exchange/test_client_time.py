"""The clock offset: measured at the round trip's midpoint, kept fresh, and repaired once on -1021."""

import time

import pytest

from heartbeats.exchange.errors import TemporaryError, TimestampError

COUNTDOWN = "/fapi/v1/countdownCancelAll"
TIME = "/fapi/v1/time"


def _calls(simulator):
    return [(e["path"].rsplit("/", 1)[1], e["status"], e["code"]) for e in simulator.exchange.requests_log()]


@pytest.mark.parametrize("skew_ms", [3000, -3000, 0])
def test_it_measures_the_exchange_clock_offset(simulator, make_client, skew_ms):
    simulator.exchange.set_skew(skew_ms)
    client = make_client()
    offset = client.sync_time()
    assert offset == client.offset_ms
    assert abs(offset - skew_ms) <= 50
    assert client.offset_error_ms is not None and client.offset_error_ms < 50
    assert abs(client.server_time() - (time.time() * 1000 + skew_ms)) < 100


@pytest.mark.parametrize("skew_ms", [3000, -3000], ids=["exchange-ahead", "exchange-behind"])
def test_it_resyncs_once_and_retries_a_signed_read_when_the_exchange_clock_jumps(
    simulator, make_client, skew_ms
):
    # recvWindow 2000: a timestamp 3 s behind is outside it; 3 s ahead is refused whatever the window.
    client = make_client(recv_window=2000)
    client.open_orders("BTCUSDT")
    simulator.exchange.set_skew(skew_ms)
    before = len(simulator.exchange.requests_log())

    assert client.open_orders("BTCUSDT") == []

    assert _calls(simulator)[before:] == [
        ("openOrders", 400, -1021),
        ("time", 200, None),
        ("openOrders", 200, None),
    ]
    assert abs(client.offset_ms - skew_ms) <= 50


@pytest.mark.parametrize("skew_ms", [3000, -3000], ids=["exchange-ahead", "exchange-behind"])
def test_a_countdown_refused_for_its_timestamp_is_neither_resynced_nor_resent(
    simulator, make_client, skew_ms
):
    # The caller checked that the countdown is still wanted just before calling: a resync or a retry
    # inside the client would sign it later than that check. The caller syncs and decides again.
    client = make_client(recv_window=2000)
    client.sync_time()
    client.countdown("BTCUSDT", 60_000)
    simulator.exchange.set_skew(skew_ms)
    before = len(simulator.exchange.requests_log())

    with pytest.raises(TimestampError) as caught:
        client.countdown("BTCUSDT", 60_000)

    assert (caught.value.http_status, caught.value.code) == (400, -1021)
    assert caught.value.used_weight is not None
    assert _calls(simulator)[before:] == [("countdownCancelAll", 400, -1021)]
    client.sync_time()
    assert client.countdown("BTCUSDT", 60_000).countdown_ms == 60_000
    assert abs(client.offset_ms - skew_ms) <= 50


def test_it_gives_up_with_a_timestamp_error_after_one_retry(simulator, make_client):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject("/fapi/v1/openOrders", code=-1021, count=2)
    with pytest.raises(TimestampError) as caught:
        client.open_orders("BTCUSDT")
    error = caught.value
    assert isinstance(error, TemporaryError)
    assert (error.http_status, error.code) == (400, -1021)
    assert _calls(simulator) == [
        ("time", 200, None),
        ("openOrders", 400, -1021),
        ("time", 200, None),
        ("openOrders", 400, -1021),
    ]


def test_it_syncs_at_the_first_signed_read_and_then_every_time_sync_every(
    simulator, make_client, time_machine
):
    # The clock runs on, and the test moves it on: the client's and the simulator's, which read the same one.
    time_machine.move_to(time.time())
    client = make_client(time_sync_every=0.3)
    assert client.synced_at is None
    client.open_orders("BTCUSDT")
    client.open_orders("BTCUSDT")
    assert [c[0] for c in _calls(simulator)] == ["time", "openOrders", "openOrders"]
    time_machine.shift(0.35)
    client.open_orders("BTCUSDT")
    assert [c[0] for c in _calls(simulator)][3:] == ["time", "openOrders"]


def test_a_countdown_never_syncs_the_clock_itself(simulator, make_client, time_machine):
    time_machine.move_to(time.time())
    client = make_client(time_sync_every=0.1)
    client.sync_time()
    time_machine.shift(0.15)  # a sync is due
    client.countdown("BTCUSDT", 60_000)
    assert [c[0] for c in _calls(simulator)] == ["time", "countdownCancelAll"]


def test_it_keeps_the_known_offset_when_a_refresh_fails(simulator, make_client, time_machine):
    time_machine.move_to(time.time())
    simulator.exchange.set_skew(2000)
    client = make_client(time_sync_every=0.1)
    client.open_orders("BTCUSDT")
    simulator.exchange.inject(TIME, kind="unavailable")
    time_machine.shift(0.15)  # a sync is due

    assert client.open_orders("BTCUSDT") == []

    assert abs(client.offset_ms - 2000) <= 50
    assert _calls(simulator)[2:] == [("time", 503, -1001), ("openOrders", 200, None)]


def test_it_sends_nothing_signed_before_it_knows_the_exchange_clock(simulator, make_client):
    client = make_client()
    simulator.exchange.inject(TIME, kind="unavailable")
    with pytest.raises(TemporaryError):
        client.open_orders("BTCUSDT")
    simulator.exchange.inject(TIME, kind="unavailable")
    with pytest.raises(TemporaryError):
        client.countdown("BTCUSDT", 60_000)
    assert simulator.exchange.requests_log("/fapi/v1/openOrders") == []
    assert simulator.exchange.requests_log(COUNTDOWN) == []


def test_it_bounds_the_offset_error_by_half_the_round_trip(simulator, make_client):
    client = make_client()
    simulator.exchange.inject(TIME, latency_ms=300)
    client.sync_time()
    # The simulator reads its clock at the end of the delay, the client assumes the middle of the trip:
    # the error is real, and within the bound the client reports.
    assert client.offset_error_ms >= 150
    assert abs(client.offset_ms) <= client.offset_error_ms + 20


def test_it_arms_with_a_local_clock_far_off(simulator, make_client):
    client = make_client(clock=lambda: time.time() - 30)  # this host's clock is 30 s slow
    ack = client.countdown("BTCUSDT", 60_000)
    assert abs(client.offset_ms - 30_000) <= 50
    assert ack.timestamp_ms == simulator.exchange.requests_log(COUNTDOWN)[-1]["timestamp"]
    assert [c[1] for c in _calls(simulator)] == [200, 200]
