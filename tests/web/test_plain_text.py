"""Free text is text: reasons, labels and names refuse control characters, bidirectional overrides and
zero-width characters, which could make the audit trail read differently from what was typed. Each refusal
is a clear 4xx that names the character, with nothing changed; line breaks stay welcome in a reason."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from heartbeats import text
from heartbeats.models import Action, AlertChannel, ApiToken, ExchangeAccount, Operation, Strategy
from tests.api.conftest import ApiClient, make_token
from tests.web.conftest import PASSWORD, make_account, make_policy

RLO = "\u202e"  # right-to-left override: "disarm \u202eTDSUCTB" shows as "disarm BTCUSDT"
ZWSP = "\u200b"
TRICKS = [f"halting BTC {RLO}TDSUHTE", f"desk{ZWSP}-a", "bell\x07", "filler \u3164", "isolate \u2066x\u2069"]


@pytest.mark.parametrize("value", TRICKS)
def test_the_rule_refuses_each_trick_and_names_it(value):
    why = text.refusal(value)
    assert why.startswith("This text holds") and "U+" in why


@pytest.mark.parametrize(
    "value", ["exchange outage", "Änderung für 日本 desk", "emoji ok 🚨", "O'Brien & co."]
)
def test_ordinary_words_pass(value):
    assert text.refusal(value) == ""


def test_a_reason_may_run_over_lines_a_name_may_not():
    assert text.refusal("first line\nsecond line\ttabbed", multiline=True) == ""
    assert "U+000A" in text.refusal("first line\nsecond line")


@pytest.fixture
def armed(db):
    return make_policy(make_account(), "BTCUSDT", "armed")


def _unchanged(policy):
    policy.refresh_from_db()
    return policy.armed and policy.generation == 1


class TestReasons:
    @pytest.mark.parametrize("reason", TRICKS[:3])
    def test_disarm_all_refuses_and_changes_nothing(self, as_operator, armed, reason):
        response = as_operator.post(reverse("disarm_all"), {"reason": reason})
        assert response.status_code == 400
        assert "This text holds" in response.content.decode()
        assert _unchanged(armed)
        assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()

    def test_a_reason_over_several_lines_is_kept_as_typed(self, as_operator, armed):
        response = as_operator.post(reverse("disarm_all"), {"reason": "exchange outage\nsee ticket 42"})
        assert response.status_code == 302
        assert Operation.objects.get(action=Action.DISARM_ALL).reason == "exchange outage\nsee ticket 42"

    def test_a_selection_and_a_cancel_refuse_it_too(self, as_operator, armed):
        response = as_operator.post(
            reverse("selection"), {"do": "disarm", "policy": [armed.pk], "reason": TRICKS[0]}
        )
        assert response.status_code == 400 and "This text holds" in response.content.decode()
        response = as_operator.post(
            reverse("cancel_orders") + f"?policy={armed.pk}", {"reason": TRICKS[1], "policy": armed.pk}
        )
        assert response.status_code == 400 and "This text holds" in response.content.decode()
        assert _unchanged(armed)

    def test_a_strategy_release_refuses_it(self, as_operator, db):
        strategy = Strategy.objects.create(
            name="momentum", ping_key_hash="1" * 64, held_reason="silent", ping_key_hint="abcdef"
        )
        response = as_operator.post(reverse("strategy_release", args=[strategy.pk]), {"reason": TRICKS[0]})
        assert response.status_code == 302
        assert Strategy.objects.get(pk=strategy.pk).held_reason == "silent"
        page = as_operator.get(reverse("strategy", args=[strategy.pk])).content.decode()
        assert "This text holds" in page

    def test_the_api_refuses_it_with_400(self, armed):
        api = ApiClient(make_token("runbook", "operator")[1])
        response = api.post(f"policies/{armed.pk}/disarm", {"reason": TRICKS[0]})
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert "reason: This text holds" in detail and "U+202E" in detail and "Nothing was changed" in detail
        assert api.post("disarm-all", {"reason": TRICKS[1]}).status_code == 400
        assert _unchanged(armed)


class TestLabelsAndNames:
    @pytest.fixture
    def as_superuser(self, client, django_user_model, db):
        client.force_login(django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD))
        return client

    def test_an_account_label_in_the_admin(self, as_superuser):
        account = make_account()
        response = as_superuser.post(
            reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk]),
            {
                "label": f"desk{ZWSP}-a",
                "venue": account.venue,
                "environment": account.environment,
                "custom_base_url": account.custom_base_url,
                "key_type": account.key_type,
                "egress": "default",
                "enabled": "on",
            },
        )
        assert response.status_code == 200 and "This text holds" in response.content.decode()
        assert ExchangeAccount.objects.get(pk=account.pk).label == "desk-a"

    def test_a_channel_name_a_strategy_name_and_a_token_name(self, client, key_admin):
        client.force_login(key_admin)
        response = client.post(
            reverse("alert_channel_new"), {"name": f"pager {RLO}x", "new_url": "json://192.0.2.1/hook"}
        )
        assert response.status_code == 400 and "This text holds" in response.content.decode()
        response = client.post(reverse("strategy_new"), {"name": f"mm{ZWSP}", "grace_s": 30})
        assert response.status_code == 400 and "This text holds" in response.content.decode()
        response = client.post(reverse("api_token_new"), {"name": f"bot{ZWSP}", "role": "viewer"})
        assert response.status_code == 400 and "This text holds" in response.content.decode()
        assert not AlertChannel.objects.exists() and not Strategy.objects.exists()
        assert not ApiToken.objects.exists()

    def test_a_group_name_and_a_persons_name_in_the_admin(self, as_superuser, django_user_model):
        response = as_superuser.post(reverse("admin:auth_group_add"), {"name": f"operator{ZWSP}"})
        assert response.status_code == 200 and "This text holds" in response.content.decode()
        assert not Group.objects.filter(name__startswith="operator\u200b").exists()
        user = django_user_model.objects.create_user("victor", password=PASSWORD)
        response = as_superuser.post(
            reverse("admin:auth_user_change", args=[user.pk]),
            {
                "username": "victor",
                "first_name": f"Vic{RLO}tor",
                "is_active": "on",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
            },
        )
        assert response.status_code == 200 and "This text holds" in response.content.decode()
        assert django_user_model.objects.get(pk=user.pk).first_name == ""
