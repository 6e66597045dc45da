"""The board with 300 policies in a real browser: a page of rows at a time that keeps ticking and polling,
pages and filters that keep every policy reachable, and row buttons that act and come back to the row."""

import re

import pytest
from playwright.sync_api import expect

from heartbeats.models import CountdownPolicy
from tests.browser.conftest import make_user, sign_in, wait_for
from tests.web.conftest import make_account, make_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATES = ["armed", "armed", "armed", "late", "disarmed", "failing"]


@pytest.fixture
def desk():
    accounts = [make_account(f"desk-{i}", egress=f"ip-{i // 2}") for i in range(6)]
    return [
        make_policy(accounts[n % 6], f"S{n:03d}USDT", STATES[n % len(STATES)], countdown_ms=120_000)
        for n in range(300)
    ]


def _rows(page):
    return page.locator("#policy-rows tr")


def _seconds(text):
    minutes, seconds = text.strip().split(":")
    return int(minutes) * 60 + int(seconds)


def test_it_shows_a_page_of_rows_that_tick_and_pages_through_the_rest(page, live_server, desk):
    make_user("victor", "viewer")
    sign_in(page, live_server, "victor")
    expect(_rows(page)).to_have_count(100)
    expect(page.locator("#row-count")).to_have_text("1–100 of 300 shown")
    expect(page.locator('[data-tile="failing"] [data-field="count"]')).to_have_text("50")

    late = page.locator("#policy-rows tr.row-late").first.locator('[data-cell="remaining"]')
    first = _seconds(late.inner_text())
    wait_for(lambda: _seconds(late.inner_text()) < first, timeout=4, message="the countdown ticks down")

    page.click('#pager [data-page="next"]')
    page.wait_for_url(re.compile(r"page=2"))
    expect(page.locator("#row-count")).to_have_text("101–200 of 300 shown")
    page.click('#pager [data-page="last"]')
    expect(page.locator("#row-count")).to_have_text("201–300 of 300 shown")
    expect(page.locator('#pager [data-page="next"]')).to_be_hidden()

    # The page's own poll keeps its rows: another policy turning risky moves into view on the first page.
    page.goto(f"{live_server.url}/?sort=symbol")
    expect(_rows(page).first.locator('[data-cell="symbol"]')).to_have_text("S000USDT")
    CountdownPolicy.objects.filter(symbol="S000USDT").delete()
    expect(_rows(page).first.locator('[data-cell="symbol"]')).to_have_text("S001USDT", timeout=4000)
    expect(page.locator("#row-count")).to_have_text("1–100 of 299 shown", timeout=4000)


def test_it_filters_by_status_and_symbol_across_every_page(page, live_server, desk):
    make_user("victor", "viewer")
    sign_in(page, live_server, "victor")
    page.select_option("#id_status", "failing")  # applies on change
    page.wait_for_url(re.compile(r"status=failing"))
    expect(_rows(page)).to_have_count(50)
    expect(page.locator("#policy-rows .status-failing")).to_have_count(50)
    expect(page.locator("#pager")).to_be_hidden()

    page.goto(f"{live_server.url}/")
    page.fill("#id_symbol", "s29")
    page.press("#id_symbol", "Enter")
    page.wait_for_url(re.compile(r"symbol=s29"))
    expect(_rows(page)).to_have_count(10)
    expect(page.locator("#row-count")).to_have_text("10 shown")


def test_an_operator_arms_a_row_on_the_second_page_and_comes_back_to_it(page, live_server, desk):
    make_user("olga", "operator")
    sign_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/?sort=symbol&page=2")
    policy = next(p for p in desk if p.symbol == "S100USDT")  # disarmed (100 % 6 == 4)
    row = page.locator(f'tr[data-policy-id="{policy.pk}"]')
    row.get_by_role("button", name="Arm").click()
    page.wait_for_url(re.compile(rf"sort=symbol&page=2#p-{policy.pk}$"))
    expect(page.locator(".message-success")).to_contain_text("Arm requested for desk-4 S100USDT")
    expect(row.locator('[data-cell="desired"]')).to_have_text("Armed")
    expect(row.get_by_role("button", name="Disarm")).to_be_visible()
    policy.refresh_from_db()
    assert policy.armed
