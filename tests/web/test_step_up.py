"""Step-up: Disarm all, exchange-account and key changes, user changes and second-factor resets need a second
factor given in the last SECOND_FACTOR_FRESH_SECONDS; a stale one sends pages to the verify page and refuses
forms with nothing done."""

import time

import pytest
from django.urls import reverse

from heartbeats import twofactor
from heartbeats.models import Action, ExchangeAccount, Operation
from tests.web.conftest import make_account, make_policy
from tests.web.test_second_factor import code_for, give_app, next_code, sign_in, verify


def age_factor(client, seconds):
    session = client.session
    session[twofactor.SESSION_PASSED_AT] = time.time() - seconds
    session.save()


@pytest.fixture
def verified_operator(client, operator):
    device = give_app(operator)
    sign_in(client, operator)
    assert verify(client, code_for(device)).status_code == 302
    return device


class TestDisarmAll:
    def test_a_stale_factor_sends_the_page_to_the_verify_page_and_back(self, client, verified_operator):
        age_factor(client, 301)
        response = client.get(reverse("disarm_all"))
        assert response.status_code == 302
        assert response["Location"] == reverse("second_factor_verify") + "?next=%2Fdisarm-all%2F"
        response = verify(client, next_code(verified_operator), next_url="/disarm-all/")
        assert response["Location"] == "/disarm-all/"
        assert client.get("/disarm-all/").status_code == 200
        step_up = Operation.objects.filter(action=Action.SECOND_FACTOR_PASSED).order_by("-at").first()
        assert step_up.reason == "step-up"

    def test_a_stale_factor_refuses_the_disarm_and_changes_nothing(self, client, verified_operator):
        policy = make_policy(make_account(), "BTCUSDT", "armed")
        assert client.get(reverse("disarm_all")).status_code == 200  # fresh: the page opens
        age_factor(client, 301)
        response = client.post(reverse("disarm_all"), {"reason": "incident"})
        assert response.status_code == 403
        html = response.content.decode()
        assert "Disarm all needs your second factor" in html and "Nothing was changed" in html
        assert 'href="/second-factor/verify/?next=%2Fdisarm-all%2F"' in html
        policy.refresh_from_db()
        assert policy.armed
        assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()

    def test_the_reason_typed_before_a_refusal_is_back_on_the_page_after_the_factor(
        self, client, verified_operator
    ):
        make_policy(make_account(), "BTCUSDT", "armed")
        age_factor(client, 301)
        reason = "exchange <incident> on BTC, pulling everything"
        assert client.post(reverse("disarm_all"), {"reason": reason}).status_code == 403
        verify(client, next_code(verified_operator), next_url="/disarm-all/")
        page = client.get(reverse("disarm_all")).content.decode()
        assert "exchange &lt;incident&gt; on BTC, pulling everything</textarea>" in page
        # Given back once, and to that page only.
        assert "pulling everything" not in client.get(reverse("disarm_all")).content.decode()

    def test_a_fresh_factor_disarms(self, client, verified_operator, settings):
        policy = make_policy(make_account(), "BTCUSDT", "armed")
        response = client.post(reverse("disarm_all"), {"reason": "incident"})
        assert response.status_code == 302
        policy.refresh_from_db()
        assert not policy.armed

    def test_the_freshness_is_configurable(self, client, verified_operator, settings):
        settings.SECOND_FACTOR_FRESH_SECONDS = 30
        age_factor(client, 31)
        assert client.get(reverse("disarm_all")).status_code == 302
        settings.SECOND_FACTOR_FRESH_SECONDS = 60
        assert client.get(reverse("disarm_all")).status_code == 200

    def test_an_operator_without_a_device_is_not_asked_when_none_is_required(self, as_operator):
        assert as_operator.get(reverse("disarm_all")).status_code == 200


class TestKeyChanges:
    @pytest.fixture
    def verified_key_admin(self, client, key_admin):
        device = give_app(key_admin)
        sign_in(client, key_admin)
        verify(client, code_for(device))
        return device

    def test_opening_an_account_form_with_a_stale_factor_asks_for_it(self, client, verified_key_admin):
        account = make_account()
        age_factor(client, 3600)
        for url in (
            reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk]),
            reverse("admin:heartbeats_exchangeaccount_add"),
            reverse("admin:heartbeats_exchangeaccount_delete", args=[account.pk]),
        ):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("second_factor_verify")), url

    def test_a_key_sent_with_a_stale_factor_is_refused_and_nothing_saved(self, client, verified_key_admin):
        account = make_account()
        age_factor(client, 3600)
        response = client.post(
            reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk]),
            {"label": "renamed", "new_api_key": "x" * 64, "new_secret": "y" * 64},
        )
        assert response.status_code == 403
        assert "Nothing was changed" in response.content.decode()
        stored = ExchangeAccount.objects.get(pk=account.pk)
        assert stored.label == "desk-a" and stored.api_key == account.api_key
        delete = client.post(
            reverse("admin:heartbeats_exchangeaccount_delete", args=[account.pk]), {"post": "yes"}
        )
        assert delete.status_code == 403
        assert ExchangeAccount.objects.filter(pk=account.pk).exists()

    def test_a_fresh_factor_opens_the_form(self, client, verified_key_admin):
        account = make_account()
        url = reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk])
        assert client.get(url).status_code == 200

    def test_reading_an_account_needs_no_step_up(self, client, viewer):
        device = give_app(viewer)
        sign_in(client, viewer)
        verify(client, code_for(device))
        age_factor(client, 3600)
        account = make_account()
        url = reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk])
        assert client.get(url).status_code == 200


class TestUserChanges:
    def test_changing_a_user_or_resetting_a_factor_needs_a_fresh_factor(
        self, client, django_user_model, operator
    ):
        from tests.web.conftest import PASSWORD

        superuser = django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD)
        device = give_app(superuser)
        give_app(operator)
        sign_in(client, superuser)
        verify(client, code_for(device))
        age_factor(client, 3600)
        change = client.get(reverse("admin:auth_user_change", args=[operator.pk]))
        assert change.status_code == 302
        reset = client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "reset_second_factor", "_selected_action": [operator.pk]},
        )
        assert reset.status_code == 403
        assert twofactor.has_primary(operator)
        assert not Operation.objects.filter(action=Action.SECOND_FACTOR_RESET).exists()
