"""API tokens end to end: a key admin creates tokens in the browser (each shown once), a script disarms a
policy with them over HTTP against the live server while the real engine beats the simulator, and only the
operator token from an allowed address gets through. The board, the audit and the token list say what
happened; a revoked token is refused."""

import pytest
import requests
from playwright.sync_api import expect

from heartbeats.desk import actions
from heartbeats.models import Action, CountdownPolicy, Operation
from heartbeats.models.tokens import ApiToken
from tests.browser.conftest import make_user, running_engine, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAR_ADDRESS = "192.0.2.1"  # TEST-NET-1: never the live server's client (127.0.0.1)


def _create_token(page, live_server, name, role, addresses="") -> str:
    """A key admin (signed in) creates a token on the API tokens page; the value the page shows once."""
    page.goto(f"{live_server.url}/api-tokens/")
    page.fill("#id_name", name)
    page.check(f'#field-role input[value="{role}"]')
    page.fill("#id_allowed_addresses", addresses)
    page.click("#create-token")
    expect(page.locator("#token-created h1")).to_contain_text(name)
    raw = page.locator("#token-value").input_value()
    assert raw.startswith("cg_") and len(raw) > 40, raw
    expect(page.locator("#curl-example")).to_contain_text(raw)
    expect(page.locator("#token-created")).to_contain_text(f"({role}, from {addresses or 'any address'}")
    page.click("#continue")
    page.wait_for_url(f"{live_server.url}/api-tokens/")
    token = ApiToken.objects.get(name=name)
    expect(page.locator(f'#token-table tr[data-token="{token.pk}"]')).to_contain_text(token.masked)
    assert raw not in page.content()
    return raw


def _post(live_server, raw, path, reason="exchange incident") -> requests.Response:
    return requests.post(
        f"{live_server.url}/api/v1/{path}",
        json={"reason": reason},
        headers={"Authorization": f"Bearer {raw}"},
        timeout=10,
    )


def _get(url, raw) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {raw}"}, timeout=10)


def _refused(response, status) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert list(body) == ["detail"], body
    return body["detail"]


def _desired(policy) -> tuple[bool, int]:
    fresh = CountdownPolicy.objects.get(pk=policy.pk)
    return fresh.armed, fresh.generation


def _armed_on_exchange(simulator, account) -> set[str]:
    return {c["symbol"] for c in simulator.exchange.countdowns(account.api_key)}


