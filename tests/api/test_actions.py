"""Arm, disarm and Disarm all through the API: done and audited under the token's name with the reason, or
refused with a JSON message and nothing changed."""

import logging

import pytest

from heartbeats.models import Action, CountdownPolicy, Operation
from tests.api.conftest import ApiClient, make_token
from tests.web.conftest import make_account, make_policy

pytestmark = pytest.mark.django_db


def desired(policy):
    policy.refresh_from_db()
    return policy.armed, policy.generation


@pytest.fixture
def armed():
    return make_policy(make_account(), "BTCUSDT", "armed")


class TestDisarm:
    def test_an_operator_token_disarms_a_policy_audited_under_its_name(self, operator_token, armed):
        token, api = operator_token
        response = api.post(f"policies/{armed.pk}/disarm", {"reason": "  exchange incident  "})
        assert response.status_code == 202, response.content
        assert desired(armed) == (False, 2)
        op = Operation.objects.get(action=Action.DISARM)
        assert (op.user, op.username, op.ip, op.policy) == (None, "api:incident runbook", "192.0.2.10", armed)
        assert op.reason == "exchange incident"
        listed = op.targets.values_list("policy", "account_label", "symbol", "generation", "effect")
        assert list(listed) == [(armed.pk, "desk-a", "BTCUSDT", 2, "disarmed")]
        body = response.json()
        assert body["id"] == op.pk and body["username"] == "api:incident runbook"
        assert body["results_url"] == f"http://testserver/api/v1/operations/{op.pk}"

    def test_it_disarms_on_the_exchange_and_reports_the_result(self, operator_token, sim_desk):
        _, api = operator_token
        policy = sim_desk["policies"][0]
        response = api.post(f"policies/{policy.pk}/disarm", {"reason": "strategy halted"})
        assert response.status_code == 202
        live = {c["symbol"] for c in sim_desk["sim"].exchange.countdowns()}
        assert policy.symbol not in live and len(live) == 2
        results = api.get(f"operations/{response.json()['id']}").json()
        assert results["results"][0]["result"] == "disarmed" and results["done"] is True

    def test_a_viewer_token_is_refused_and_nothing_changes(self, viewer_token, armed):
        _, api = viewer_token
        for path, body in (
            (f"policies/{armed.pk}/disarm", {"reason": "x"}),
            (f"policies/{armed.pk}/arm", {"reason": "x"}),
            ("disarm-all", {"reason": "x"}),
        ):
            response = api.post(path, body)
            assert response.status_code == 403, path
            assert "viewer role" in response.json()["detail"]
        assert desired(armed) == (True, 1)
        assert not Operation.objects.exists()

    def test_a_request_from_an_address_not_allowed_is_refused_and_nothing_changes(self, armed):
        token, raw = make_token(addresses=["10.1.2.0/24", "2001:db8::/48"])
        api = ApiClient(raw, address="10.1.3.4")
        response = api.post(f"policies/{armed.pk}/disarm", {"reason": "incident"})
        assert response.status_code == 403
        assert response.json() == {"detail": "Requests from 10.1.3.4 are not allowed for this token."}
        assert raw not in response.content.decode()
        assert desired(armed) == (True, 1)
        assert not Operation.objects.exists()
        token.refresh_from_db()
        assert token.last_used_at is None
        # From inside the allowed networks it works, IPv6 and IPv4-mapped addresses included.
        for address in ("2001:db8::7", "::ffff:10.1.2.9"):
            assert api.get("status", REMOTE_ADDR=address).status_code == 200, address
        assert (
            api.post(
                f"policies/{armed.pk}/disarm", {"reason": "incident"}, REMOTE_ADDR="10.1.2.200"
            ).status_code
            == 202
        )
        assert desired(armed) == (False, 2)

    def test_the_address_is_the_one_the_trusted_proxy_saw(self, settings, armed):
        settings.TRUSTED_PROXY_COUNT = 1
        _, raw = make_token(addresses=["203.0.113.5"])
        api = ApiClient(raw, address="127.0.0.1")
        # Spoofed entries left of the proxy's own are ignored.
        refused = api.get("status", HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.1")
        assert refused.status_code == 403
        assert api.get("status", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5").status_code == 200


class TestBadRequests:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (None, "reason: Field required"),
            ({"reason": "   "}, "Give a reason"),
            ({"reason": "x" * 1001}, "at most 1000 characters"),
            ({"reason": 5}, "valid string"),
        ],
    )
    def test_a_missing_or_bad_reason_is_refused_and_nothing_changes(
        self, operator_token, armed, body, message
    ):
        _, api = operator_token
        response = api.post(f"policies/{armed.pk}/disarm", body)
        assert response.status_code == 400
        assert message in response.json()["detail"] and "Nothing was changed" in response.json()["detail"]
        assert desired(armed) == (True, 1)
        assert not Operation.objects.exists()

    def test_a_body_that_is_not_json_is_refused(self, operator_token, armed):
        _, api = operator_token
        response = api.client.post(
            f"/api/v1/policies/{armed.pk}/disarm",
            "reason=x",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api.raw}",
        )
        assert response.status_code == 400
        assert response.json()["detail"].startswith("The request body is not valid JSON")
        assert response.json()["detail"].endswith("Nothing was changed.")
        assert desired(armed) == (True, 1)

    def test_an_oversized_body_is_one_warning_and_changes_nothing(self, operator_token, armed, caplog):
        _, api = operator_token
        caplog.set_level(logging.DEBUG)
        response = api.post(f"policies/{armed.pk}/disarm", {"reason": "x" * (3 * 1024 * 1024)})
        assert response.status_code == 413
        detail = response.json()["detail"]
        assert "too large" in detail and "Nothing was changed" in detail
        assert desired(armed) == (True, 1)
        assert not Operation.objects.filter(action=Action.DISARM).exists()
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(loud) == 1, [r.getMessage() for r in loud]
        assert loud[0].levelno == logging.WARNING and loud[0].exc_info is None
        assert "Traceback" not in caplog.text

    @pytest.mark.parametrize(
        ("policy_id", "message"),
        [
            ("999", "There is no policy 999"),
            ("abc", "is not a policy number"),
            ("9" * 30, "There is no policy"),
        ],
    )
    def test_an_unknown_policy_is_a_404(self, operator_token, armed, policy_id, message):
        _, api = operator_token
        for verb in ("arm", "disarm"):
            response = api.post(f"policies/{policy_id}/{verb}", {"reason": "incident"})
            assert response.status_code == 404
            assert message in response.json()["detail"]
        assert api.get(f"policies/{policy_id}").status_code == 404
        assert not Operation.objects.exists()

    def test_arming_on_a_disabled_account_is_a_conflict_and_changes_nothing(self, operator_token):
        _, api = operator_token
        policy = make_policy(make_account(enabled=False), "BTCUSDT")
        response = api.post(f"policies/{policy.pk}/arm", {"reason": "resume"})
        assert response.status_code == 409
        assert (
            "is disabled" in response.json()["detail"] and "Nothing was changed" in response.json()["detail"]
        )
        assert desired(policy) == (False, 0)
        assert not Operation.objects.exists()

    def test_get_is_not_an_action(self, operator_token, armed):
        _, api = operator_token
        assert api.get(f"policies/{armed.pk}/disarm").status_code == 405
        assert desired(armed) == (True, 1)


