import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.models import AddressLimits
from tests.web.conftest import API_KEY, SECRET, make_engine

pytestmark = pytest.mark.django_db


def _symbols_in_order(html):
    return re.findall(r'data-cell="symbol" href="/policies/\d+/">([A-Z]+)<', html)


class TestBoardAccess:
    def test_it_sends_anonymous_visitors_to_sign_in(self, client):
        response = client.get(reverse("board"))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))

    def test_it_refuses_a_user_without_a_role(self, client, outsider):
        client.force_login(outsider)
        response = client.get(reverse("board"))
        assert response.status_code == 403
        assert "no role" in response.content.decode()

    @pytest.mark.parametrize("who", ["operator", "viewer", "key_admin"])
    def test_it_shows_the_board_to_every_role(self, client, desk, who, request):
        client.force_login(request.getfixturevalue(who))
        response = client.get(reverse("board"))
        assert response.status_code == 200
        assert "BTCUSDT" in response.content.decode()

    def test_it_shows_disarm_all_and_row_buttons_to_operators(self, as_operator, desk):
        html = as_operator.get(reverse("board")).content.decode()
        assert 'id="disarm-all-button"' in html
        assert reverse("policy_disarm", args=[desk["armed"].pk]) in html

    @pytest.mark.parametrize("who", ["viewer", "key_admin"])
    def test_it_hides_disarm_all_and_row_buttons_from_non_operators(self, client, desk, who, request):
        client.force_login(request.getfixturevalue(who))
        html = client.get(reverse("board")).content.decode()
        assert reverse("disarm_all") not in html
        assert 'data-form="arm"' not in html and 'data-form="disarm"' not in html
        assert 'method="post" action="/policies/' not in html


class TestBoardContent:
    def test_it_puts_the_riskiest_rows_first(self, as_viewer, desk):
        html = as_viewer.get(reverse("board")).content.decode()
        assert _symbols_in_order(html) == ["BNBUSDT", "XRPUSDT", "ADAUSDT", "ETHUSDT", "BTCUSDT", "SOLUSDT"]

    def test_it_heads_the_send_time_column_as_the_last_confirmed_beat(self, as_viewer, desk):
        html = as_viewer.get(reverse("board")).content.decode()
        assert ">Last confirmed</th>" in html and "Armed since" not in html

    def test_it_links_a_favicon_so_browsers_do_not_ask_for_a_missing_one(self, as_viewer, desk):
        from django.contrib.staticfiles import finders

        html = as_viewer.get(reverse("board")).content.decode()
        assert re.search(r'<link rel="icon" href="/static/heartbeats/favicon[^"]*\.svg"', html)
        assert finders.find("heartbeats/favicon.svg")

    def test_it_shows_status_as_words_and_colour_class(self, as_viewer, desk):
        html = as_viewer.get(reverse("board")).content.decode()
        assert 'class="status status-expired" data-cell="status">Expired<' in html
        assert 'class="status status-late" data-cell="status">Late<' in html

    def test_it_shows_the_last_error_in_words(self, as_viewer, desk):
        html = as_viewer.get(reverse("board")).content.decode()
        assert "Invalid API-key, IP, or permissions for action." in html

    def test_it_says_a_failing_rows_error_once_and_whole(self, as_viewer, desk):
        """The failing row's status detail is its last error, whole: the Last error column does not repeat it,
        and no tooltip stands in for a cut sentence."""
        html = as_viewer.get(reverse("board")).content.decode()
        assert html.count("Invalid API-key, IP, or permissions for action.") == 1
        assert '<div class="detail" data-cell="detail">-2015 Invalid API-key' in html

    def test_it_filters_by_account(self, as_viewer, desk):
        a, _ = desk["accounts"]
        html = as_viewer.get(reverse("board"), {"account": a.pk}).content.decode()
        assert sorted(_symbols_in_order(html)) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]

    def test_it_filters_to_the_rows_at_risk(self, as_viewer, desk):
        html = as_viewer.get(reverse("board"), {"status": "risk"}).content.decode()
        assert _symbols_in_order(html) == ["BNBUSDT", "XRPUSDT", "ADAUSDT", "ETHUSDT"]

    def test_it_filters_by_one_status(self, as_viewer, desk):
        html = as_viewer.get(reverse("board"), {"status": "armed"}).content.decode()
        assert _symbols_in_order(html) == ["BTCUSDT"]

    def test_it_sorts_by_account(self, as_viewer, desk):
        html = as_viewer.get(reverse("board"), {"sort": "account"}).content.decode()
        assert _symbols_in_order(html) == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT", "BNBUSDT", "XRPUSDT"]

    def test_it_ignores_a_filter_it_does_not_understand_and_says_so(self, as_viewer, desk):
        response = as_viewer.get(reverse("board"), {"account": "abc", "status": "bogus"})
        html = response.content.decode()
        assert response.status_code == 200
        assert "were not understood" in html
        assert len(_symbols_in_order(html)) == 6

    def test_it_counts_policies_per_status(self, as_viewer, desk):
        html = as_viewer.get(reverse("board")).content.decode()
        tile = re.search(
            r'data-tile="expired">\s*<span class="tile-count num" data-field="count">(\d+)<', html
        )
        assert tile and tile.group(1) == "1"

    def test_it_never_shows_a_secret_or_a_full_api_key(self, as_operator, desk):
        html = as_operator.get(reverse("board")).content.decode()
        assert API_KEY not in html and SECRET not in html
        assert API_KEY[-12:-4] not in html

    def test_it_offers_large_type_for_wall_screens(self, as_viewer, desk):
        html = as_viewer.get(reverse("board"), {"size": "large"}).content.decode()
        assert '<body class="large">' in html


