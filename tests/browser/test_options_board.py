"""The board in a real browser: a row of an Options account, drawn by the server or added by the page's
script when it appears, says that its symbol is an underlying; a futures row says nothing of the kind."""

import pytest
from playwright.sync_api import expect

from heartbeats.models import CountdownPolicy, Venue
from tests.browser.conftest import make_user, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_options_rows_carry_the_underlying_note_as_they_come_and_go(page, live_server, desk_on_simulator):
    make_account, make_policy = desk_on_simulator
    make_user("victor", "viewer")
    futures = make_policy(make_account("desk-usdm"), "BTCUSDT")
    options_account = make_account("desk-options")
    options_account.venue = Venue.OPTIONS
    options_account.save(update_fields=["venue"])
    drawn = make_policy(options_account, "ETHUSDT")
    sign_in(page, live_server, "victor")

    def row(policy):
        return page.locator(f'tr[data-policy-id="{policy.pk}"]')

    expect(row(drawn).locator('[data-cell="venue"]')).to_have_text("Options")
    expect(row(drawn).locator('[data-cell="covers"]')).to_be_visible()
    expect(row(drawn).locator('[data-cell="covers"]')).to_have_text("underlying")
    expect(row(futures).locator('[data-cell="venue"]')).to_have_text("USD-M")
    expect(row(futures).locator('[data-cell="covers"]')).to_be_hidden()

    # A row the page's script adds from the status JSON (cloned from the blank template) says it too.
    added = CountdownPolicy.objects.create(
        account=options_account, symbol="BTCUSDT", interval_s=30, countdown_ms=120_000
    )
    expect(row(added)).to_have_count(1, timeout=5000)
    expect(row(added).locator('[data-cell="symbol"]')).to_have_text("BTCUSDT")
    expect(row(added).locator('[data-cell="venue"]')).to_have_text("Options")
    expect(row(added).locator('[data-cell="covers"]')).to_be_visible()
    expect(row(futures).locator('[data-cell="covers"]')).to_be_hidden()
