"""The pages in a real browser without an engine: narrow and wall-screen layouts, live lapses and buttons."""

from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.domain import audit
from heartbeats.models import (
    Action,
    AlertChannel,
    AlertEvent,
    Beat,
    CountdownPolicy,
    Delivery,
    Effect,
    HoldReason,
    MaintenanceWindow,
    Notification,
    NotificationKind,
    OrdersAtStake,
    Strategy,
    Venue,
    WindowState,
)
from tests.browser.conftest import make_user, sign_in
from tests.web.conftest import make_account, make_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_LABEL = "Market making desk " + "L" * 80
FAILING_ERROR = " ".join(
    ["-2015 Invalid API-key, IP, or permissions for action, request ip: 203.0.113.250."] * 3
)


def _overflow(page, selector="html"):
    """How many pixels the element is wider than its box (> 0: it scrolls sideways)."""
    return page.evaluate(
        "(s) => { const e = document.querySelector(s); return e.scrollWidth - e.clientWidth; }", selector
    )


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


def test_the_policy_page_follows_its_orders_at_stake_without_a_reload(page, live_server):
    make_user("victor", "viewer")
    policy = make_policy(make_account("desk-a"), "BTCUSDT", "armed")
    OrdersAtStake.objects.create(policy=policy, orders=2, algo_orders=0, checked_at=timezone.now())
    sign_in(page, live_server, "victor")
    page.goto(f"{live_server.url}/policies/{policy.pk}/")
    stake = page.locator('[data-cell="stake"]')
    assert stake.inner_text().startswith("2 orders at stake")
    # A Cancel orders press answered: the next reading finds none.
    OrdersAtStake.objects.filter(policy=policy).update(orders=0, checked_at=timezone.now())
    page.wait_for_function(
        "() => document.querySelector('[data-cell=\"stake\"]').textContent.startsWith('0 orders at stake')",
        timeout=4000,
    )


# What a scroll container (the page itself or any element that scrolls sideways) overflows by, for each one
# that does: the page must fit the window, and no table of it may need a sideways scroll either.
SIDEWAYS = """() => {
  const found = [];
  const html = document.documentElement;
  if (html.scrollWidth > html.clientWidth) found.push(["html", html.scrollWidth - html.clientWidth]);
  for (const e of document.querySelectorAll("body *")) {
    const x = getComputedStyle(e).overflowX;
    if ((x === "auto" || x === "scroll") && e.scrollWidth > e.clientWidth) {
      const name = (e.id ? "#" + e.id : "") + "." + [...e.classList].join(".");
      found.push([name, e.scrollWidth - e.clientWidth]);
    }
  }
  return found;
}"""


# Each visible box or radio button of a label.check, and where the label's text starts: its first line's box.
CHECKS = """() => [...document.querySelectorAll("label.check")].filter((l) => l.offsetWidth).map((l) => {
  const input = l.querySelector("input").getBoundingClientRect();
  const range = document.createRange();
  range.setStartAfter(l.querySelector("input"));
  range.setEnd(l, l.childNodes.length);
  const text = [...range.getClientRects()].find((r) => r.width > 0);
  return { label: l.textContent.trim().slice(0, 40), input: [input.right, input.top, input.bottom],
           text: [text.left, text.top, text.bottom] };
})"""


