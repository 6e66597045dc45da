import re

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.domain import audit
from heartbeats.models import Action, Beat, BeatKind, CountdownPolicy, Effect, Operation, Outcome
from tests.web.conftest import make_engine

pytestmark = pytest.mark.django_db


def _state():
    return list(CountdownPolicy.objects.order_by("pk").values_list("armed", "generation"))


class TestConfirmation:
    def test_it_names_how_many_policies_on_which_accounts(self, as_operator, desk):
        html = as_operator.get(reverse("disarm_all")).content.decode()
        # armed, late, expired, failing, uncertain; not the disarmed one
        assert re.search(r'id="target-count">5 policies<', html)
        assert "<strong>desk-a</strong> (2)" in html and "<strong>desk-b</strong> (3)" in html
        assert 'name="reason"' in html and "required" in html

    def test_it_says_plainly_when_no_engine_is_alive(self, as_operator, desk):
        html = as_operator.get(reverse("disarm_all")).content.decode()
        assert "No engine is alive: this server will send the disarms itself" in html

    def test_it_does_not_say_so_when_an_engine_is_alive(self, as_operator, desk):
        make_engine()
        html = as_operator.get(reverse("disarm_all")).content.decode()
        assert "No engine is alive" not in html

    @pytest.mark.parametrize("who", ["viewer", "key_admin", "outsider"])
    def test_it_refuses_anyone_but_an_operator(self, client, desk, who, request):
        client.force_login(request.getfixturevalue(who))
        before = _state()
        assert client.get(reverse("disarm_all")).status_code == 403
        assert client.post(reverse("disarm_all"), {"reason": "try anyway"}).status_code == 403
        assert _state() == before
        assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()


class TestBadInput:
    @pytest.mark.parametrize("reason", ["", "   "])
    def test_it_requires_a_reason_and_changes_nothing(self, as_operator, desk, reason):
        before = _state()
        response = as_operator.post(reverse("disarm_all"), {"reason": reason})
        assert response.status_code == 400
        assert "Give a reason" in response.content.decode()
        assert _state() == before
        assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()

    # A number beyond the database's integer range is refused like any unknown id, not passed to the query.
    @pytest.mark.parametrize("bad", ["abc", "987654", "-3", "9" * 30])
    def test_it_explains_an_unknown_account_and_changes_nothing(self, as_operator, desk, bad):
        before = _state()
        response = as_operator.post(reverse("disarm_all"), {"reason": "incident", "accounts": [bad]})
        assert response.status_code == 400
        html = response.content.decode()
        assert f"“{bad}” is not an account number" in html or f"Account {bad} does not exist" in html
        assert _state() == before
        assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()

    def test_it_keeps_what_was_typed_after_an_error(self, as_operator, desk):
        response = as_operator.post(reverse("disarm_all"), {"reason": "exchange outage", "accounts": ["x"]})
        assert "exchange outage</textarea>" in response.content.decode()


