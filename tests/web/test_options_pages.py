"""An Options account's switch as people see it: added on the "new policy" page for an underlying (BTCUSDT
covers every BTC option), and shown on the board, the policy page, the status JSON, the API and the admin
as an Options row covering an underlying, beside futures rows that cover a symbol."""

import re

import pytest
from django.urls import reverse

from heartbeats.models import CountdownPolicy
from tests.api.conftest import ApiClient, make_token
from tests.web.conftest import SECRET, make_account, make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def options_account(simulator):
    api_key = "optionsPageKey" + "O" * 50
    simulator.exchange.add_account(api_key, "hmac", SECRET, options=True)
    return make_account("desk-options", base_url=simulator.url, api_key=api_key, venue="options")


@pytest.fixture
def mixed_desk(db):
    """An Options policy and a USD-M one on the same symbol name: only the venue tells them apart."""
    options = make_account("desk-options", venue="options")
    usdm = make_account("desk-usdm", api_key="usdmPageKey" + "U" * 53)
    return {
        "options": make_policy(options, "BTCUSDT", "armed"),
        "usdm": make_policy(usdm, "BTCUSDT", "armed"),
    }


def _post(client, account, symbol, countdown_ms=120_000, interval_s=30):
    return client.post(
        reverse("policy_new"),
        {"account": account.pk, "symbol": symbol, "countdown_ms": countdown_ms, "interval_s": interval_s},
    )


def _row(html: str, policy) -> str:
    match = re.search(rf'<tr [^>]*id="p-{policy.pk}".*?</tr>', html, re.DOTALL)
    assert match, f"no row for policy {policy.pk}"
    return match.group(0)


# -- Adding a policy ----------------------------------------------------------------------------------------


def test_the_new_policy_page_explains_the_underlying_and_names_each_accounts_venue(
    client, key_admin, options_account
):
    client.force_login(key_admin)
    html = client.get(reverse("policy_new")).content.decode()
    assert "Symbol / underlying" in html
    assert "BTCUSDT covers every BTC option" in html
    assert f'<option value="{options_account.pk}">desk-options (Options)</option>' in html


def test_a_key_admin_adds_a_policy_for_an_underlying_on_an_options_account(
    client, key_admin, options_account
):
    client.force_login(key_admin)
    response = _post(client, options_account, "BTCUSDT")
    policy = CountdownPolicy.objects.get()
    assert response.status_code == 302 and response.url == reverse("policy", args=[policy.pk])
    assert (policy.account, policy.symbol, policy.armed) == (options_account, "BTCUSDT", False)


def test_the_page_refuses_one_option_and_points_at_its_underlying(client, key_admin, options_account):
    client.force_login(key_admin)
    response = _post(client, options_account, "BTC-261225-100000-C")
    assert response.status_code == 400
    html = response.content.decode()
    assert "BTC-261225-100000-C is an option symbol" in html
    assert "enter BTCUSDT, which covers every BTC option" in html
    assert not CountdownPolicy.objects.exists()


def test_the_page_refuses_an_unknown_underlying_naming_the_venue_and_what_it_lists(
    client, key_admin, options_account, simulator
):
    client.force_login(key_admin)
    response = _post(client, options_account, "SOLUSDT")
    assert response.status_code == 400
    html = response.content.decode()
    assert f"SOLUSDT is not an underlying listed on Options at {simulator.url}" in html
    assert "Listed there: BNBUSDT, BTCUSDT, ETHUSDT." in html
    assert not CountdownPolicy.objects.exists()


def test_the_page_names_options_minimum_countdown(client, key_admin, options_account):
    client.force_login(key_admin)
    response = _post(client, options_account, "ETHUSDT", countdown_ms=4_000, interval_s=1)
    assert response.status_code == 400
    assert "the least Binance Options accepts" in response.content.decode()
    assert not CountdownPolicy.objects.exists()


# -- Seeing it ----------------------------------------------------------------------------------------------


def test_the_board_shows_options_as_the_venue_and_notes_the_underlying(as_viewer, mixed_desk):
    html = as_viewer.get(reverse("board")).content.decode()
    options, usdm = _row(html, mixed_desk["options"]), _row(html, mixed_desk["usdm"])
    assert '<td class="col-venue col-opt" data-cell="venue">Options</td>' in options
    assert '<td class="col-venue col-opt" data-cell="venue">USD-M</td>' in usdm
    note = re.compile(r'<span class="covers" data-cell="covers" title="[^"]*"( hidden)?>underlying</span>')
    assert note.search(options).group(1) is None  # shown beside the symbol
    assert note.search(usdm).group(1) == " hidden"
    # The template the board script clones for rows that come in later has the note too, hidden.
    template = html.split('<template id="policy-row-template">')[1].split("</template>")[0]
    assert note.search(template).group(1) == " hidden"


def test_the_status_json_says_what_each_symbol_covers(as_viewer, mixed_desk):
    rows = {r["id"]: r for r in as_viewer.get(reverse("status_json")).json()["policies"]}
    options, usdm = rows[mixed_desk["options"].pk], rows[mixed_desk["usdm"].pk]
    assert (options["venue"], options["symbol"], options["covers"]) == ("Options", "BTCUSDT", "underlying")
    assert (usdm["venue"], usdm["symbol"], usdm["covers"]) == ("USD-M", "BTCUSDT", "symbol")


def test_the_api_keeps_the_symbol_key_and_says_it_is_the_underlying(mixed_desk):
    _, raw = make_token("status bot", "viewer")
    row = ApiClient(raw).get(f"policies/{mixed_desk['options'].pk}").json()
    assert (row["venue"], row["symbol"], row["covers"]) == ("Options", "BTCUSDT", "underlying")
    document = ApiClient(raw).get("openapi.json").content.decode()
    assert "on an Options account the underlying its switch covers" in document


def test_the_policy_page_names_the_venue_and_the_underlying(as_viewer, mixed_desk):
    html = as_viewer.get(reverse("policy", args=[mixed_desk["options"].pk])).content.decode()
    assert "Options · " in html
    assert "underlying: the switch covers every option on BTCUSDT" in html
    assert "Options futures" not in html
    usdm = as_viewer.get(reverse("policy", args=[mixed_desk["usdm"].pk])).content.decode()
    assert "USD-M futures · " in usdm and "underlying: the switch covers" not in usdm


def test_the_admin_list_shows_the_venue_and_the_underlying(client, key_admin, mixed_desk):
    client.force_login(key_admin)
    html = client.get(reverse("admin:heartbeats_countdownpolicy_changelist")).content.decode()
    assert "Symbol / underlying" in html
    assert "BTCUSDT (underlying)" in html
    assert re.search(r'<td class="field-venue_shown">Options</td>', html)
    assert re.search(r'<td class="field-venue_shown">USD-M</td>', html)
