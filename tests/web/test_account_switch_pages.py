"""Switches that cover a whole account (OKX, Kraken Futures) as people see them: added on the "new policy"
page with a blank symbol (or an OKX order tag), and shown on the board, the policy page, the status JSON, the
API, the admin and the lapse banner as "whole account" (or "tag X") with their venue, never an empty cell."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.models import CountdownPolicy, ExchangeAccount, Operation
from tests.api.conftest import ApiClient, make_token
from tests.web.conftest import make_account, make_engine, make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    okx = make_account("desk-okx", venue="okx", api_key="okxPageKey" + "K" * 54, key_passphrase="pass-1")
    kraken = make_account("desk-kraken", venue="kraken_futures", api_key="krakenPageKey" + "R" * 51)
    return {
        "okx": make_policy(okx, "", "armed", countdown_ms=60_000, interval_s=10),
        "tag": make_policy(okx, "mm1", "disarmed", countdown_ms=60_000, interval_s=10),
        "kraken": make_policy(kraken, "", "armed", countdown_ms=60_000, interval_s=10),
    }


def _row(html: str, policy) -> str:
    match = re.search(rf'<tr [^>]*id="p-{policy.pk}".*?</tr>', html, re.DOTALL)
    assert match, f"no row for policy {policy.pk}"
    return match.group(0)


def _post(client, account, symbol, countdown_ms=60_000, interval_s=10):
    return client.post(
        reverse("policy_new"),
        {"account": account.pk, "symbol": symbol, "countdown_ms": countdown_ms, "interval_s": interval_s},
    )


# -- Adding one ---------------------------------------------------------------------------------------------


def test_the_new_policy_page_says_a_blank_symbol_covers_the_whole_account(client, key_admin):
    okx = make_account("desk-okx", venue="okx", key_passphrase="pass-1")
    client.force_login(key_admin)
    html = client.get(reverse("policy_new")).content.decode()
    assert "leave it blank for the whole account" in html
    assert "OKX accepts a countdown of 10–120 s" in html
    assert f'<option value="{okx.pk}">desk-okx (OKX, whole account)</option>' in html


def test_a_key_admin_adds_a_whole_account_switch_and_an_okx_tag(client, key_admin):
    okx = make_account("desk-okx", venue="okx", key_passphrase="pass-1")
    client.force_login(key_admin)
    response = _post(client, okx, "")
    policy = CountdownPolicy.objects.get()
    assert response.status_code == 302 and response.url == reverse("policy", args=[policy.pk])
    assert (policy.symbol, policy.switch_name) == ("", "whole account")
    page = client.get(response.url).content.decode()
    assert "desk-okx whole account (OKX) added, disarmed" in page
    assert _post(client, okx, "mm1").status_code == 302
    assert CountdownPolicy.objects.get(symbol="mm1").switch_name == "tag mm1"


@pytest.mark.parametrize("countdown_ms", [5_000, 300_000])
def test_the_page_refuses_an_okx_countdown_outside_its_bounds(client, key_admin, countdown_ms):
    okx = make_account("desk-okx", venue="okx", key_passphrase="pass-1")
    client.force_login(key_admin)
    response = _post(client, okx, "", countdown_ms=countdown_ms, interval_s=1)
    assert response.status_code == 400
    assert "OKX accepts a countdown of 10–120 s" in response.content.decode()
    assert not CountdownPolicy.objects.exists()


# -- Seeing it ----------------------------------------------------------------------------------------------


def test_the_board_shows_whole_account_and_the_tag_with_their_venue(as_viewer, desk):
    html = as_viewer.get(reverse("board")).content.decode()
    okx, tag, kraken = _row(html, desk["okx"]), _row(html, desk["tag"]), _row(html, desk["kraken"])
    assert '<td class="col-venue col-opt" data-cell="venue">OKX</td>' in okx
    assert '<td class="col-venue col-opt" data-cell="venue">Kraken Futures</td>' in kraken
    for row, name in ((okx, "whole account"), (tag, "tag mm1"), (kraken, "whole account")):
        symbol = re.search(r'<a data-cell="symbol"[^>]*>([^<]*)</a>', row).group(1)
        assert symbol == name
    # The template the board script clones for rows that come in later can say it too.
    template = html.split('<template id="policy-row-template">')[1].split("</template>")[0]
    assert "data-whole-title=" in template


def test_the_board_script_writes_the_switch_name_for_rows_added_live():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "heartbeats/static/heartbeats/board.js").read_text()
    assert "p.switch || p.symbol" in script


def test_the_status_json_says_the_switch_covers_the_account(as_viewer, desk):
    rows = {r["id"]: r for r in as_viewer.get(reverse("status_json")).json()["policies"]}
    okx, tag, kraken = rows[desk["okx"].pk], rows[desk["tag"].pk], rows[desk["kraken"].pk]
    assert (okx["venue"], okx["symbol"], okx["covers"], okx["switch"]) == (
        "OKX",
        "",
        "account",
        "whole account",
    )
    assert (tag["symbol"], tag["covers"], tag["switch"]) == ("mm1", "account", "tag mm1")
    assert (kraken["venue"], kraken["covers"], kraken["switch"]) == (
        "Kraken Futures",
        "account",
        "whole account",
    )


def test_the_api_keeps_the_symbol_key_blank_for_the_whole_account(desk):
    _, raw = make_token("status bot", "viewer")
    row = ApiClient(raw).get(f"policies/{desk['kraken'].pk}").json()
    assert (row["venue"], row["symbol"], row["covers"], row["switch"]) == (
        "Kraken Futures",
        "",
        "account",
        "whole account",
    )
    document = ApiClient(raw).get("openapi.json").content.decode()
    assert "whole account" in document


def test_the_policy_page_names_the_whole_account_the_venue_and_its_host(as_operator, desk):
    html = as_operator.get(reverse("policy", args=[desk["okx"].pk])).content.decode()
    assert '<span class="symbol whole">whole account</span>' in html
    assert "OKX · whole account: the switch covers every open order of the account" in html
    assert ">Arm whole account</button>" in html or ">Disarm whole account</button>" in html
    assert "Arm </button>" not in html and "Disarm </button>" not in html
    tag = as_operator.get(reverse("policy", args=[desk["tag"].pk])).content.decode()
    assert "order tag: the switch covers the orders placed with tag mm1" in tag
    assert ">Arm tag mm1</button>" in tag


def test_the_kraken_policy_page_names_its_testnet_host(as_viewer):
    account = make_account("desk-kraken-demo", venue="kraken_futures")
    ExchangeAccount.objects.filter(pk=account.pk).update(environment="testnet")
    policy = make_policy(account, "", countdown_ms=60_000, interval_s=10)
    html = as_viewer.get(reverse("policy", args=[policy.pk])).content.decode()
    assert "Kraken Futures testnet (demo-futures.kraken.com)" in html


def test_the_admin_list_shows_whole_account_and_the_venue(client, key_admin, desk):
    client.force_login(key_admin)
    html = client.get(reverse("admin:heartbeats_countdownpolicy_changelist")).content.decode()
    assert re.search(r'<th class="field-symbol_shown"><a [^>]*>whole account</a></th>', html)
    assert re.search(r'<th class="field-symbol_shown"><a [^>]*>tag mm1</a></th>', html)
    assert re.search(r'<td class="field-venue_shown">OKX</td>', html)
    assert re.search(r'<td class="field-venue_shown">Kraken Futures</td>', html)


def test_the_lapse_banner_names_the_whole_account_and_its_venue(as_viewer):
    from tests.web.test_lapses import _beat

    account = make_account("desk-kraken", venue="kraken_futures")
    policy = make_policy(account, "", "armed", countdown_ms=60_000, interval_s=10)
    now = timezone.now().replace(microsecond=0)
    for s in range(400, 200, -10):  # on time, then silent for 150 s (countdown 60 s), then resumed
        _beat(policy, now - timedelta(seconds=s))
    _beat(policy, now - timedelta(seconds=60), due=now - timedelta(seconds=200))
    for s in range(50, 0, -10):
        _beat(policy, now - timedelta(seconds=s))
    html = as_viewer.get(reverse("board")).content.decode()
    banner = re.search(r'data-banner="lapsed"(.*?)</div>', html, re.S).group(0)
    assert "desk-kraken whole account (Kraken Futures)</a> ran out at" in banner
    [lapse] = as_viewer.get(reverse("status_json")).json()["lapses"]
    assert (lapse["symbol"], lapse["switch"]) == ("", "whole account (Kraken Futures)")


def test_the_operation_page_names_the_whole_account_it_armed(as_operator, desk):
    make_engine()  # an engine holds the lease: the arm is only recorded here
    response = as_operator.post(reverse("policy_arm", args=[desk["tag"].pk]), {"next": "/"})
    assert response.status_code == 302
    operation = Operation.objects.latest("pk")
    html = as_operator.get(reverse("operation", args=[operation.pk])).content.decode()
    assert '">tag mm1 (OKX)</a></td>' in html
    rows = as_operator.get(reverse("operation_json", args=[operation.pk])).json()["results"]
    assert [(r["symbol"], r["switch"]) for r in rows] == [("mm1", "tag mm1 (OKX)")]
