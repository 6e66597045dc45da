"""The board with hundreds of policies on many egress identities: a page of rows at a time, the same few
queries whatever the size of the desk, and every filter, sort and button still there."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from heartbeats.desk.presenters import PAGE_SIZE
from heartbeats.models import CountdownPolicy
from tests.web.conftest import make_account, make_engine, make_policy

pytestmark = pytest.mark.django_db

STATES = ["armed", "armed", "armed", "late", "disarmed", "expired", "failing", "uncertain"]


def _desk(policies: int, identities: int, *, name: str = "desk"):
    """Policies in every status on two accounts per egress identity, each identity with a live engine."""
    accounts = [
        make_account(f"{name}-{i:02d}", egress=f"{name}-ip-{i // 2}", api_key=f"{name}{i:04d}" + "Z" * 50)
        for i in range(identities * 2)
    ]
    for i in range(identities):
        make_engine(egress=f"{name}-ip-{i}", weight_limit=2400)
    return [
        make_policy(accounts[n % len(accounts)], f"S{n:04d}USDT", STATES[n % len(STATES)])
        for n in range(policies)
    ]


def _queries(client, url) -> int:
    client.get(url)  # the session, the caches and the lapse watch warm up alike for every size
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _symbols(html):
    return re.findall(r'data-cell="symbol" href="/policies/\d+/">([A-Z0-9]+)<', html)


@pytest.mark.parametrize("url", ["/", "/status.json", "/?page=2&sort=symbol", "/status.json?status=risk"])
def test_it_costs_the_same_queries_for_200_policies_on_8_identities_as_for_10_on_2(as_operator, url):
    _desk(10, 2)
    small = _queries(as_operator, url)
    CountdownPolicy.objects.all().delete()
    _desk(200, 8, name="bigger")
    assert _queries(as_operator, url) == small


def test_it_shows_a_page_of_rows_riskiest_first_and_counts_them_all(as_viewer):
    _desk(250, 3)
    html = as_viewer.get(reverse("board")).content.decode()
    symbols = _symbols(html)
    assert len(symbols) == PAGE_SIZE
    first_row = html.split('<tbody id="policy-rows">')[1].split("</tr>")[0]
    assert 'class="status status-expired"' in first_row  # riskiest first
    assert "1–100 of 250 shown" in html
    armed = re.search(r'data-tile="armed">\s*<span class="tile-count num" data-field="count">(\d+)<', html)
    assert armed.group(1) == str(sum(1 for n in range(250) if STATES[n % len(STATES)] == "armed"))
    assert re.search(r'data-page="next" rel="next" href="\?page=2"', html)


def test_it_pages_through_every_policy_once(as_viewer):
    policies = _desk(250, 3)
    seen = []
    for number in (1, 2, 3):
        seen += _symbols(as_viewer.get(reverse("board"), {"page": number, "sort": "symbol"}).content.decode())
    assert seen == sorted(p.symbol for p in policies)
    last = as_viewer.get(reverse("board"), {"page": 9}).content.decode()
    assert "201–250 of 250 shown" in last and len(_symbols(last)) == 50


def test_it_keeps_the_filters_in_the_pager_links(as_viewer):
    _desk(250, 3)
    html = as_viewer.get(reverse("board"), {"sort": "symbol", "page": 2}).content.decode()
    assert 'data-query="sort=symbol"' in html
    assert 'href="?sort=symbol&amp;page=3"' in html and 'href="?sort=symbol&amp;page=1"' in html


def test_it_filters_by_status_and_account_across_all_pages(as_viewer):
    policies = _desk(250, 3)
    failing = [p.symbol for p in policies if p.status().state == "failing"]
    html = as_viewer.get(reverse("board"), {"status": "failing"}).content.decode()
    assert sorted(_symbols(html)) == sorted(failing)
    account = policies[0].account
    html = as_viewer.get(reverse("board"), {"account": account.pk, "sort": "symbol"}).content.decode()
    assert _symbols(html) == sorted(p.symbol for p in policies if p.account == account)


def test_it_finds_policies_by_part_of_their_symbol(as_viewer):
    _desk(250, 3)
    html = as_viewer.get(reverse("board"), {"symbol": "s012"}).content.decode()
    assert sorted(_symbols(html)) == [f"S012{n}USDT" for n in range(10)]
    assert 'href="/">Show all</a>' in html


def test_its_json_carries_the_page_of_rows_the_board_shows(as_viewer):
    _desk(250, 3)
    data = as_viewer.get(reverse("status_json"), {"page": 3, "sort": "symbol"}).json()
    assert data["page"] == {
        "number": 3,
        "pages": 3,
        "total": 250,
        "size": PAGE_SIZE,
        "first": 201,
        "last": 250,
    }
    assert [r["symbol"] for r in data["policies"]] == [f"S{n:04d}USDT" for n in range(200, 250)]
    assert sum(data["counts"].values()) == 250 and len(data["budget"]) == 3
    assert as_viewer.get(reverse("status_json"), {"page": "x"}).status_code == 400


def test_its_row_buttons_share_one_form_with_the_csrf_token_and_the_way_back(as_operator):
    policies = _desk(150, 2)
    html = as_operator.get(reverse("board"), {"page": 2}).content.decode()
    assert html.count('name="csrfmiddlewaretoken"') == 2  # the row form's and the header's sign-out
    assert re.search(
        r'<form method="post" id="row-action" hidden><input type="hidden" name="csrfmiddle', html
    )
    assert '<input type="hidden" name="next" value="/?page=2">' in html
    disarmed = next(p for p in policies if not p.armed)
    assert (
        f'form="row-action" class="btn btn-arm" data-form="arm" formaction="/policies/{disarmed.pk}/arm/"'
        in (as_operator.get(reverse("board"), {"symbol": disarmed.symbol}).content.decode())
    )


def test_an_operator_arms_a_row_and_comes_back_to_it(client, operator):
    client = client.__class__(enforce_csrf_checks=True)
    client.force_login(operator)
    policy = _desk(150, 2)[4]  # disarmed
    html = client.get(reverse("board"), {"page": 2}).content.decode()
    token = re.search(
        r'id="row-action" hidden><input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"', html
    )
    response = client.post(
        reverse("policy_arm", args=[policy.pk]),
        {"csrfmiddlewaretoken": token.group(1), "next": f"/?page=2#p-{policy.pk}"},
    )
    assert response.status_code == 302 and response.url == f"/?page=2#p-{policy.pk}"
    policy.refresh_from_db()
    assert policy.armed
