"""Ids in URLs and forms are plain ASCII digits. Python's int() also reads "١" (Arabic-Indic), "１"
(full-width), "+1", " 1 " and "1_0"; none of those spellings may name a row, on the pages or in the API."""

from urllib.parse import quote

import pytest
from django.urls import reverse

from heartbeats.domain import privileges
from heartbeats.models import Action, Operation
from tests.api.conftest import ApiClient, make_token
from tests.web.conftest import make_account, make_policy

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def spellings(pk: int) -> list[str]:
    digits = str(pk)
    return [
        digits.translate(ARABIC_INDIC),
        digits.translate(FULL_WIDTH),
        f"+{digits}",
        f" {digits} ",
        f"0_{digits}",
    ]


@pytest.fixture
def armed(db):
    return make_policy(make_account(), "BTCUSDT", "armed")


def _still_armed(policy):
    policy.refresh_from_db()
    return policy.armed and policy.generation == 1


class TestPages:
    def test_a_policy_page_answers_only_to_plain_digits(self, as_operator, armed):
        assert as_operator.get(f"/policies/{armed.pk}/").status_code == 200
        for spelling in spellings(armed.pk):
            response = as_operator.get(f"/policies/{quote(spelling)}/")
            assert response.status_code == 404, spelling
            assert "is not a policy number" in response.content.decode(), spelling

    def test_a_disarm_sent_to_another_spelling_changes_nothing(self, as_operator, armed):
        for spelling in spellings(armed.pk):
            response = as_operator.post(f"/policies/{quote(spelling)}/disarm/")
            assert response.status_code == 404, spelling
        assert _still_armed(armed)
        assert not Operation.objects.exclude(action__in={Action.SIGN_IN, *privileges.ACTIONS}).exists()

    def test_a_selection_naming_another_spelling_is_refused(self, as_operator, armed):
        for spelling in spellings(armed.pk):
            response = as_operator.post(
                reverse("selection"), {"do": "disarm", "policy": [spelling], "reason": "test"}
            )
            assert response.status_code == 400, spelling
            assert "is not a policy number" in response.content.decode(), spelling
        assert _still_armed(armed)

    def test_disarm_all_refuses_an_account_in_another_spelling(self, as_operator, armed):
        for spelling in spellings(armed.account_id):
            response = as_operator.post(reverse("disarm_all"), {"reason": "test", "accounts": [spelling]})
            assert response.status_code == 400, spelling
            assert "is not an account number" in response.content.decode(), spelling
        assert _still_armed(armed)


class TestApi:
    @pytest.fixture
    def api(self, db):
        return ApiClient(make_token("runbook", "operator")[1])

    def test_a_policy_answers_only_to_plain_digits(self, api, armed):
        assert api.get(f"policies/{armed.pk}").status_code == 200
        for spelling in spellings(armed.pk):
            assert api.get(f"policies/{quote(spelling)}").status_code == 404, spelling
            response = api.post(f"policies/{quote(spelling)}/disarm", {"reason": "test"})
            assert response.status_code == 404, spelling
            assert "is not a policy number" in response.json()["detail"]
        assert _still_armed(armed)

    @pytest.mark.parametrize("bad", ["+1", " 1 ", "1_0", "١", 1.0, True])
    def test_ids_in_a_body_are_numbers_or_plain_digits(self, api, armed, bad):
        response = api.post("disarm-all", {"reason": "test", "accounts": [bad]})
        assert response.status_code == 400
        assert "plain digits" in response.json()["detail"] or "valid integer" in response.json()["detail"]
        response = api.post("cancel-orders", {"reason": "test", "policy": bad})
        assert response.status_code == 400
        assert _still_armed(armed)

    def test_a_page_number_is_plain_digits(self, api, armed):
        assert api.get("status", {"page": "1"}).status_code == 200
        for spelling in ("+1", " 1", "1_0", "١"):
            assert api.get("status", {"page": spelling}).status_code == 400, spelling


class TestForms:
    """A form's numbers and ids too: Django's fields would read every spelling above as the number."""

    @pytest.mark.parametrize("field", ["account", "countdown_ms", "interval_s"])
    def test_a_new_policy_takes_its_numbers_in_plain_digits_only(self, client, key_admin, field):
        account = make_account()
        client.force_login(key_admin)
        plain = {"account": account.pk, "symbol": "BTCUSDT", "countdown_ms": 120_000, "interval_s": 30}
        for spelling in spellings(plain[field]):
            response = client.post(reverse("policy_new"), {**plain, field: spelling})
            assert response.status_code == 400, (field, spelling)
            assert "Write it in plain digits" in response.content.decode(), (field, spelling)
        assert not account.policies.exists()

    def test_the_board_filters_by_an_account_written_in_plain_digits_only(self, as_viewer, armed):
        for spelling in spellings(armed.account_id):
            response = as_viewer.get(reverse("board"), {"account": spelling})
            assert "Write it in plain digits" in response.content.decode(), spelling
        assert "BTCUSDT" in as_viewer.get(reverse("board"), {"account": armed.account_id}).content.decode()
