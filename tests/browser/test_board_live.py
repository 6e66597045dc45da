"""The board in a real browser, with the real engine beating against the simulator."""

import re
import time

import pytest
from playwright.sync_api import expect

from heartbeats.desk import actions
from tests.browser.conftest import make_user, running_engine, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _seconds(text):
    minutes, seconds = text.strip().split(":")
    return int(minutes) * 60 + int(seconds)


def test_it_ticks_the_countdown_and_resets_it_on_the_next_beat(page, live_server, desk_on_simulator):
    make_account, make_policy = desk_on_simulator
    operator = make_user("olga", "operator")
    policy = make_policy(make_account("alpha"), "BTCUSDT", interval_s=3, countdown_ms=20_000)
    with running_engine():
        actions.arm(policy.pk, user=operator, ip="127.0.0.1")
        sign_in(page, live_server, "olga")
        cell = page.locator(f'tr[data-policy-id="{policy.pk}"] [data-cell="remaining"]')
        status = page.locator(f'tr[data-policy-id="{policy.pk}"] [data-cell="status"]')
        wait_for(lambda: status.text_content() == "Armed", message="the policy armed on the board")
        seen = []

        def ticked_and_reset():
            """The countdown read every 250 ms, until it has gone down by one and back up (the next beat)."""
            seen.append(_seconds(cell.inner_text()))
            distinct = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
            pairs = list(zip(distinct, distinct[1:]))
            if any(b == a - 1 for a, b in pairs) and any(b > a for a, b in pairs):
                return True
            page.wait_for_timeout(250)
            return False

        wait_for(ticked_and_reset, timeout=8, every=0, message="the countdown ticking and reset")
    distinct = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    # It goes down one second at a time, and jumps back up when the next beat is acknowledged.
    assert any(b == a - 1 for a, b in zip(distinct, distinct[1:])), distinct
    assert any(b > a for a, b in zip(distinct, distinct[1:])), distinct
    assert max(seen) <= 20 and min(seen) >= 14, seen


def test_it_raises_the_engine_down_banner_within_two_seconds_of_the_engine_stopping(
    page, live_server, desk_on_simulator
):
    make_account, make_policy = desk_on_simulator
    operator = make_user("olga", "operator")
    policy = make_policy(make_account("alpha"), "ETHUSDT")
    banner = page.locator('[data-banner="engine-down"]')
    with running_engine() as stop_engine:
        actions.arm(policy.pk, user=operator, ip="127.0.0.1")
        sign_in(page, live_server, "olga")
        banner.wait_for(state="hidden", timeout=5000)
        stop_engine()
        stopped = time.monotonic()
        banner.wait_for(state="visible", timeout=4000)
        elapsed = time.monotonic() - stopped
    assert elapsed < 2.6, elapsed
    assert "countdowns will expire and the exchange will cancel open orders" in banner.inner_text()


def test_it_disarms_all_with_a_reason_and_shows_each_result(
    page, live_server, desk_on_simulator, simulator, artifacts
):
    make_account, make_policy = desk_on_simulator
    operator = make_user("olga", "operator")
    alpha, beta = make_account("alpha-mm"), make_account("beta-arb")
    symbols = {alpha: ["BTCUSDT", "ETHUSDT", "SOLUSDT"], beta: ["BNBUSDT", "XRPUSDT"]}
    policies = [make_policy(a, s) for a, names in symbols.items() for s in names]
    make_policy(alpha, "DOGEUSDT")  # never armed: stays out of the count
    with running_engine():
        for p in policies:
            actions.arm(p.pk, user=operator, ip="127.0.0.1")
        wait_for(lambda: len(simulator.exchange.countdowns()) == 5, message="five armed countdowns")
        sign_in(page, live_server, "olga")
        expect(page.locator(".status-armed")).to_have_count(5)
        page.screenshot(path=str(artifacts / "board.png"), full_page=True)

        page.click("#disarm-all-button")
        assert re.search(r"5 policies", page.locator("#target-count").inner_text())
        assert "alpha-mm (3)" in page.locator(".lead").inner_text()
        page.click("#confirm-disarm-all")  # no reason yet: refused, nothing sent
        assert "Give a reason" in page.content()
        assert len(simulator.exchange.countdowns()) == 5

        page.fill("textarea[name=reason]", "exchange incident drill")
        page.click("#confirm-disarm-all")
        page.wait_for_url(re.compile(r"/operations/\d+/$"))
        # Locator waits run outside the page's script world, so its CSP (no eval) never blocks them.
        expect(page.locator(".result-disarmed")).to_have_count(5, timeout=10_000)
        page.screenshot(path=str(artifacts / "disarm-all-results.png"), full_page=True)
        assert simulator.exchange.countdowns() == []  # ground truth
        assert "exchange incident drill" in page.locator(".lead").inner_text()


