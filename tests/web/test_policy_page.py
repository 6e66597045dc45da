import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.domain import audit
from heartbeats.models import Action, Beat
from tests.web.conftest import API_KEY, SECRET

pytestmark = pytest.mark.django_db


def _beats(policy, n=12):
    start = timezone.now() - timedelta(seconds=30 * n)
    outcomes = ["confirmed"] * (n - 2) + ["uncertain", "fatal"]
    for i, outcome in enumerate(outcomes):
        Beat.objects.create(
            policy=policy,
            generation=1,
            kind="arm",
            countdown_ms=120_000,
            due_at=start + timedelta(seconds=30 * i),
            sent_at=start + timedelta(seconds=30 * i, milliseconds=7),
            latency_ms=None if outcome == "uncertain" else 40.0 + i,
            outcome=outcome,
            http_status=200 if outcome == "confirmed" else (None if outcome == "uncertain" else 401),
            error_code=-2015 if outcome == "fatal" else None,
            message="Invalid API-key, IP, or permissions for action." if outcome == "fatal" else "",
            used_weight=10 * (i + 1),
            sender="engine-1",
        )


def test_it_shows_a_policy_with_its_status_and_key_only_as_last_four(as_viewer, desk):
    policy = desk["armed"]
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert "BTCUSDT" in html and "status-armed" in html
    assert "…" + API_KEY[-4:] in html
    assert API_KEY not in html and SECRET not in html


def test_it_draws_the_latency_chart_as_inline_svg(as_viewer, desk):
    policy = desk["armed"]
    _beats(policy)
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert '<svg class="chart"' in html
    assert len(re.findall(r'<circle class="pt pt-confirmed"', html)) == 10
    assert 'class="pt pt-uncertain"' in html and 'class="pt pt-fatal"' in html
    assert re.search(r'<polyline class="chart-line" points="[\d., ]+"', html)
    assert not re.search(r"\sstyle=", html)


def test_it_ticks_the_chart_at_round_latencies_and_whole_minutes(as_viewer, desk):
    """Twelve beats 30 s apart, latencies up to 51 ms: 0, 20, 40, 60 ms up the side, whole minutes along."""
    policy = desk["armed"]
    _beats(policy)
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert re.findall(r'dominant-baseline="middle">([^<]*)</text>', html) == ["0", "20", "40", "60"]
    times = re.findall(r'<text class="chart-label" x="[\d.]+" y="\d+" text-anchor="\w+">([^<]*)</text>', html)
    assert len(times) >= 5 and all(re.fullmatch(r"\d\d:\d\d", t) for t in times), times


def test_it_lists_beat_outcomes_with_lateness_and_errors(as_viewer, desk):
    policy = desk["armed"]
    _beats(policy)
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert "Outcome unknown" in html and "Fatal error" in html
    assert "-2015 Invalid API-key" in html
    assert ">7 ms<" in html  # sent 7 ms after it was due


def test_it_says_when_there_are_no_beats(as_viewer, desk):
    html = as_viewer.get(reverse("policy", args=[desk["disarmed"].pk])).content.decode()
    assert "No beats recorded yet." in html


def test_it_lists_the_operations_that_touched_the_policy(as_viewer, operator, desk):
    policy = desk["armed"]
    audit.record(
        Action.ARM, user=operator, ip="10.0.0.1", policy=policy, targets=[audit.target(policy, "armed")]
    )
    audit.record(
        Action.DISARM_ALL,
        user=operator,
        ip="10.0.0.2",
        reason="exchange incident",
        targets=[audit.target(policy, "disarmed")],
    )
    audit.record(
        Action.DISARM_ALL,
        user=operator,
        ip="10.0.0.3",
        reason="other policies only",
        targets=[audit.target(desk["late"], "disarmed")],
    )
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert "10.0.0.1" in html and "exchange incident" in html
    assert "other policies only" not in html


@pytest.mark.parametrize(
    "bad,message", [("999999", "There is no policy 999999"), ("abc", "is not a policy number")]
)
def test_it_explains_an_unknown_or_malformed_policy_id(as_viewer, desk, bad, message):
    response = as_viewer.get(f"/policies/{bad}/")
    assert response.status_code == 404
    assert message in response.content.decode()


def test_it_copes_with_an_id_too_large_for_the_database(as_viewer, desk):
    response = as_viewer.get("/policies/99999999999999999999999/")
    assert response.status_code == 404


def test_it_shows_operators_the_arm_and_disarm_buttons(as_operator, desk):
    html = as_operator.get(reverse("policy", args=[desk["armed"].pk])).content.decode()
    assert reverse("policy_arm", args=[desk["armed"].pk]) in html
    assert reverse("policy_disarm", args=[desk["armed"].pk]) in html


def _form_hidden(html, name):
    tag = re.search(rf'<form method="post" data-form="{name}"[^>]*>', html).group(0)
    return tag.endswith(" hidden>")


@pytest.mark.parametrize(
    "state,arm_shown,disarm_shown",
    [("armed", False, True), ("disarmed", True, False), ("failing", True, True)],
)
def test_it_offers_the_button_that_changes_something_as_the_board_does(
    as_operator, desk, state, arm_shown, disarm_shown
):
    html = as_operator.get(reverse("policy", args=[desk[state].pk])).content.decode()
    assert _form_hidden(html, "arm") is not arm_shown
    assert _form_hidden(html, "disarm") is not disarm_shown


def test_it_says_time_left_only_while_a_countdown_runs(as_viewer, desk):
    armed = as_viewer.get(reverse("policy", args=[desk["armed"].pk])).content.decode()
    disarmed = as_viewer.get(reverse("policy", args=[desk["disarmed"].pk])).content.decode()
    assert '<span class="muted" data-cell="left">left</span>' in armed
    assert '<span class="muted" data-cell="left" hidden>left</span>' in disarmed


def test_it_names_the_last_confirmed_beat_not_an_armed_since(as_viewer, desk):
    html = as_viewer.get(reverse("policy", args=[desk["armed"].pk])).content.decode()
    assert "Last confirmed beat" in html and "Armed since" not in html


def test_it_links_every_operation_naming_results_only_where_there_are_some(
    as_viewer, key_admin, operator, desk
):
    policy = desk["armed"]
    arm = audit.record(Action.ARM, user=operator, ip="10.0.0.1", targets=[audit.target(policy, "armed")])
    change = audit.record(
        Action.POLICY_CHANGE, user=key_admin, ip="10.0.0.2", targets=[audit.target(policy, "edited")]
    )
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert f'<a href="{reverse("operation", args=[arm.pk])}">Results</a>' in html
    assert f'<a href="{reverse("operation", args=[change.pk])}">Details</a>' in html


def test_it_hides_the_buttons_from_viewers(as_viewer, desk):
    html = as_viewer.get(reverse("policy", args=[desk["armed"].pk])).content.decode()
    assert reverse("policy_disarm", args=[desk["armed"].pk]) not in html