class TestDisarmAll:
    def test_it_disarms_every_policy_on_the_exchange_and_shows_the_results(
        self, as_operator, operator, sim_desk
    ):
        response = as_operator.post(
            reverse("disarm_all"), {"reason": "exchange incident"}, REMOTE_ADDR="10.9.9.9"
        )
        op = Operation.objects.get(action=Action.DISARM_ALL)
        assert response.status_code == 302 and response.url == reverse("operation", args=[op.pk])
        assert (op.user, op.ip, op.reason) == (operator, "10.9.9.9", "exchange incident")
        assert sim_desk["sim"].exchange.countdowns() == []  # ground truth
        assert all(not armed for armed, _ in _state())

        html = as_operator.get(response.url).content.decode()
        assert html.count('class="result result-disarmed"') == 3
        assert "exchange incident" in html and "olga" in html

        data = as_operator.get(reverse("operation_json", args=[op.pk])).json()
        assert data["done"] is True and data["total"] == 3
        assert {r["symbol"] for r in data["results"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
        assert {r["result"] for r in data["results"]} == {"disarmed"}
        assert all(r["sent_at_ms"] and r["attempts"] >= 1 for r in data["results"])

    def test_it_can_be_limited_to_some_accounts(self, as_operator, sim_desk):
        _, b = sim_desk["accounts"]
        as_operator.post(reverse("disarm_all"), {"reason": "one account", "accounts": [b.pk]})
        live = {c["symbol"] for c in sim_desk["sim"].exchange.countdowns()}
        assert live == {"BTCUSDT", "ETHUSDT"}

    def test_it_refreshes_the_results_page_without_javascript_until_done(self, as_operator, operator, desk):
        from heartbeats.desk import actions

        make_engine()  # an engine is "alive" but sends nothing here: the results stay pending
        op = actions.disarm_all(user=operator, ip="127.0.0.1", reason="drill")
        html = as_operator.get(reverse("operation", args=[op.pk])).content.decode()
        assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
        assert "Results are still coming in" in html
        data = as_operator.get(reverse("operation_json", args=[op.pk])).json()
        assert data["done"] is False
        assert {r["result"] for r in data["results"]} == {"retrying"}
        # Nothing tried yet: the tile says "Sending", as each row does; once an attempt failed, "Retrying".
        tile = {t["result"]: t["label"] for t in data["tiles"]}
        assert tile["retrying"] == "Sending" and ">Sending</span>" in html
        target = op.targets.first()
        Beat.objects.create(
            policy_id=target.policy_id,
            generation=target.generation,
            kind=BeatKind.DISARM,
            countdown_ms=0,
            sent_at=timezone.now(),
            outcome=Outcome.TEMPORARY,
            message="timed out",
        )
        data = as_operator.get(reverse("operation_json", args=[op.pk])).json()
        assert {t["result"]: t["label"] for t in data["tiles"]}["retrying"] == "Retrying"


class TestOperationPage:
    def test_it_says_the_one_result_is_in_in_the_singular(self, as_viewer, operator, sim_desk):
        from heartbeats.desk import actions

        op = actions.disarm(sim_desk["policies"][0].pk, user=operator, ip="127.0.0.1")
        html = as_viewer.get(reverse("operation", args=[op.pk])).content.decode()
        assert "The result is in." in html and "All 1 results" not in html
        assert (
            as_viewer.get(reverse("operation_json", args=[op.pk])).json()["done_text"] == "The result is in."
        )

    def test_it_lets_viewers_read_results(self, as_viewer, operator, desk):
        from heartbeats.desk import actions

        op = actions.arm(desk["disarmed"].pk, user=operator, ip="127.0.0.1")
        response = as_viewer.get(reverse("operation", args=[op.pk]))
        assert response.status_code == 200
        assert "SOLUSDT" in response.content.decode()

    @pytest.mark.parametrize("bad,status", [("555555", 404), ("zzz", 404)])
    def test_it_explains_an_unknown_operation(self, as_viewer, bad, status):
        response = as_viewer.get(f"/operations/{bad}/")
        assert response.status_code == status
        assert "operation" in response.content.decode()

    def test_it_shows_other_operations_without_results(self, as_viewer, client, viewer):
        client.logout()
        client.post(reverse("login"), {"username": "victor", "password": "wrong"})
        op = Operation.objects.get(action=Action.SIGN_IN_FAILED)
        client.force_login(viewer)
        response = client.get(reverse("operation", args=[op.pk]))
        assert response.status_code == 200
        assert "acts on no policy" in response.content.decode()

    def test_it_lists_what_an_operation_without_results_did_to_each_policy(self, as_viewer, desk):
        gone = desk["disarmed"]
        hold = audit.record(
            Action.STRATEGY_SILENT,
            user=None,
            ip=None,
            username="strategy watch",
            targets=[audit.target(desk["late"], Effect.HELD), audit.target(gone, Effect.HELD)],
        )
        gone.delete()
        html = as_viewer.get(reverse("operation", args=[hold.pk])).content.decode()
        assert 'id="targets"' in html and "acts on no policy" not in html
        assert f'<a href="{reverse("policy", args=[desk["late"].pk])}">ETHUSDT</a>' in html
        assert 'SOLUSDT <span class="muted small">(deleted)</span>' in html
        assert html.count('<td data-label="What it did">Held back</td>') == 2