class TestBanners:
    def _visible(self, html, name):
        match = re.search(rf'data-banner="{name}"( hidden)?>', html)
        assert match, name
        return match.group(1) is None

    def test_it_raises_the_engine_down_banner_when_no_engine_is_alive(self, as_viewer, desk):
        html = as_viewer.get(reverse("board")).content.decode()
        assert self._visible(html, "engine-down")
        assert "countdowns will expire and the exchange will cancel open orders at the times shown" in html

    def test_it_raises_the_engine_down_banner_when_the_engine_is_stale(self, as_viewer, desk):
        make_engine(seen_ago=2.5)
        assert self._visible(as_viewer.get(reverse("board")).content.decode(), "engine-down")

    def test_it_lowers_the_engine_banner_while_an_engine_holds_the_lease(self, as_viewer, desk):
        make_engine(seen_ago=0.3)
        html = as_viewer.get(reverse("board")).content.decode()
        assert not self._visible(html, "engine-down")
        assert not self._visible(html, "banned")

    def test_it_says_when_the_engine_cannot_read_the_database(self, as_viewer, desk):
        make_engine(seen_ago=0.3, desired_read_at=timezone.now() - timedelta(seconds=9))
        html = as_viewer.get(reverse("board")).content.decode()
        assert self._visible(html, "engine-deaf")
        assert not self._visible(html, "engine-down")
        assert "this server now sends disarms itself" in html
        engine = as_viewer.get(reverse("status_json")).json()["engine"]
        assert engine["alive"] is False and engine["deaf_since_ms"] is not None

    def test_it_passes_on_what_the_engine_is_holding_back_and_why(self, as_viewer, desk):
        note = "Weight budget reached on http://x: holding heartbeats until the next minute."
        make_engine(seen_ago=0.3, last_error=note)
        html = as_viewer.get(reverse("board")).content.decode()
        assert self._visible(html, "engine-note")
        assert "holding heartbeats until the next minute" in html
        assert as_viewer.get(reverse("status_json")).json()["engine"]["note"] == note

    def test_it_trusts_an_engine_that_read_the_database_just_now(self, as_viewer, desk):
        make_engine(seen_ago=0.3, desired_read_at=timezone.now() - timedelta(seconds=0.5))
        html = as_viewer.get(reverse("board")).content.decode()
        assert not self._visible(html, "engine-deaf")
        assert not self._visible(html, "engine-down")

    def test_it_shows_a_ban_the_web_was_given_while_no_engine_ran(self, as_viewer, desk):
        AddressLimits.objects.create(
            egress="default", base_url="http://x", banned_until=timezone.now() + timedelta(minutes=2)
        )
        assert self._visible(as_viewer.get(reverse("board")).content.decode(), "banned")

    def test_it_does_not_count_a_fresh_engine_on_standby_as_sending(self, as_viewer, desk):
        make_engine(seen_ago=0.3, holds_lease=False)
        assert self._visible(as_viewer.get(reverse("board")).content.decode(), "engine-down")

    def test_it_says_when_the_exchange_has_banned_the_address(self, as_viewer, desk):
        make_engine(banned_until=timezone.now() + timedelta(minutes=2))
        html = as_viewer.get(reverse("board")).content.decode()
        assert self._visible(html, "banned")
        assert "no heartbeat can be sent" in html

    def test_it_says_when_the_exchange_is_rate_limiting(self, as_viewer, desk):
        make_engine(rate_limited_until=timezone.now() + timedelta(seconds=30))
        assert self._visible(as_viewer.get(reverse("board")).content.decode(), "rate-limited")

    def test_it_warns_about_a_large_clock_offset(self, as_viewer, desk):
        make_engine(clock_offset_ms=-1800)
        html = as_viewer.get(reverse("board")).content.decode()
        assert self._visible(html, "clock")
        assert "-1800 ms" in html

    def test_it_keeps_quiet_about_a_small_clock_offset(self, as_viewer, desk):
        make_engine(clock_offset_ms=40)
        assert not self._visible(as_viewer.get(reverse("board")).content.decode(), "clock")

    def test_it_shows_the_budget_gauge_per_egress(self, as_viewer, desk):
        make_engine(used_weight=130, weight_limit=2400)
        html = as_viewer.get(reverse("board")).content.decode()
        assert 'data-egress="default"' in html
        assert re.search(r'data-field="measured">130<', html)
        assert re.search(r'data-field="limit">2400<', html)


class TestPageHygiene:
    @pytest.mark.parametrize("name", ["board", "disarm_all", "login"])
    def test_it_has_no_inline_script_or_style(self, as_operator, desk, name):
        html = as_operator.get(reverse(name)).content.decode() if name != "login" else ""
        if name == "login":
            as_operator.logout()
            html = as_operator.get(reverse("login")).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"\son[a-z]+=", html)
        assert "<style" not in html


def test_it_points_browsers_asking_for_favicon_ico_at_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response.url.startswith("/static/heartbeats/favicon") and response.url.endswith(".svg")
