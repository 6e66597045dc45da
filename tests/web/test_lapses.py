"""Countdowns that ran out and were armed again: the board keeps saying the orders were cancelled."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.domain.lapses import lapses_in, recent_lapses
from heartbeats.models import Beat
from tests.web.conftest import make_account, make_policy

T0 = timezone.now().replace(microsecond=0)


def _at(seconds):
    return T0 + timedelta(seconds=seconds)


class TestLapsesIn:
    def test_it_finds_none_while_heartbeats_keep_up(self):
        beats = [("arm", _at(s), 60_000) for s in range(0, 300, 10)]
        assert lapses_in(1, beats) == []

    def test_it_dates_the_expiry_from_the_last_acknowledged_arm(self):
        beats = [("arm", _at(0), 60_000), ("arm", _at(10), 60_000), ("arm", _at(150), 60_000)]
        [lapse] = lapses_in(7, beats)
        assert (lapse.policy_id, lapse.expired_at, lapse.resumed_at, lapse.resumed_by) == (
            7,
            _at(70),
            _at(150),
            "arm",
        )

    def test_it_finds_none_when_a_disarm_stopped_the_countdown_in_time(self):
        beats = [("arm", _at(0), 60_000), ("disarm", _at(30), 0), ("arm", _at(600), 60_000)]
        assert lapses_in(1, beats) == []

    def test_it_counts_a_disarm_acknowledged_after_the_expiry(self):
        beats = [("arm", _at(0), 60_000), ("disarm", _at(90), 0)]
        [lapse] = lapses_in(1, beats)
        assert (lapse.expired_at, lapse.resumed_by) == (_at(60), "disarm")


def _beat(policy, sent, *, due=None, outcome="confirmed", countdown_ms=60_000, kind="arm"):
    return Beat.objects.create(
        policy=policy,
        generation=1,
        kind=kind,
        countdown_ms=countdown_ms,
        due_at=due if due is not None else sent,
        sent_at=sent,
        outcome=outcome,
        latency_ms=5.0,
    )


def _steady(policy, start, end, interval=10):
    """On-time beats from `start` down to (not including) `end` seconds ago."""
    for s in range(start, end, -interval):
        _beat(policy, T0 - timedelta(seconds=s), due=T0 - timedelta(seconds=s, milliseconds=3))


@pytest.fixture
def engine_stopped_once(db):
    """SOLUSDT beats every 10 s, stops for 150 s (countdown 60 s), then resumes with a beat due long ago."""
    account = make_account("desk-a")
    policy = make_policy(account, "SOLUSDT", "armed", countdown_ms=60_000, interval_s=10)
    quiet = make_policy(account, "BTCUSDT", "armed", countdown_ms=60_000, interval_s=10)
    _steady(policy, 400, 200)  # beats from 400 s ago to 210 s ago
    _beat(policy, T0 - timedelta(seconds=60), due=T0 - timedelta(seconds=200))  # resumed, late
    _steady(policy, 50, 0)
    _steady(quiet, 400, 0)
    return policy, quiet


@pytest.mark.django_db
class TestRecentLapses:
    def test_it_finds_the_lapse_of_a_stopped_engine(self, engine_stopped_once):
        policy, _ = engine_stopped_once
        [lapse] = recent_lapses(T0, 60_000)
        assert lapse.policy_id == policy.pk
        assert lapse.expired_at == T0 - timedelta(seconds=210 - 60)
        assert lapse.resumed_at == T0 - timedelta(seconds=60)

    def test_it_finds_a_lapse_of_failed_attempts_sent_on_time(self, db):
        policy = make_policy(make_account("desk-a"), "ETHUSDT", "armed", countdown_ms=60_000, interval_s=10)
        _steady(policy, 300, 200)
        for s in range(200, 100, -10):  # every attempt refused or unanswered, each on time
            _beat(policy, T0 - timedelta(seconds=s), outcome="temporary")
        _steady(policy, 100, 0)
        [lapse] = recent_lapses(T0, 60_000)
        assert lapse.expired_at == T0 - timedelta(seconds=210 - 60)

    def test_it_forgets_lapses_older_than_an_hour(self, db):
        policy = make_policy(make_account("desk-a"), "ETHUSDT", "armed", countdown_ms=60_000, interval_s=10)
        _beat(policy, T0 - timedelta(hours=2))
        _beat(policy, T0 - timedelta(hours=1, minutes=5), due=T0 - timedelta(hours=2) + timedelta(seconds=10))
        assert recent_lapses(T0, 60_000) == []

    def test_it_reads_the_beats_again_only_when_the_trouble_changes(
        self, engine_stopped_once, django_assert_num_queries
    ):
        policy, _ = engine_stopped_once
        assert len(recent_lapses(T0, 60_000)) == 1
        with django_assert_num_queries(1):
            assert len(recent_lapses(T0, 60_000)) == 1
        _beat(policy, T0 - timedelta(seconds=1), outcome="uncertain")
        with django_assert_num_queries(2):
            assert len(recent_lapses(T0, 60_000)) == 1

    def test_it_costs_one_query_on_a_quiet_desk(self, db, django_assert_num_queries):
        policy = make_policy(make_account("desk-a"), "ETHUSDT", "armed", countdown_ms=60_000, interval_s=10)
        _steady(policy, 600, 0)
        assert recent_lapses(T0, 60_000) == []  # a process reads the window once
        with django_assert_num_queries(1):
            assert recent_lapses(T0, 60_000) == []

    def test_it_finds_a_lapse_whose_beats_arrive_after_it_has_read_the_window(self, engine_stopped_once):
        policy, _ = engine_stopped_once
        stopped = make_policy(policy.account, "XRPUSDT", "armed", countdown_ms=60_000, interval_s=10)
        _steady(stopped, 400, 200)  # quiet since 210 s ago
        assert len(recent_lapses(T0, 60_000)) == 1
        _beat(stopped, T0 - timedelta(seconds=1), due=T0 - timedelta(seconds=200))  # resumed just now
        found = sorted(lapse.policy_id for lapse in recent_lapses(T0, 60_000))
        assert found == sorted([policy.pk, stopped.pk])

    def test_it_finds_a_lapse_ended_by_a_beat_on_time_after_a_strategy_held_it(self, engine_stopped_once):
        policy, _ = engine_stopped_once
        held = make_policy(policy.account, "XRPUSDT", "armed", countdown_ms=60_000, interval_s=10)
        _steady(held, 400, 200)  # the strategy went quiet 210 s ago: the engine holds the arms back
        assert len(recent_lapses(T0, 60_000)) == 1
        for s in range(200, 100, -10):
            _beat(held, T0 - timedelta(seconds=s), outcome="skipped")
        assert len(recent_lapses(T0, 60_000)) == 1  # ran out, not resumed: nothing ended yet
        # The strategy pings again: the next arm is due now and goes on time.
        _beat(held, T0 - timedelta(seconds=1), due=T0 - timedelta(seconds=1, milliseconds=2))
        found = {lapse.policy_id: lapse for lapse in recent_lapses(T0, 60_000)}
        assert set(found) == {policy.pk, held.pk}
        assert found[held.pk].expired_at == T0 - timedelta(seconds=210 - 60)

    def test_it_finds_it_too_when_the_hold_began_before_the_process_first_read_the_window(self, db):
        held = make_policy(make_account("desk-a"), "XRPUSDT", "armed", countdown_ms=60_000, interval_s=10)
        _steady(held, 400, 200)
        for s in range(200, 100, -10):
            _beat(held, T0 - timedelta(seconds=s), outcome="skipped")
        assert recent_lapses(T0, 60_000) == []  # read whole: held, nothing ended yet
        _beat(held, T0 - timedelta(seconds=1), due=T0 - timedelta(seconds=1, milliseconds=2))
        [lapse] = recent_lapses(T0, 60_000)
        assert (lapse.policy_id, lapse.expired_at) == (held.pk, T0 - timedelta(seconds=210 - 60))

    def test_it_reads_the_window_again_when_the_beats_it_knew_are_gone(self, engine_stopped_once):
        assert len(recent_lapses(T0, 60_000)) == 1
        Beat.objects.all().delete()
        assert recent_lapses(T0, 60_000) == []

    def test_it_lets_a_lapse_leave_the_answer_an_hour_after_heartbeats_resumed(self, engine_stopped_once):
        assert len(recent_lapses(T0, 60_000)) == 1
        assert recent_lapses(T0 + timedelta(minutes=59), 60_000) != []
        assert recent_lapses(T0 + timedelta(minutes=61), 60_000) == []


@pytest.mark.django_db
class TestPages:
    def test_it_lists_the_lapse_in_the_status_json(self, as_viewer, engine_stopped_once):
        policy, quiet = engine_stopped_once
        data = as_viewer.get(reverse("status_json")).json()
        [lapse] = data["lapses"]
        assert (lapse["policy"], lapse["symbol"], lapse["resumed_by"]) == (policy.pk, "SOLUSDT", "arm")
        expired_ms = int((T0 - timedelta(seconds=150)).timestamp() * 1000)
        assert lapse["expired_at_ms"] == expired_ms
        rows = {r["symbol"]: r for r in data["policies"]}
        assert rows["SOLUSDT"]["status"] == "armed" and rows["SOLUSDT"]["lapsed_at_ms"] == expired_ms
        assert rows["BTCUSDT"]["lapsed_at_ms"] is None

    def test_it_says_orders_were_cancelled_on_the_board_even_though_the_policy_is_armed_again(
        self, as_viewer, engine_stopped_once
    ):
        html = as_viewer.get(reverse("board")).content.decode()
        banner = re.search(r'data-banner="lapsed"(.*?)</div>', html, re.S).group(0)
        assert " hidden" not in banner.split(">")[0]
        assert "desk-a SOLUSDT</a> ran out at" in banner and "armed again at" in banner
        expired = (T0 - timedelta(seconds=150)).strftime("%H:%M:%S")
        assert f"Orders cancelled {expired}" in html

    def test_it_keeps_the_banner_hidden_when_nothing_ran_out(self, as_viewer, desk):
        desk["expired"].delete()  # running out now: that one is shown (below)
        html = as_viewer.get(reverse("board")).content.decode()
        assert re.search(r'data-banner="lapsed" hidden', html)

    def test_it_marks_the_lapse_on_the_policy_page_and_its_chart(self, as_viewer, engine_stopped_once):
        policy, _ = engine_stopped_once
        html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
        assert "The countdown ran out 1 time in the beats below" in html
        assert len(re.findall(r'<rect class="chart-lapse"', html)) == 1
        # The latency line does not bridge the lapse: one line before it, one after.
        assert len(re.findall(r'<polyline class="chart-line"', html)) == 2

    def test_it_shows_a_countdown_running_out_now_in_the_api_the_banner_and_the_policy_page(
        self, as_viewer, engine_stopped_once
    ):
        """A silent strategy's countdown ran out: no beat ends the lapse, yet the orders are gone now."""
        from tests.api.conftest import ApiClient, make_token

        silent = make_policy(make_account("desk-b"), "DOGEUSDT", "expired", countdown_ms=60_000)
        expired_at = silent.last_arm_sent_at + timedelta(milliseconds=60_000)
        data = ApiClient(make_token("status bot", "viewer")[1]).get("status").json()
        first = data["lapses"][0]
        assert (first["policy"], first["expired_at_ms"], first["resumed_at_ms"]) == (
            silent.pk,
            int(expired_at.timestamp() * 1000),
            None,
        )
        html = as_viewer.get(reverse("board")).content.decode()
        banner = re.search(r'data-banner="lapsed"(.*?)</div>', html, re.S).group(0)
        assert "desk-b DOGEUSDT</a> ran out at" in banner and "not beaten since." in banner
        page = as_viewer.get(reverse("policy", args=[silent.pk])).content.decode()
        assert f"Ran out at {expired_at:%Y-%m-%d %H:%M:%S} UTC; not beaten since." in page
