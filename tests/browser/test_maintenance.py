"""An operator schedules a maintenance window in the browser: the board's banner says what it disarmed while
it runs, and the simulator shows the countdowns stopped at its start and running again after its end, with a
worker restart in the middle."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from heartbeats.desk import actions
from heartbeats.engine import engine_alive
from heartbeats.models import MaintenanceWindow, WindowState
from tests.browser.conftest import make_user, running_engine, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SYMBOLS = {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


def _luminance(css_color: str) -> float:
    """0 for black to 1 for white, from "rgb(r, g, b)"."""
    red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", css_color)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _live(simulator) -> set[str]:
    return {c["symbol"] for c in simulator.exchange.countdowns()}


def test_an_operator_schedules_a_window_that_disarms_and_rearms_on_time(
    page, live_server, desk_on_simulator, simulator, run_duties, time_machine
):
    # The simulator, the engines and the web run in this process and read one clock, which the test moves on
    # to the window's start and end instead of waiting for them (the countdowns last two minutes).
    time_machine.move_to(datetime.now(UTC))
    make_account, make_policy = desk_on_simulator
    run_duties("web", "maintenance")  # the web server's duty starts and ends the window
    operator = make_user("olga", "operator")
    desk, other = make_account("alpha-mm"), make_account("beta-mm")
    for p in [*(make_policy(desk, s) for s in sorted(SYMBOLS)), make_policy(other, "XRPUSDT")]:
        actions.arm(p.pk, user=operator, ip="127.0.0.1")

    with running_engine() as stop_first:
        wait_for(lambda: _live(simulator) == {*SYMBOLS, "XRPUSDT"}, message="four armed countdowns")
        sign_in(page, live_server, "olga")
        page.click("nav >> text=Maintenance")
        expect(page.locator("h1")).to_have_text("Maintenance windows")

        # Refused first: no reason, no account. Nothing is scheduled.
        page.click("#create-window")
        expect(page.locator("#reason-error")).to_contain_text("Give a reason")
        assert not MaintenanceWindow.objects.exists()

        # The times are typed as 24-hour UTC in text inputs of the page's dark theme: no browser picker,
        # whose clock and colours follow the browser's locale and light theme.
        for field in ("#id_starts_at", "#id_ends_at"):
            assert page.locator(field).get_attribute("type") == "text"
            assert re.fullmatch(r"\d{4}-\d\d-\d\d [0-2]\d:[0-5]\d", page.input_value(field)), field
            assert _luminance(page.locator(field).evaluate("e => getComputedStyle(e).backgroundColor")) < 0.25
        assert page.locator("#window-form").evaluate("e => getComputedStyle(e).colorScheme") == "dark"
        expect(page.locator("#window-form")).to_contain_text("YYYY-MM-DD HH:MM")

        # A 12-hour time is refused with the format to use, and everything typed comes back.
        page.fill("textarea[name=reason]", "exchange maintenance")
        page.fill("#id_starts_at", "12/07/2026 2:00 PM")
        page.locator("#window-form label.check", has_text="alpha-mm").locator("input").check()
        page.select_option("#id_lasts", "30")
        page.click("#create-window")
        expect(page.locator("#starts-at-error")).to_contain_text("YYYY-MM-DD HH:MM in 24-hour UTC")
        assert page.input_value("#id_starts_at") == "12/07/2026 2:00 PM"
        assert page.input_value("textarea[name=reason]") == "exchange maintenance"
        assert page.input_value("#id_lasts") == "30"
        assert page.locator("#window-form label.check", has_text="alpha-mm").locator("input").is_checked()
        assert not MaintenanceWindow.objects.exists()

        # A minute ahead, so that scheduling it is over well before (the clock is moved on to it below).
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=60)
        end = start + timedelta(seconds=30)
        page.fill("#id_starts_at", f"{start:%Y-%m-%d %H:%M:%S}")
        page.fill("#id_ends_at", f"{end:%Y-%m-%d %H:%M:%S}")
        page.select_option("#id_lasts", "")
        page.click("#create-window")
        expect(page.locator(".message-success")).to_contain_text("scheduled")
        expect(page.locator("#scheduled-windows")).to_contain_text("exchange maintenance")

        page.click("nav >> text=Board")
        # The board names the day too when the window starts on another day than today (near midnight).
        when = f"{start:%H:%M}" if start.date() == datetime.now(UTC).date() else f"{start:%Y-%m-%d %H:%M}"
        expect(page.locator('[data-banner="maintenance-upcoming"]')).to_contain_text(
            f"Maintenance from {when} UTC for 30 s on 3 policies, by olga: exchange maintenance"
        )
        banner = page.locator('[data-banner="maintenance"]')
        assert datetime.now(UTC) < start, "the window started while it was being scheduled"
        time_machine.shift(start - datetime.now(UTC))
        expect(banner).to_be_visible(timeout=12_000)
        expect(banner).to_contain_text(
            "alpha-mm BTCUSDT, alpha-mm ETHUSDT and alpha-mm SOLUSDT disarmed for maintenance until "
            f"{end:%H:%M} UTC, by olga: exchange maintenance"
        )
        expect(page.locator('[data-banner="maintenance-upcoming"]')).to_be_hidden()
        wait_for(lambda: _live(simulator) == {"XRPUSDT"}, timeout=10, message="disarmed on the exchange")
        stop_first()  # the worker restarts during the window

    window = MaintenanceWindow.objects.get()
    assert window.state == WindowState.RUNNING
    # Ten seconds before the end: room for the new engine to start on a loaded machine.
    time_machine.shift(end - datetime.now(UTC) - timedelta(seconds=10))
    with running_engine():
        wait_for(engine_alive, timeout=8, message="the new engine at work before the end")
        assert MaintenanceWindow.objects.get().state == WindowState.RUNNING
        time_machine.shift(end - datetime.now(UTC))
        wait_for(lambda: _live(simulator) == {*SYMBOLS, "XRPUSDT"}, timeout=20, message="armed again")
        expect(page.locator('[data-banner="maintenance"]')).to_be_hidden(timeout=5_000)
    window.refresh_from_db()
    assert window.state == WindowState.ENDED
    assert window.ended_at - window.ends_at < timedelta(seconds=2)
