"""The pages in a real browser without an engine: narrow and wall-screen layouts, live lapses and buttons."""

from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.models import Beat, CountdownPolicy
from tests.browser.conftest import make_user, sign_in
from tests.web.conftest import make_account, make_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_LABEL = "Market making desk " + "L" * 80


def _overflow(page, selector="html"):
    """How many pixels the element is wider than its box (> 0: it scrolls sideways)."""
    return page.evaluate(
        "(s) => { const e = document.querySelector(s); return e.scrollWidth - e.clientWidth; }", selector
    )


def test_it_fits_a_phone_and_keeps_time_left_and_the_button_in_view(page, live_server):
    make_user("olga", "operator")
    account = make_account(LONG_LABEL)
    for symbol in ("BTCUSD_PERP", "ETHUSDT", "SOLUSDT"):
        make_policy(account, symbol, "armed")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, "olga")
    assert _overflow(page) <= 0
    assert _overflow(page, ".table-wrap") <= 0
    row = page.locator("#policy-rows tr").first
    for cell in ('[data-cell="remaining"]', 'button[data-form="disarm"]', '[data-cell="account-inline"]'):
        box = row.locator(cell).bounding_box()
        assert box and box["x"] + box["width"] <= 390, cell
    page.goto(f"{live_server.url}/disarm-all/")
    assert _overflow(page) <= 0


def test_it_fits_large_type_on_a_wall_screen(page, live_server):
    make_user("victor", "viewer")
    account = make_account(LONG_LABEL)
    make_policy(account, "BTCUSDT", "armed")
    sign_in(page, live_server, "victor")
    page.goto(f"{live_server.url}/?size=large")
    assert _overflow(page) <= 0


def test_it_raises_the_orders_cancelled_banner_as_soon_as_a_lapse_shows_in_the_beats(page, live_server):
    make_user("victor", "viewer")
    policy = make_policy(make_account("<b>desk</b>"), "SOLUSDT", "armed", countdown_ms=60_000, interval_s=10)
    banner = page.locator('[data-banner="lapsed"]')
    sign_in(page, live_server, "victor")
    assert banner.is_hidden()
    now = timezone.now()
    for sent, due in (
        (now - timedelta(seconds=200), None),
        (now - timedelta(seconds=5), now - timedelta(seconds=190)),
    ):
        Beat.objects.create(
            policy=policy,
            generation=1,
            kind="arm",
            countdown_ms=60_000,
            due_at=due or sent,
            sent_at=sent,
            outcome="confirmed",
        )
    banner.wait_for(state="visible", timeout=4000)
    text = banner.inner_text()
    assert "<b>desk</b> SOLUSDT ran out at" in text and "armed again at" in text  # as text, not markup
    marker = page.locator(f'tr[data-policy-id="{policy.pk}"] [data-cell="lapse"]')
    assert marker.inner_text().startswith("Orders cancelled ")


def test_it_swaps_the_policy_page_buttons_when_someone_else_disarms(page, live_server):
    make_user("olga", "operator")
    policy = make_policy(make_account("desk-a"), "BTCUSDT", "armed")
    sign_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/policies/{policy.pk}/")
    arm, disarm = page.locator('form[data-form="arm"]'), page.locator('form[data-form="disarm"]')
    assert arm.is_hidden() and disarm.is_visible()
    now = timezone.now()
    CountdownPolicy.objects.filter(pk=policy.pk).update(
        armed=False, generation=2, disarm_acked_generation=2, disarm_acked_at=now
    )
    arm.wait_for(state="visible", timeout=4000)
    assert disarm.is_hidden()
    assert page.locator('[data-cell="left"]').is_hidden()
    assert page.locator('[data-cell="desired"]').inner_text() == "Disarmed"


@pytest.mark.parametrize("width,height", [(1280, 720), (1400, 900), (1920, 1080), (390, 844)])
def test_disarm_all_is_in_the_window_at_every_width_for_the_widest_header(page, live_server, width, height):
    """A superuser who also operates has the most links and the longest name in the header: the button must
    still be inside the window without scrolling, on the board and on the other pages."""
    admin = make_user("administrator-of-the-desk", "operator", "key admin")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    make_policy(make_account(LONG_LABEL), "BTCUSDT", "armed")
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server, "administrator-of-the-desk")
    for path in ("/", "/maintenance/", "/strategies/", "/alerts/", "/api-tokens/"):
        page.goto(f"{live_server.url}{path}")
        box = page.locator("#disarm-all-button").bounding_box()
        assert box, path
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (path, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (path, box)
        assert _overflow(page, ".topbar") <= 0, path