def _widest_desk():
    """The desk at its widest: long account labels, an Options row, a held strategy, a row in every status
    with its orders at stake, a lapse, a long error; a Disarm all's results, a running maintenance window, a
    failing alert channel. Returns (the policy with a lapse, the operation)."""
    now = timezone.now()
    long_a = make_account(LONG_LABEL)
    long_b = make_account("Basis and funding arbitrage desk, Singapore book", venue=Venue.COINM)
    # An Options row: its symbol carries the "underlying" note beside it.
    long_c = make_account("Volatility desk, options on every listed underlying", venue=Venue.OPTIONS)
    policies = [
        make_policy(long_a, "1000SHIBUSDT", "armed"),
        make_policy(long_a, "ETHUSDT_251226", "late"),
        make_policy(long_a, "BTCUSDT", "expired"),
        make_policy(long_a, "SOLUSDT", "failing", last_error=FAILING_ERROR),
        make_policy(long_a, "XRPUSDT", "uncertain"),
        make_policy(long_b, "BTCUSD_PERP", "armed"),
        make_policy(long_b, "ETHUSD_PERP", "arming"),
        make_policy(long_b, "ADAUSD_PERP", "disarmed"),
        make_policy(long_b, "DOGEUSD_PERP", "late"),
        make_policy(long_c, "BTCUSDT", "armed"),
    ]
    # Its page's chart and beats: a lapse, then beats with every outcome and the exchange's longest words.
    lapsed = make_policy(long_a, "LINKUSDT", "armed", countdown_ms=60_000, interval_s=10)
    beats = [(200, "confirmed", ""), (5, "confirmed", "")] + [
        (s, outcome, f"-1001 Internal error; unable to process your request. Please try again ({s} s ago).")
        for s, outcome in ((150, "temporary"), (120, "uncertain"), (90, "rate_limited"), (60, "fatal"))
    ]
    for ago, outcome, message in beats:
        sent = now - timedelta(seconds=ago)
        Beat.objects.create(
            policy=lapsed,
            generation=1,
            kind="arm",
            countdown_ms=60_000,
            due_at=sent - timedelta(seconds=185 if ago == 5 else 0),
            sent_at=sent,
            outcome=outcome,
            latency_ms=87.0 if outcome == "confirmed" else None,
            http_status=200 if outcome == "confirmed" else 503,
            message=message,
            used_weight=2399,
            sender="engine vm-prod-frankfurt-01:123456:9f8e7d",
        )
    policies.append(lapsed)
    strategy = Strategy.objects.create(
        name="Cross-venue market maker with a long name, Tokyo",
        ping_key_hash="1" * 64,
        ping_key_hint="abcdef",
        held_reason=HoldReason.SILENT,
        held_since=now - timedelta(minutes=3),
        last_ping_at=now - timedelta(minutes=4),
    )
    for n, policy in enumerate(policies):
        if n % 2 == 0:
            policy.strategy = strategy
            policy.save(update_fields=["strategy"])
        OrdersAtStake.objects.create(
            policy=policy,
            orders=1200 + n,
            algo_orders=None if policy.account == long_b else 350,
            buy_notional=1_250_000.0,
            sell_notional=980_000.0,
            checked_at=now,
            gone_at=now - timedelta(seconds=30) if policy.symbol == "BTCUSDT" else None,
            gone_count=1200 if policy.symbol == "BTCUSDT" else None,
        )
    reason = (
        "Exchange incident: the matching engine stopped answering for every USD-M symbol of the desk " * 2
    )
    operation = audit.record(
        Action.DISARM_ALL,
        user=None,
        ip="203.0.113.250",
        reason=reason,
        changes={"policies": len(policies)},
        targets=[audit.target(p, Effect.UNCHANGED) for p in policies],
    )
    window = MaintenanceWindow.objects.create(
        created_by_name="administrator-of-the-desk",
        reason=reason,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=2),
        state=WindowState.RUNNING,
        started_at=now - timedelta(minutes=5),
        start_operation=operation,
        disarmed={str(p.pk): 2 for p in policies},
    )
    window.accounts.set([long_a])
    window.policies.set(policies[5:])
    channel = AlertChannel.objects.create(
        name="Risk desk on-call pager with a long name",
        url="json://alerts.example.net/hook",
        events=[e for e in AlertEvent.values][:8],
        repeat_minutes=15,
    )
    channel.accounts.set([long_a, long_b])
    Notification.objects.create(
        channel=channel,
        channel_name=channel.name,
        kind=NotificationKind.ALERT,
        event=AlertEvent.POLICY_FAILING,
        title=f"{LONG_LABEL} SOLUSDT is failing: {FAILING_ERROR[:120]}",
        status=Delivery.RETRYING,
        attempts=7,
        last_error="HTTPSConnectionPool(host='alerts.example.net', port=443): Max retries exceeded " * 2,
    )
    return lapsed, operation


@pytest.mark.parametrize("width,height", [(1280, 720), (1400, 900), (1920, 1080), (390, 844)])
def test_every_page_fits_the_window_with_disarm_all_in_view_for_the_widest_desk(
    page, live_server, width, height
):
    """A superuser who also operates has the most links and the longest name in the header, and the desk its
    widest rows: at a laptop's, a wide screen's and a phone's size no page scrolls sideways, nor any table in
    it; Disarm all, every row's symbol, status, time left and button are inside the window; every check box
    sits before its label's text; the board's status lines are whole."""
    admin = make_user("administrator-of-the-desk", "operator", "key admin")
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    policy, operation = _widest_desk()
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server, "administrator-of-the-desk")
    pages = (
        "/",
        "/?size=large",
        f"/policies/{policy.pk}/",
        f"/operations/{operation.pk}/",
        "/alerts/",
        "/alerts/channels/new/",
        "/strategies/new/",
        "/maintenance/",
        "/strategies/",
        "/api-tokens/",
        "/disarm-all/",
    )
    for path in pages:
        assert page.goto(f"{live_server.url}{path}").ok, path
        assert page.evaluate(SIDEWAYS) == [], path
        # Check boxes and radio buttons sit on their label's first line, before its text.
        for check in page.evaluate(CHECKS):
            (right, top, bottom), (text_left, text_top, text_bottom) = check["input"], check["text"]
            assert right <= text_left and top < text_bottom and text_top < bottom, (path, check)
        box = page.locator("#disarm-all-button").bounding_box()
        assert box, path
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (path, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (path, box)
    page.goto(f"{live_server.url}/")
    rows = page.locator("#policy-rows tr")
    assert rows.count() == 11
    shown = (
        '[data-cell="symbol"], [data-cell="covers"]:visible, [data-cell="account-inline"]:visible, '
        ".status, .countdown, button:visible"
    )
    for n in range(rows.count()):
        cells = rows.nth(n).locator(shown)
        assert cells.count() >= 4, n
        for box in (cells.nth(i).bounding_box() for i in range(cells.count())):
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (n, box)
    # The status lines are whole sentences, nothing cut off at the cell's edge.
    cut = page.evaluate(
        """() => [...document.querySelectorAll("#policy-rows .col-status *")]
            .filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.textContent)"""
    )
    assert cut == []
    detail = page.locator('.row-failing [data-cell="detail"]')
    assert detail.is_visible() and detail.inner_text() == FAILING_ERROR
