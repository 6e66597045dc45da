"""The latency chart's axes tick at round values: 0, 20, 40 ms; whole seconds, minutes or hours in UTC."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from heartbeats.views.charts import time_label, time_ticks, value_ticks

START = datetime(2026, 12, 7, 10, 4, 25, 493000, tzinfo=UTC)


@pytest.mark.parametrize(
    "top,ticks",
    [
        (87, [0, 20, 40, 60, 80, 100]),
        (100, [0, 20, 40, 60, 80, 100]),
        (101, [0, 50, 100, 150]),
        (250, [0, 50, 100, 150, 200, 250]),
        (12, [0, 5, 10, 15]),
        (10, [0, 2, 4, 6, 8, 10]),
        (3400, [0, 1000, 2000, 3000, 4000]),
        (0.8, [0, 0.2, 0.4, 0.6, 0.8]),
    ],
)
def test_value_ticks_are_round_steps_from_zero_to_the_top_or_just_above(top, ticks):
    assert value_ticks(top) == ticks


@pytest.mark.parametrize("top", [1, 7, 13.5, 99, 333, 1234, 29_999, 61_000])
def test_value_ticks_step_by_one_two_or_five_times_a_power_of_ten(top):
    ticks = value_ticks(top)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-2] < top <= ticks[-1] and len(ticks) <= 6
    assert all(b - a == pytest.approx(step) for a, b in zip(ticks, ticks[1:], strict=False))
    assert re.fullmatch(r"[125]0*|0\.0*[125]", f"{step:g}"), step


@pytest.mark.parametrize(
    "seconds,labels",
    [
        (40, ["10:04:30", "10:04:40", "10:04:50", "10:05:00"]),
        (195, ["10:05", "10:06", "10:07"]),
        (3600, ["10:10", "10:20", "10:30", "10:40", "10:50", "11:00"]),
        (5 * 3600, ["11:00", "12:00", "13:00", "14:00", "15:00"]),
        (2 * 86400, ["7 Dec 12:00", "8 Dec 00:00", "8 Dec 12:00", "9 Dec 00:00"]),
        (20 * 86400, ["9 Dec", "13 Dec", "17 Dec", "21 Dec", "25 Dec"]),
    ],
)
def test_time_ticks_fall_on_whole_seconds_minutes_hours_or_days_inside_the_span(seconds, labels):
    end = START + timedelta(seconds=seconds)
    ticks = time_ticks(START, end)
    step = (ticks[1] - ticks[0]).total_seconds()
    assert [time_label(t, step) for t in ticks] == labels
    assert all(START <= t <= end and t.timestamp() % step == 0 for t in ticks)
