"""What any token may read: the board's status, one policy, an operation's results, the OpenAPI document."""

import pytest
from django.test import Client

from heartbeats.models import Action, Operation

pytestmark = pytest.mark.django_db


def test_a_viewer_token_reads_the_board(viewer_token, desk):
    _, api = viewer_token
    response = api.get("status")
    assert response.status_code == 200
    data = response.json()
    assert len(data["policies"]) == 6 and "page" not in data
    # The board's own JSON, riskiest first.
    assert data["policies"][0]["status"] == "expired"
    assert {"engine", "budget", "counts", "lapses", "maintenance", "server_time_ms"} <= set(data)
    assert "no-store" in response["Cache-Control"]


def test_status_pages_when_asked(viewer_token, desk):
    _, api = viewer_token
    data = api.get("status", {"page": 1}).json()
    assert data["page"] == {"number": 1, "pages": 1, "total": 6, "size": 100, "first": 1, "last": 6}
    assert len(data["policies"]) == 6
    assert api.get("status", {"page": 7}).json()["page"]["number"] == 1  # clamped, as on the board
    assert api.get("status", {"page": 0}).status_code == 400
    assert api.get("status", {"page": "x"}).status_code == 400


def test_a_viewer_token_reads_one_policy(viewer_token, desk):
    _, api = viewer_token
    policy = desk["late"]
    data = api.get(f"policies/{policy.pk}").json()
    assert (data["id"], data["symbol"], data["status"]) == (policy.pk, "ETHUSDT", "late")


def test_a_viewer_token_reads_an_operations_results(viewer_token, operator_token, desk):
    _, operator_api = operator_token
    _, api = viewer_token
    op_id = operator_api.post(f"policies/{desk['armed'].pk}/disarm", {"reason": "incident"}).json()["id"]
    data = api.get(f"operations/{op_id}").json()
    assert data["username"] == "api:incident runbook" and data["reason"] == "incident"
    assert data["results"][0]["policy"] == desk["armed"].pk
    assert data["results"][0]["result"] in ("disarmed", "retrying")
    assert api.get("operations/999").status_code == 404
    missing = api.get("operations/abc")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "“abc” is not an operation number. Nothing was changed."


def test_an_operation_without_results_lists_none(viewer_token, operator):
    _, api = viewer_token
    sign_in = Operation.objects.create(action=Action.SIGN_IN, user=operator, username="olga")
    data = api.get(f"operations/{sign_in.pk}").json()
    assert data["results"] == [] and data["done"] is True


def test_an_operation_lists_what_it_did_to_each_policy(viewer_token, operator_token, desk):
    _, operator_api = operator_token
    _, api = viewer_token
    op_id = operator_api.post("disarm-all", {"reason": "incident"}).json()["id"]
    targets = api.get(f"operations/{op_id}").json()["targets"]
    by_symbol = {t["symbol"]: (t["policy"], t["account"], t["changed"], t["effect"]) for t in targets}
    assert by_symbol["BTCUSDT"] == (desk["armed"].pk, "desk-a", True, "disarmed")
    assert "SOLUSDT" not in by_symbol  # disarmed already: not in Disarm all's scope
    assert all(t["generation"] is not None for t in targets)


def test_the_openapi_document_lists_every_endpoint():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == {
        "/api/v1/status",
        "/api/v1/policies/{policy_id}",
        "/api/v1/policies/{policy_id}/arm",
        "/api/v1/policies/{policy_id}/disarm",
        "/api/v1/disarm-all",
        "/api/v1/cancel-orders",
        "/api/v1/operations/{operation_id}",
    }
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert "reason" in schema["components"]["schemas"]["ReasonIn"]["required"]


def test_unknown_paths_under_the_api_are_json_404s(viewer_token):
    _, api = viewer_token
    for path in ("", "nope", "policies/1/cancel-orders", "../v2/status"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert "openapi.json" in response.json()["detail"]
    assert api.post("nope", {"reason": "x"}).status_code == 404  # not a CSRF refusal
