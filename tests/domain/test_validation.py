"""Timing and symbol-spelling rules, without the exchange."""

import pytest
from django.core.exceptions import ValidationError

from heartbeats.domain import validation
from heartbeats.domain.validation import symbol_format_error, timing_errors, validate_timing


@pytest.mark.parametrize(
    ("countdown_ms", "interval_s"),
    [(120_000, 30), (32_000, 10), (5_000, 1), (3_600_000, 600), (1_802_000, 600)],
)
def test_it_accepts_sane_timings(countdown_ms, interval_s):
    validate_timing(countdown_ms, interval_s)


def test_it_refuses_an_interval_under_one_second():
    assert timing_errors(120_000, 0) == {"interval_s": "The interval must be at least 1 s."}


def test_it_refuses_an_interval_over_ten_minutes():
    assert "at most 600 s" in timing_errors(3_600_000, 601)["interval_s"]


def test_it_refuses_a_countdown_under_five_seconds_and_hints_at_milliseconds():
    message = timing_errors(120, 1)["countdown_ms"]
    assert "at least 5000 ms" in message
    assert "120 s is 120000" in message


def test_it_refuses_a_countdown_over_an_hour():
    message = timing_errors(7_200_000, 30)["countdown_ms"]
    assert "at most 3600000 ms (1 hour); 7200000 ms is 2.0 hours" in message


def test_it_does_not_convert_an_absurd_countdown_into_hours():
    message = timing_errors(10**30, 30)["countdown_ms"]
    assert message == (
        "The countdown must be at most 3600000 ms (1 hour). Countdowns are in milliseconds: 120 s is 120000."
    )


def test_it_refuses_a_countdown_too_tight_for_its_interval_and_says_what_to_change():
    message = timing_errors(20_000, 10)["countdown_ms"]
    assert "too tight for a 10 s interval" in message
    assert "at least 32000 ms" in message
    assert "Raise the countdown to 32000 ms or shorten the interval to 6 s" in message
    validate_timing(32_000, 10)
    validate_timing(20_000, 6)


def test_it_uses_three_intervals_plus_latency_margin():
    assert validation.min_countdown_ms(30) == 92_000
    assert validation.min_countdown_ms(1) == 5_000
    with pytest.raises(ValidationError):
        validate_timing(91_999, 30)


def test_it_explains_lower_case_symbols():
    assert symbol_format_error("btcusdt", "usdm") == "Symbols are upper case: BTCUSDT."


def test_it_explains_separators_in_symbols():
    message = symbol_format_error("BTC-USDT", "usdm")
    assert "without separators" in message
    assert "BTCUSDT" in message
    assert "without separators" in symbol_format_error("BTC USDT", "usdm")


def test_it_refuses_a_coin_margined_symbol_on_a_usdm_account():
    message = symbol_format_error("BTCUSD_PERP", "usdm")
    assert "COIN-M symbol" in message
    assert "USD-M" in message


def test_it_refuses_a_usdm_symbol_on_a_coin_margined_account():
    assert "not a COIN-M symbol" in symbol_format_error("BTCUSDT", "coinm")
    assert symbol_format_error("BTCUSD_PERP", "coinm") is None


def test_it_leaves_well_spelt_symbols_to_the_exchange():
    assert symbol_format_error("BTCUSDT", "usdm") is None
    assert symbol_format_error("1000PEPEUSDT", "usdm") is None
