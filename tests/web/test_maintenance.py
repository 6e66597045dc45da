"""Maintenance windows: disarmed at the start, re-armed at the end (only what nobody touched by hand
meanwhile), every transition audited, and the page refusing bad input with a clear error and nothing
changed."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk import actions, maintenance
from heartbeats.models import Action, CountdownPolicy, MaintenanceWindow, Operation, WindowState
from tests.web.conftest import make_account, make_engine, make_policy
from tests.web.test_step_up import age_factor, verified_operator  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def _armed(*policies) -> list[bool]:
    return [CountdownPolicy.objects.get(pk=p.pk).armed for p in policies]


@pytest.fixture
def desk(db):
    make_engine()
    a = make_account("desk-a")
    b = make_account("desk-b", api_key="otherKeyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC1234")
    return {
        "a": a,
        "b": b,
        "btc": make_policy(a, "BTCUSDT", "armed"),
        "eth": make_policy(a, "ETHUSDT", "armed"),
        "sol": make_policy(a, "SOLUSDT", "disarmed"),  # already disarmed: the end must not arm it
        "bnb": make_policy(b, "BNBUSDT", "armed"),  # chosen by itself, not its account
        "xrp": make_policy(b, "XRPUSDT", "armed"),  # not in the window
    }


def _window(desk, operator, *, start=T0 + timedelta(minutes=10), end=T0 + timedelta(hours=1)):
    with time_machine.travel(T0, tick=False):
        return maintenance.create(
            user=operator,
            ip="10.0.0.1",
            reason="exchange maintenance",
            starts_at=start,
            ends_at=end,
            account_ids=[desk["a"].pk],
            policy_ids=[desk["bnb"].pk],
        )


class TestApplyDue:
    def test_it_disarms_at_the_start_and_rearms_at_the_end_with_each_transition_audited(self, desk, operator):
        window = _window(desk, operator)
        btc, eth, sol, bnb, xrp = (desk[k] for k in ("btc", "eth", "sol", "bnb", "xrp"))
        assert Operation.objects.filter(action=Action.WINDOW_CREATE).get().username == operator.username

        with time_machine.travel(T0 + timedelta(minutes=9, seconds=59), tick=False):
            assert maintenance.apply_due() == []
        assert _armed(btc, eth, sol, bnb, xrp) == [True, True, False, True, True]

        with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
            [start] = maintenance.apply_due()
            assert maintenance.apply_due() == []  # idempotent
        assert _armed(btc, eth, sol, bnb, xrp) == [False, False, False, False, True]
        assert start.action == Action.WINDOW_START and start.username == "maintenance window"
        assert start.reason == "exchange maintenance" and start.changes["disarmed"] == 3
        assert {t.symbol: t.changed for t in start.targets.all()} == {
            "BTCUSDT": True,
            "ETHUSDT": True,
            "SOLUSDT": False,
            "BNBUSDT": True,
        }
        window.refresh_from_db()
        assert window.state == WindowState.RUNNING and window.start_operation == start
        assert set(window.disarmed) == {str(btc.pk), str(eth.pk), str(bnb.pk)}

        with time_machine.travel(T0 + timedelta(hours=1), tick=False):
            [end] = maintenance.apply_due()
            assert maintenance.apply_due() == []
        assert _armed(btc, eth, sol, bnb, xrp) == [True, True, False, True, True]
        assert end.action == Action.WINDOW_END and end.changes["policies"] == 3
        window.refresh_from_db()
        assert window.state == WindowState.ENDED and window.end_operation == end

    def test_the_end_leaves_alone_policies_changed_by_hand_during_the_window(self, desk, operator):
        _window(desk, operator)
        with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
            maintenance.apply_due()
        # During the window: BTC armed again by hand; ETH armed then disarmed by hand (a newer generation).
        actions.arm(desk["btc"].pk, user=operator, ip=None)
        actions.arm(desk["eth"].pk, user=operator, ip=None)
        actions.disarm(desk["eth"].pk, user=operator, ip=None)
        before = CountdownPolicy.objects.get(pk=desk["btc"].pk).generation
        with time_machine.travel(T0 + timedelta(hours=1), tick=False):
            [end] = maintenance.apply_due()
        assert _armed(desk["btc"], desk["eth"], desk["bnb"]) == [True, False, True]
        assert CountdownPolicy.objects.get(pk=desk["btc"].pk).generation == before  # not bumped again
        assert [t.symbol for t in end.targets.all()] == ["BNBUSDT"] and end.changes["left_alone"] == 2

    def test_a_window_nobody_ran_while_it_was_due_changes_nothing(self, desk, operator):
        _window(desk, operator)
        with time_machine.travel(T0 + timedelta(hours=2), tick=False):
            [missed] = maintenance.apply_due()
        assert missed.action == Action.WINDOW_END and missed.changes["missed"] is True
        assert _armed(desk["btc"], desk["eth"], desk["bnb"]) == [True, True, True]

    def test_overlapping_windows_keep_a_shared_policy_disarmed_until_the_last_one_ends(self, desk, operator):
        _window(desk, operator)  # 13:10 to 14:00, desk-a and BNB
        with time_machine.travel(T0, tick=False):
            maintenance.create(
                user=operator,
                ip=None,
                reason="second",
                starts_at=T0 + timedelta(minutes=20),
                ends_at=T0 + timedelta(hours=2),
                policy_ids=[desk["btc"].pk],
            )
        with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
            assert len(maintenance.apply_due()) == 2
        with time_machine.travel(T0 + timedelta(hours=1), tick=False):
            maintenance.apply_due()
        assert _armed(desk["btc"], desk["eth"], desk["bnb"]) == [False, True, True]
        with time_machine.travel(T0 + timedelta(hours=2), tick=False):
            maintenance.apply_due()
        assert _armed(desk["btc"]) == [True]

    def test_end_now_and_extend_are_audited_and_refused_once_ended(self, desk, operator):
        window = _window(desk, operator)
        with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
            maintenance.apply_due()
            ext = maintenance.extend(
                window.pk, user=operator, ip=None, reason="longer", ends_at=T0 + timedelta(hours=3)
            )
            with pytest.raises(ValueError, match="later than the current one"):
                maintenance.extend(
                    window.pk, user=operator, ip=None, reason="x", ends_at=T0 + timedelta(hours=2)
                )
        assert ext.action == Action.WINDOW_EXTEND and ext.user == operator
        with time_machine.travel(T0 + timedelta(hours=1), tick=False):
            assert maintenance.apply_due() == []  # extended: not yet
            early = maintenance.end_now(window.pk, user=operator, ip=None, reason="done early")
            with pytest.raises(ValueError, match="already ended"):
                maintenance.end_now(window.pk, user=operator, ip=None, reason="again")
        assert early.action == Action.WINDOW_END_EARLY and early.targets.count() == 3
        assert _armed(desk["btc"], desk["eth"], desk["bnb"]) == [True, True, True]


class TestPage:
    def _post(self, client, **fields):
        now = timezone.now().replace(microsecond=0)
        data = {
            "reason": "exchange maintenance",
            "starts_at": (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"),
            "ends_at": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
            **fields,
        }
        return client.post(reverse("maintenance_create"), data)

    def test_an_operator_schedules_a_window_and_a_viewer_only_sees_it(
        self, client, as_operator, desk, viewer
    ):
        response = self._post(as_operator, accounts=[desk["a"].pk], policies=[desk["bnb"].pk])
        assert response.status_code == 302 and response.url == reverse("maintenance")
        window = MaintenanceWindow.objects.get()
        assert window.created_by_name == "olga" and window.state == WindowState.SCHEDULED
        page = as_operator.get(reverse("maintenance")).content.decode()
        assert "exchange maintenance" in page and 'data-action="end"' in page
        assert f'value="{window.ends_at:%Y-%m-%d %H:%M}"' in page  # Extend starts from the current end

        client.force_login(viewer)
        page = client.get(reverse("maintenance")).content.decode()
        assert "exchange maintenance" in page and 'data-action="end"' not in page
        assert self._post(client, accounts=[desk["a"].pk]).status_code == 403
        assert client.post(reverse("maintenance_end", args=[window.pk]), {"reason": "x"}).status_code == 403
        assert MaintenanceWindow.objects.count() == 1
        assert MaintenanceWindow.objects.get().state == WindowState.SCHEDULED

    @pytest.mark.parametrize(
        "fields, error",
        [
            ({"reason": ""}, "Give a reason"),
            ({}, "Choose at least one account or policy"),
            ({"accounts": ["999999"]}, "Account 999999 does not exist"),
            ({"accounts": ["abc"]}, "is not an account number"),
            ({"policies": ["9" * 30]}, "does not exist"),
            ({"starts_at": "2020-01-01T10:00", "accounts": "A"}, "The start is in the past"),
            ({"starts_at": "tomorrow", "accounts": "A"}, "Give a date and time"),
            ({"ends_at": "99999-01-01T00:00", "accounts": "A"}, "Give a date and time"),
            ({"ends_at": "2026-13-45T25:00", "accounts": "A"}, "Give a date and time"),
            ({"ends_at": "2000-01-01T00:00", "accounts": "A"}, "The end must come after the start"),
        ],
    )
    def test_bad_input_is_refused_with_a_clear_error_and_nothing_created(
        self, as_operator, desk, fields, error
    ):
        if fields.get("accounts") == "A":
            fields = {**fields, "accounts": [desk["a"].pk]}
        response = self._post(as_operator, **fields)
        assert response.status_code == 400
        assert error in response.content.decode()
        assert not MaintenanceWindow.objects.exists()

    def test_end_now_and_extend_from_the_page(self, as_operator, desk, operator):
        window = maintenance.create(
            user=operator,
            ip=None,
            reason="release",
            starts_at=timezone.now(),
            ends_at=timezone.now() + timedelta(hours=1),
            account_ids=[desk["a"].pk],
        )
        maintenance.apply_due()
        later = (window.ends_at + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
        url = reverse("maintenance_extend", args=[window.pk])
        refused = as_operator.post(url, {"reason": "longer", "ends_at": "2001-01-01T00:00"})
        assert refused.status_code == 400 and "later than the current one" in refused.content.decode()
        assert as_operator.post(url, {"reason": "", "ends_at": later}).status_code == 400
        assert as_operator.post(url, {"reason": "longer", "ends_at": later}).status_code == 302
        window.refresh_from_db()
        assert window.ends_at.strftime("%Y-%m-%dT%H:%M:%S") == later

        response = as_operator.post(reverse("maintenance_end", args=[window.pk]), {"reason": "done"})
        op = Operation.objects.get(action=Action.WINDOW_END_EARLY)
        assert response.status_code == 302 and response.url == reverse("operation", args=[op.pk])
        assert _armed(desk["btc"], desk["eth"], desk["sol"]) == [True, True, False]
        assert "Maintenance window ended early" in as_operator.get(response.url).content.decode()
        again = as_operator.post(reverse("maintenance_end", args=[window.pk]), {"reason": "done"})
        assert again.status_code == 400 and "already ended" in again.content.decode()

    @pytest.mark.parametrize("window_id", ["abc", "0", "9" * 30, "424242"])
    def test_unknown_windows_are_a_clear_404(self, as_operator, desk, window_id):
        response = as_operator.post(reverse("maintenance_end", args=[window_id]), {"reason": "x"})
        assert response.status_code == 404

    @pytest.mark.usefixtures("verified_operator")
    def test_a_stale_second_factor_is_refused_with_nothing_created(self, client, desk):
        age_factor(client, 301)
        assert self._post(client, accounts=[desk["a"].pk]).status_code == 403
        assert not MaintenanceWindow.objects.exists()
        page = client.get(reverse("maintenance")).content.decode()
        assert 'id="give-second-factor"' in page and 'id="window-form"' not in page


class TestTimes:
    """The form's times: 24-hour UTC typed as YYYY-MM-DD HH:MM (no browser picker), Start now, a duration."""

    def _post(self, client, desk, **fields):
        data = {"reason": "exchange maintenance", "accounts": [desk["a"].pk], **fields}
        return client.post(reverse("maintenance_create"), data)

    @pytest.mark.parametrize(
        "typed",
        [
            "2026-12-01 14:00",
            "2026-12-01 14:00 UTC",
            "2026-12-01T14:00",
            "2026-12-01 14:00:00",
            " 2026-12-01 14:00Z ",
        ],
    )
    def test_it_reads_24_hour_utc_times(self, as_operator, desk, typed):
        with time_machine.travel(T0, tick=False):
            response = self._post(as_operator, desk, starts_at=typed, ends_at="2026-12-01 15:30")
        assert response.status_code == 302
        window = MaintenanceWindow.objects.get()
        assert (window.starts_at, window.ends_at) == (
            datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
            T0 + timedelta(hours=2.5),
        )

    @pytest.mark.parametrize(
        "typed",
        [
            "12/01/2026 02:00 PM",
            "2026-12-01 2:00 PM",
            "2026-12-01",
            "2026-12-01 14h00",
            "２０２６-12-01 14:00",
            "2026-02-30 14:00",
        ],
    )
    def test_it_refuses_other_spellings_and_gives_back_everything_typed(self, as_operator, desk, typed):
        with time_machine.travel(T0, tick=False):
            response = self._post(
                as_operator, desk, starts_at=typed, ends_at="", lasts="30", policies=[desk["bnb"].pk]
            )
        assert response.status_code == 400 and not MaintenanceWindow.objects.exists()
        page = response.content.decode()
        assert "Give a date and time as YYYY-MM-DD HH:MM in 24-hour UTC, e.g. 2026-11-30 14:00" in page
        assert f'value="{typed}"' in page and ">exchange maintenance</textarea>" in page
        assert f'value="{desk["a"].pk}" id="id_accounts_0" checked' in page
        assert f'<option value="{desk["bnb"].pk}" selected>' in page
        assert '<option value="30" selected>30 min</option>' in page

    def test_start_now_and_a_duration_stand_for_the_times(self, as_operator, desk):
        with time_machine.travel(T0, tick=False):
            response = self._post(as_operator, desk, start_now="on", starts_at="not looked at", lasts="30")
            assert response.status_code == 302
            window = MaintenanceWindow.objects.get()
            assert (window.starts_at, window.ends_at) == (T0, T0 + timedelta(minutes=30))
            [start] = maintenance.apply_due()
        assert start.action == Action.WINDOW_START

    def test_it_asks_for_an_end_or_a_duration_and_for_a_start_or_start_now(self, as_operator, desk):
        with time_machine.travel(T0, tick=False):
            response = self._post(as_operator, desk, starts_at="", ends_at="")
            assert response.status_code == 400
            page = response.content.decode()
            assert "Give the start (YYYY-MM-DD HH:MM, UTC) or tick Start now." in page
            assert "Give the end (YYYY-MM-DD HH:MM, UTC) or choose how long it lasts." in page
            assert self._post(as_operator, desk, start_now="on", lasts="7").status_code == 400
            late = self._post(as_operator, desk, starts_at="9999-12-31 23:59", lasts="480")
            assert late.status_code == 400 and "24-hour UTC" in late.content.decode()
        assert not MaintenanceWindow.objects.exists()

    def test_the_form_offers_text_inputs_in_24_hour_utc(self, as_operator, desk):
        with time_machine.travel(T0, tick=False):
            page = as_operator.get(reverse("maintenance")).content.decode()
        assert 'type="datetime-local"' not in page
        assert (
            'name="starts_at" value="2026-12-01 13:01"' in page
            and 'name="ends_at" value="2026-12-01 14:01"' in page
        )
        assert (
            'placeholder="YYYY-MM-DD HH:MM"' in page and 'name="start_now"' in page and 'name="lasts"' in page
        )