class TestArm:
    def test_an_operator_token_arms_with_a_reason(self, operator_token):
        _, api = operator_token
        policy = make_policy(make_account(), "SOLUSDT")
        response = api.post(f"policies/{policy.pk}/arm", {"reason": "desk open"})
        assert response.status_code == 202
        assert desired(policy) == (True, 1)
        op = Operation.objects.get(action=Action.ARM)
        assert (op.username, op.reason, op.changes) == (
            "api:incident runbook",
            "desk open",
            {"armed": [False, True]},
        )


class TestDisarmAll:
    def test_it_disarms_every_armed_policy_and_links_the_results(self, operator_token, desk):
        _, api = operator_token
        response = api.post("disarm-all", {"reason": "exchange incident"})
        assert response.status_code == 202
        assert not CountdownPolicy.objects.filter(armed=True).exists()
        op = Operation.objects.get(action=Action.DISARM_ALL)
        assert (op.username, op.reason, op.user) == ("api:incident runbook", "exchange incident", None)
        assert response.json()["policies"] == op.targets.count() == 5
        results = api.get(response.json()["results_url"].removeprefix("http://testserver/api/v1/")).json()
        assert {r["policy"] for r in results["results"]} == {t.policy_id for t in op.targets.all()}
        assert results["action"] == "disarm_all" and results["reason"] == "exchange incident"

    def test_it_disarms_only_the_accounts_named(self, operator_token, desk):
        _, api = operator_token
        a, b = desk["accounts"]
        response = api.post("disarm-all", {"reason": "desk b halted", "accounts": [b.pk]})
        assert response.status_code == 202
        assert CountdownPolicy.objects.filter(account=a, armed=True).exists()
        assert not CountdownPolicy.objects.filter(account=b, armed=True).exists()

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"accounts": [1]}, "reason: Field required"),
            ({"reason": "x", "accounts": []}, "`accounts` is empty"),
            ({"reason": "x", "accounts": [424242]}, "There is no account 424242"),
            ({"reason": "x", "accounts": [10**30]}, "There is no account"),
            ({"reason": "x", "accounts": ["desk-a"]}, "accounts.0: Input should be a valid integer"),
        ],
    )
    def test_bad_input_is_refused_and_nothing_changes(self, operator_token, desk, body, message):
        _, api = operator_token
        armed_before = CountdownPolicy.objects.filter(armed=True).count()
        response = api.post("disarm-all", body)
        assert response.status_code == 400
        assert message in response.json()["detail"]
        assert CountdownPolicy.objects.filter(armed=True).count() == armed_before
        assert not Operation.objects.exists()