def test_it_keeps_disarm_all_away_from_viewers(page, live_server, desk_on_simulator):
    make_account, make_policy = desk_on_simulator
    make_user("victor", "viewer")
    make_policy(make_account("alpha"), "BTCUSDT")
    sign_in(page, live_server, "victor")
    assert page.locator("#disarm-all-button").count() == 0
    assert page.locator('[data-form="disarm"]').count() == 0
    response = page.goto(f"{live_server.url}/disarm-all/")
    assert response.status == 403
    assert "Only operators" in page.content()


def test_it_polls_every_second_and_says_when_its_data_goes_stale(page, live_server, desk_on_simulator):
    make_account, make_policy = desk_on_simulator
    make_user("victor", "viewer")
    make_policy(make_account("alpha"), "BTCUSDT")
    polls = []
    page.on("request", lambda r: polls.append(time.monotonic()) if "/status.json" in r.url else None)
    sign_in(page, live_server, "victor")
    page.wait_for_timeout(3000)  # a real interval on purpose: the page's polls are counted in it
    assert 2 <= len(polls) <= 5, polls
    stale = page.locator('[data-banner="data-stale"]')
    assert stale.is_hidden()

    page.route("**/status.json*", lambda route: route.abort())
    cut = time.monotonic()
    stale.wait_for(state="visible", timeout=6000)
    assert time.monotonic() - cut < 5.5
    assert "has not heard from the server" in stale.inner_text()
    page.unroute("**/status.json*")
    stale.wait_for(state="hidden", timeout=3000)


def test_it_says_when_the_engine_cannot_read_the_database_and_the_web_disarms_itself(
    page, live_server, desk_on_simulator, monkeypatch, settings
):
    from django.db import OperationalError

    from heartbeats.engine import sql, watcher

    make_account, make_policy = desk_on_simulator
    operator = make_user("olga", "operator")
    policy = make_policy(make_account("alpha"), "SOLUSDT")
    reading = {"fails": False}

    def failing(real):
        def read(*args, **kwargs):
            if reading["fails"]:
                raise OperationalError("server closed the connection unexpectedly")
            return real(*args, **kwargs)

        return read

    monkeypatch.setattr(watcher, "changed_since", failing(watcher.changed_since))
    monkeypatch.setattr(sql, "desired", failing(sql.desired))
    deaf = page.locator('[data-banner="engine-deaf"]')
    down = page.locator('[data-banner="engine-down"]')
    with running_engine():
        actions.arm(policy.pk, user=operator, ip="127.0.0.1")
        sign_in(page, live_server, "olga")
        status = page.locator(f'tr[data-policy-id="{policy.pk}"] [data-cell="status"]')
        wait_for(lambda: status.text_content() == "Armed", message="the policy armed on the board")
        reading["fails"] = True
        deaf.wait_for(state="visible", timeout=8000)
        assert down.is_hidden(), "one banner says what is wrong, not two"
        assert "would not see a disarm" in deaf.inner_text()
        # The operator disarms anyway: the web sends the zero itself.
        page.locator(f'tr[data-policy-id="{policy.pk}"] button:has-text("Disarm")').click()
        wait_for(lambda: status.text_content() == "Disarmed", timeout=8, message="disarmed by the web")
        reading["fails"] = False
        deaf.wait_for(state="hidden", timeout=8000)
