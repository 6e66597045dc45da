"""Durations read as people say them, and a beat a strategy held back says so, wherever people read them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.domain.holds import hold_reason
from heartbeats.formats.durations import duration
from heartbeats.models import Beat

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "—"),
        (7, "7 ms"),
        (999.4, "999 ms"),
        (4_249, "4.2 s"),
        (5_000, "5 s"),
        (42_000, "42 s"),
        (82_080, "1 min 22 s"),
        (120_000, "2 min"),
        (3_900_000, "1 h 5 min"),
        (-1_500, "−1.5 s"),
    ],
)
def test_it_words_a_duration(ms, text):
    assert duration(ms) == text


def test_it_says_how_long_a_strategy_has_been_silent_in_minutes():
    assert hold_reason(True, 1000.0, 10, "", 1082.08) == "Held: no ping from the strategy for 1 min 22 s."


def _held_beat(policy):
    now = timezone.now()
    return Beat.objects.create(
        policy=policy,
        generation=1,
        kind="arm",
        countdown_ms=120_000,
        due_at=now - timedelta(milliseconds=82_080),
        sent_at=now,
        latency_ms=None,
        outcome="skipped",
        message="Held: the strategy went silent.",
        sender="engine-1",
    )


def test_the_policy_page_says_a_beat_was_held_and_how_late_in_minutes(as_viewer, desk):
    policy = desk["armed"]
    _held_beat(policy)
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert "Held: the strategy went silent" in html
    assert "Skipped (" not in html
    assert "1 min 22 s" in html and "82080 ms" not in html


def test_the_admin_says_a_beat_was_held_and_its_countdown_in_minutes(admin_client, desk):
    _held_beat(desk["armed"])
    html = admin_client.get(reverse("admin:heartbeats_beat_changelist")).content.decode()
    rows = html[html.index('id="result_list"') :]  # the filter lists every outcome's name: not a beat's
    assert "Held: the strategy went silent" in rows and "Skipped (held back or superseded)" not in rows
    # The outcome filter names both reasons an arm is not sent.
    assert "Skipped (held back or superseded)" in html[: html.index('id="result_list"')]
    assert "2 min" in rows and "120000" not in rows