class TestBanners:
    @pytest.mark.parametrize(
        "minutes, words",
        [
            (0.15, "9 s"),
            (30, "30 min"),
            (60, "1 h"),
            (90, "1 h 30 min"),
            (24 * 60, "1 day"),
            (3000, "2 days 2 h"),
        ],
    )
    def test_it_says_how_long_a_window_lasts_as_people_do(self, minutes, words):
        assert maintenance.duration_words(timedelta(minutes=minutes)) == words

    def test_the_board_announces_a_window_before_it_starts(self, as_viewer, desk, operator):
        _window(desk, operator, start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=1, minutes=30))
        line = "Maintenance from 14:00 UTC for 30 min on 4 policies, by olga: exchange maintenance"
        with time_machine.travel(T0, tick=False):
            assert line in as_viewer.get(reverse("board")).content.decode()
            [upcoming] = as_viewer.get(reverse("status_json")).json()["upcoming_maintenance"]
            assert upcoming["text"] == line
            assert upcoming["url"] == f"{reverse('maintenance')}#window-{MaintenanceWindow.objects.get().pk}"
        with time_machine.travel(T0 - timedelta(days=1), tick=False):
            data = as_viewer.get(reverse("status_json")).json()
            assert data["upcoming_maintenance"][0]["text"].startswith(
                "Maintenance from 2026-12-01 14:00 UTC for 30 min"
            )
        with time_machine.travel(T0 + timedelta(hours=1), tick=False):
            maintenance.apply_due()
            data = as_viewer.get(reverse("status_json")).json()
        assert data["upcoming_maintenance"] == [] and len(data["maintenance"]) == 1

    def test_a_running_windows_banner_names_its_policies_or_says_how_many(self, as_viewer, desk, operator):
        window = _window(desk, operator)  # desk-a (BTC, ETH; SOL already disarmed) and desk-b BNBUSDT
        with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
            maintenance.apply_due()
            page = as_viewer.get(reverse("board")).content.decode()
        line = (
            "desk-a BTCUSDT, desk-a ETHUSDT and desk-b BNBUSDT disarmed for maintenance until 14:00 UTC, "
            "by olga: exchange maintenance"
        )
        assert line in page and f'href="/maintenance/#window-{window.pk}">Window #{window.pk}</a>' in page

    def test_a_running_windows_banner_says_how_many_beyond_three(self, as_viewer, desk, operator):
        with time_machine.travel(T0, tick=False):
            window = maintenance.create(
                user=operator,
                ip=None,
                reason="release",
                starts_at=T0,
                ends_at=T0 + timedelta(hours=2),
                account_ids=[desk["a"].pk, desk["b"].pk],
            )
            maintenance.apply_due()
            [running] = as_viewer.get(reverse("status_json")).json()["maintenance"]
        assert running["text"] == "4 policies disarmed for maintenance until 15:00 UTC, by olga: release"
        assert running["url"] == f"/maintenance/#window-{window.pk}" and running["names"] == []

    def test_the_banners_cost_one_query_while_no_window_is_open(
        self, desk, operator, django_assert_num_queries
    ):
        with django_assert_num_queries(1):  # the status poll, every second: nearly always this
            assert maintenance.banners() == ([], [])
        _window(desk, operator)
        with time_machine.travel(T0, tick=False), django_assert_num_queries(3):  # and the policies it covers
            assert [w["count"] for w in maintenance.banners()[1]] == [4]
        with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
            maintenance.apply_due()
            with django_assert_num_queries(2):  # and the names of the policies it disarmed
                assert maintenance.banners()[0][0]["names"] == [
                    "desk-a BTCUSDT",
                    "desk-a ETHUSDT",
                    "desk-b BNBUSDT",
                ]