def test_only_an_operator_token_from_an_allowed_address_disarms_and_a_revoked_one_is_refused(
    page, live_server, desk_on_simulator, simulator
):
    make_account, make_policy = desk_on_simulator
    make_user("kim", "key admin")
    operator = make_user("olga", "operator")
    desk = make_account("alpha-mm")
    target = make_policy(desk, "BTCUSDT", interval_s=2, countdown_ms=60_000)
    bystander = make_policy(desk, "ETHUSDT", interval_s=2, countdown_ms=60_000)

    with running_engine():
        for policy in (target, bystander):
            actions.arm(policy.pk, user=operator, ip="127.0.0.1")

        # The key admin creates three tokens while the engine arms the countdowns.
        sign_in(page, live_server, "kim")
        page.click("nav.nav >> text=API tokens")
        page.wait_for_url(f"{live_server.url}/api-tokens/")
        expect(page.locator("#no-tokens")).to_be_visible()
        op_raw = _create_token(page, live_server, "incident runbook", "operator")
        viewer_raw = _create_token(page, live_server, "status bot", "viewer")
        far_raw = _create_token(page, live_server, "far runbook", "operator", FAR_ADDRESS)
        assert len({op_raw, viewer_raw, far_raw}) == 3
        assert Operation.objects.filter(action=Action.TOKEN_CREATE, username="kim").count() == 3

        wait_for(
            lambda: _armed_on_exchange(simulator, desk) == {"BTCUSDT", "ETHUSDT"},
            timeout=10,
            message="both countdowns armed on the simulator",
        )
        before = _desired(target)
        assert before[0] is True

        # The viewer token reads, but its disarm is refused and nothing changes.
        assert _get(f"{live_server.url}/api/v1/policies/{target.pk}", viewer_raw).status_code == 200
        detail = _refused(_post(live_server, viewer_raw, f"policies/{target.pk}/disarm"), 403)
        assert "viewer role" in detail and "Nothing was changed" in detail, detail

        # The operator token restricted to another address is refused before its role is looked at.
        response = _post(live_server, far_raw, f"policies/{target.pk}/disarm")
        detail = _refused(response, 403)
        assert detail == "Requests from 127.0.0.1 are not allowed for this token.", detail
        assert far_raw not in response.text
        assert ApiToken.objects.get(name="far runbook").last_used_at is None

        assert _desired(target) == before
        assert not Operation.objects.filter(action__in=[Action.DISARM, Action.DISARM_ALL]).exists()
        assert _armed_on_exchange(simulator, desk) == {"BTCUSDT", "ETHUSDT"}

        # The operator token disarms it: accepted, then really disarmed on the exchange.
        response = _post(live_server, op_raw, f"policies/{target.pk}/disarm", reason="exchange incident 42")
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["username"] == "api:incident runbook"
        assert accepted["reason"] == "exchange incident 42" and accepted["policies"] == 1
        assert accepted["results_url"] == f"{live_server.url}/api/v1/operations/{accepted['id']}"
        assert _desired(target) == (False, before[1] + 1)
        wait_for(
            lambda: _armed_on_exchange(simulator, desk) == {"ETHUSDT"},
            timeout=10,
            message="the countdown disarmed on the simulator",
        )
        results = wait_for(
            lambda: (r := _get(accepted["results_url"], op_raw).json())["done"] and r,
            timeout=10,
            message="the operation done",
        )
        assert [(r["policy"], r["symbol"], r["result"]) for r in results["results"]] == [
            (target.pk, "BTCUSDT", "disarmed")
        ]
        assert results["username"] == "api:incident runbook" and results["reason"] == "exchange incident 42"
        operation = Operation.objects.get(pk=accepted["id"])
        assert (operation.action, operation.user, operation.ip) == (Action.DISARM, None, "127.0.0.1")

        # The board shows it disarmed, the other policy still armed.
        page.goto(f"{live_server.url}/")
        row = page.locator(f'#policy-rows tr[data-policy-id="{target.pk}"]')
        expect(row.locator('[data-cell="status"]')).to_have_text("Disarmed")
        expect(row.locator('[data-cell="desired"]')).to_have_text("Disarmed")
        other = page.locator(f'#policy-rows tr[data-policy-id="{bystander.pk}"]')
        expect(other.locator('[data-cell="status"]')).to_have_text("Armed")

        # The audit names the token, with the reason and the address.
        page.goto(f"{live_server.url}/operations/{operation.pk}/")
        lead = page.locator("#operation-page .lead")
        expect(lead).to_contain_text("By api:incident runbook")
        expect(lead).to_contain_text("from 127.0.0.1")
        expect(lead).to_contain_text("exchange incident 42")
        expect(page.locator(f'#results tr[data-policy-id="{target.pk}"] .result-disarmed')).to_be_visible()
        page.goto(f"{live_server.url}/policies/{target.pk}/")
        audit_row = page.locator("#policy-page tr", has_text="api:incident runbook")
        expect(audit_row).to_have_count(1)
        expect(audit_row).to_contain_text("exchange incident 42")

        # The token list: last use of the operator token, none for the refused one, no value anywhere.
        tokens = {t.name: t for t in ApiToken.objects.all()}
        page.goto(f"{live_server.url}/api-tokens/")
        op_row = page.locator(f'#token-table tr[data-token="{tokens["incident runbook"].pk}"]')
        last_used = tokens["incident runbook"].last_used_at
        assert last_used is not None and tokens["incident runbook"].last_used_ip == "127.0.0.1"
        expect(op_row).to_contain_text(f"{last_used:%Y-%m-%d %H:%M:%S} from 127.0.0.1")
        expect(op_row).to_contain_text("active")
        far_row = page.locator(f'#token-table tr[data-token="{tokens["far runbook"].pk}"]')
        expect(far_row).to_contain_text("never")
        expect(far_row).to_contain_text(f"{FAR_ADDRESS}/32")
        html = page.content()
        for raw in (op_raw, viewer_raw, far_raw):
            assert raw not in html and raw[3:20] not in html

        # Revoked in the browser: its next request is refused and changes nothing.
        op_row.locator("[data-revoke-token]").click()
        page.wait_for_url(f"{live_server.url}/api-tokens/")
        expect(page.locator(".message-success")).to_contain_text("API token “incident runbook” revoked")
        expect(op_row).to_contain_text("revoked")
        expect(op_row.locator("[data-revoke-token]")).to_have_count(0)
        assert op_raw not in page.content()
        assert Operation.objects.filter(action=Action.TOKEN_REVOKE, username="kim").count() == 1

        response = _post(live_server, op_raw, f"policies/{bystander.pk}/disarm")
        assert _refused(response, 401) == "This API token has been revoked."
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert _refused(_get(accepted["results_url"], op_raw), 401) == "This API token has been revoked."
        assert _desired(bystander)[0] is True
        assert Operation.objects.filter(action=Action.DISARM).count() == 1
        assert _armed_on_exchange(simulator, desk) == {"ETHUSDT"}
