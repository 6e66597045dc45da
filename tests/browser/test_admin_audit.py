"""The audit trail in the admin at a desk's usual 1400 x 900: every column of the list of operations, Reason
and What changed included, is inside the window without scrolling sideways."""

import pytest

from heartbeats.models import Action, Operation
from tests.browser.conftest import make_user, sign_in
from tests.web.conftest import make_account, make_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1400, 900


def test_the_list_of_operations_shows_reason_and_what_changed_at_1400_px(page, live_server):
    make_user("victor", "viewer")
    policy = make_policy(make_account("Market making desk Alpha"), "BTCUSDT", "armed")
    Operation.objects.create(
        action=Action.POLICY_CHANGE,
        username="administrator-of-the-desk",
        ip="2001:db8:ffff:ffff:ffff:ffff:ffff:fffe",
        account=policy.account,
        policy=policy,
        reason="Widened the countdown after the exchange's latency incident of this morning, see ticket 4412",
        changes={"countdown_seconds": [120, 300], "interval_seconds": [20, 45]},
    )
    Operation.objects.create(  # a value without spaces, as a group's permissions are listed
        action=Action.GROUP_PERMISSIONS,
        username="(system)",
        reason="group key admin: permissions added: heartbeats.add_alertchannel, heartbeats.add_apitoken",
        changes={
            "added": [f"heartbeats.{verb}_exchangeaccount" for verb in ("add", "change", "delete", "view")]
        },
    )
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    sign_in(page, live_server, "victor")
    page.goto(f"{live_server.url}/admin/heartbeats/operation/")
    row = page.locator("#result_list tr", has_text="latency incident")
    for column in ("reason", "changes_summary"):
        for cell in (page.locator(f"th.column-{column}"), row.locator(f"td.field-{column}")):
            box = cell.bounding_box()
            assert box and box["width"] >= 120, (cell, box)  # a column to read, not a sliver
            assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (cell, box)
            assert box["y"] >= 0 and box["y"] < HEIGHT, (cell, box)
    assert "countdown_seconds: 120 → 300" in row.locator("td.field-changes_summary").inner_text()
    # Nothing of the list hides behind a sideways scroll.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= WIDTH
    assert (
        page.evaluate(
            "() => { const e = document.querySelector('.results'); return e.scrollWidth - e.clientWidth; }"
        )
        <= 0
    )
