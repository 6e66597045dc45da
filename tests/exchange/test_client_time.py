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
def test_it_resyncs_once_and_still_arms_when_the_exchange_clock_jumps(simulator, make_client, skew_ms):
    # recvWindow 2000: a timestamp 3 s behind is outside it; 3 s ahead is refused whatever the window.
    client = make_client(recv_window=2000)
    client.countdown("BTCUSDT", 60_000)
    simulator.exchange.set_skew(skew_ms)
    before = len(simulator.exchange.requests_log())

    ack = client.countdown("BTCUSDT", 60_000)

    assert ack.countdown_ms == 60_000
    assert _calls(simulator)[before:] == [
        ("countdownCancelAll", 400, -1021),
        ("time", 200, None),
        ("countdownCancelAll", 200, None),
    ]
    assert abs(client.offset_ms - skew_ms) <= 50
    assert (
        simulator.exchange.countdowns(client.api_key_for_tests)[0]["request_id"]
        == (simulator.exchange.requests_log()[-1]["id"])
    )


def test_it_gives_up_with_a_timestamp_error_after_one_retry(simulator, make_client):
    client = make_client()
    client.sync_time()
    simulator.exchange.inject(COUNTDOWN, code=-1021, count=2)
    with pytest.raises(TimestampError) as caught:
        client.countdown("BTCUSDT", 60_000)
    error = caught.value
    assert isinstance(error, TemporaryError)
    assert (error.http_status, error.code) == (400, -1021)
    assert "recvWindow" in error.msg and error.used_weight is not None
    assert _calls(simulator) == [
        ("time", 200, None),
        ("countdownCancelAll", 400, -1021),
        ("time", 200, None),
        ("countdownCancelAll", 400, -1021),
    ]
    assert simulator.exchange.countdowns() == []


def test_it_syncs_at_the_first_signed_call_and_then_every_time_sync_every(simulator, make_client):
    client = make_client(time_sync_every=0.3)
    assert client.synced_at is None
    client.countdown("BTCUSDT", 60_000)
    client.countdown("BTCUSDT", 60_000)
    assert [c[0] for c in _calls(simulator)] == ["time", "countdownCancelAll", "countdownCancelAll"]
    time.sleep(0.35)
    client.countdown("BTCUSDT", 60_000)
    assert [c[0] for c in _calls(simulator)][3:] == ["time", "countdownCancelAll"]


def test_it_keeps_the_known_offset_when_a_refresh_fails(simulator, make_client):
    simulator.exchange.set_skew(2000)
    client = make_client(time_sync_every=0.1)
    client.countdown("BTCUSDT", 60_000)
    simulator.exchange.inject(TIME, kind="unavailable")
    time.sleep(0.15)

    ack = client.countdown("BTCUSDT", 60_000)

    assert ack.countdown_ms == 60_000
    assert abs(client.offset_ms - 2000) <= 50
    assert _calls(simulator)[2:] == [("time", 503, -1001), ("countdownCancelAll", 200, None)]


def test_it_sends_nothing_signed_before_it_knows_the_exchange_clock(simulator, make_client):
    client = make_client()
    simulator.exchange.inject(TIME, kind="unavailable")
    with pytest.raises(TemporaryError):
        client.countdown("BTCUSDT", 60_000)
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
