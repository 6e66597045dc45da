import pytest
from django.test import Client
from django.urls import reverse

from heartbeats.models import Action, CountdownPolicy, Operation

pytestmark = pytest.mark.django_db


def _desired(policy):
    policy.refresh_from_db()
    return policy.armed, policy.generation


class TestArm:
    def test_it_arms_for_an_operator_and_audits_who_and_where(self, as_operator, operator, desk):
        policy = desk["disarmed"]
        response = as_operator.post(reverse("policy_arm", args=[policy.pk]), REMOTE_ADDR="10.1.2.3")
        assert response.status_code == 302 and response.url == reverse("board")
        assert _desired(policy) == (True, 1)
        op = Operation.objects.get(action=Action.ARM)
        assert (op.user, op.ip, op.policy) == (operator, "10.1.2.3", policy)
        page = as_operator.get(response.url).content.decode()
        assert "Arm requested for desk-a SOLUSDT" in page
        assert f'<a href="{reverse("operation", args=[op.pk])}">Follow it</a>' in page

    def test_it_goes_back_to_the_page_it_came_from(self, as_operator, desk):
        policy = desk["disarmed"]
        back = reverse("policy", args=[policy.pk])
        response = as_operator.post(reverse("policy_arm", args=[policy.pk]), {"next": back})
        assert response.url == back

    def test_it_never_redirects_off_site(self, as_operator, desk):
        policy = desk["disarmed"]
        response = as_operator.post(
            reverse("policy_arm", args=[policy.pk]), {"next": "https://evil.example/"}
        )
        assert response.url == reverse("board")

    def test_it_explains_why_a_policy_on_a_disabled_account_cannot_be_armed(self, as_operator, desk):
        policy = desk["disarmed"]
        policy.account.enabled = False
        policy.account.save()
        response = as_operator.post(reverse("policy_arm", args=[policy.pk]), follow=True)
        assert "is disabled" in response.content.decode()
        assert "Nothing was changed" in response.content.decode()
        assert _desired(policy) == (False, 0)
        assert not Operation.objects.filter(action=Action.ARM).exists()


class TestDisarm:
    def test_it_disarms_on_the_exchange_even_without_an_engine(self, as_operator, sim_desk):
        policy = sim_desk["policies"][0]
        response = as_operator.post(reverse("policy_disarm", args=[policy.pk]))
        assert response.status_code == 302
        assert _desired(policy) == (False, 2)
        live = {c["symbol"] for c in sim_desk["sim"].exchange.countdowns()}
        assert policy.symbol not in live and len(live) == 2
        assert policy.status().state == "disarmed"


class TestRefusals:
    @pytest.mark.parametrize("who", ["viewer", "key_admin", "outsider"])
    @pytest.mark.parametrize("name", ["policy_arm", "policy_disarm"])
    def test_it_refuses_anyone_but_an_operator(self, client, desk, who, name, request):
        client.force_login(request.getfixturevalue(who))
        policy = desk["armed"]
        before = _desired(policy)
        response = client.post(reverse(name, args=[policy.pk]))
        assert response.status_code == 403
        assert "Nothing was changed" in response.content.decode() or who == "outsider"
        assert _desired(policy) == before
        assert not Operation.objects.filter(action__in=[Action.ARM, Action.DISARM]).exists()

    def test_it_sends_anonymous_visitors_to_sign_in(self, client, desk):
        policy = desk["disarmed"]
        response = client.post(reverse("policy_arm", args=[policy.pk]))
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
        assert _desired(policy) == (False, 0)

    @pytest.mark.parametrize("name", ["policy_arm", "policy_disarm"])
    def test_it_accepts_post_only(self, as_operator, desk, name):
        policy = desk["disarmed"]
        assert as_operator.get(reverse(name, args=[policy.pk])).status_code == 405
        assert _desired(policy) == (False, 0)

    @pytest.mark.parametrize(
        "bad,message",
        [
            ("424242", "There is no policy 424242"),
            ("abc", "is not a policy number"),
            ("-3", "“-3” is not a policy number"),
        ],
    )
    def test_it_explains_a_bad_policy_id_and_changes_nothing(self, as_operator, desk, bad, message):
        before = list(CountdownPolicy.objects.values_list("armed", "generation"))
        response = as_operator.post(f"/policies/{bad}/arm/")
        assert response.status_code == 404
        assert message in response.content.decode()
        assert list(CountdownPolicy.objects.values_list("armed", "generation")) == before
        assert not Operation.objects.filter(action=Action.ARM).exists()

    def test_it_refuses_a_post_without_a_csrf_token(self, operator, desk):
        client = Client(enforce_csrf_checks=True)
        client.force_login(operator)
        policy = desk["disarmed"]
        response = client.post(reverse("policy_arm", args=[policy.pk]))
        assert response.status_code == 403
        assert "Nothing was changed" in response.content.decode()
        assert _desired(policy) == (False, 0)

    def test_it_accepts_the_token_from_the_page(self, operator, desk):
        client = Client(enforce_csrf_checks=True)
        client.force_login(operator)
        client.get(reverse("board"))
        token = client.cookies["csrftoken"].value
        policy = desk["disarmed"]
        response = client.post(reverse("policy_arm", args=[policy.pk]), {"csrfmiddlewaretoken": token})
        assert response.status_code == 302
        assert _desired(policy) == (True, 1)
