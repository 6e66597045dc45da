"""Re-arm after a Disarm all, and arming or disarming a selection of the board: operators only, a reason
always, one audited operation, and never a policy someone changed since."""

import re
import time

import pytest
from django.db.models import F
from django.db.models.functions import Now
from django.urls import reverse

from heartbeats.desk import actions
from heartbeats.domain import ratelimits
from heartbeats.models import Action, CountdownPolicy, Operation
from tests.web.conftest import make_account, make_engine, make_policy
from tests.web.test_step_up import age_factor, verified_operator  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _state():
    return list(CountdownPolicy.objects.order_by("pk").values_list("armed", "generation"))


@pytest.fixture
def disarmed_desk(desk, operator):
    """An engine alive (so the web sends nothing itself) and a Disarm all of the desk."""
    make_engine()
    operation = actions.disarm_all(user=operator, ip="127.0.0.1", reason="exchange maintenance")
    return {**desk, "operation": operation}


class TestRearm:
    def test_it_rearms_what_the_disarm_all_disarmed_with_the_reason_audited(
        self, as_operator, operator, disarmed_desk
    ):
        source = disarmed_desk["operation"]
        page = as_operator.get(reverse("operation", args=[source.pk])).content.decode()
        assert re.search(r'id="rearm" href="/operations/\d+/rearm/">Re-arm these 5…', page)
        confirm = as_operator.get(reverse("rearm", args=[source.pk])).content.decode()
        assert "Arms again the 5 policies" in confirm and "Re-arm 5 policies now" in confirm

        response = as_operator.post(
            reverse("rearm", args=[source.pk]), {"reason": "maintenance over"}, REMOTE_ADDR="10.1.2.3"
        )
        op = Operation.objects.get(action=Action.REARM)
        assert response.status_code == 302 and response.url == reverse("operation", args=[op.pk])
        assert (op.user, op.ip, op.reason) == (operator, "10.1.2.3", "maintenance over")
        assert op.changes["rearms_operation"] == source.pk and op.changes["policies"] == 5
        rearmed = CountdownPolicy.objects.filter(pk__in=[t.policy_id for t in op.targets.all()])
        assert all(p.armed for p in rearmed) and rearmed.count() == 5
        for target in op.targets.all():  # each with a generation of its own, after the disarm's
            before = source.targets.get(policy=target.policy_id)
            assert target.generation == before.generation + 1
        disarmed_desk["disarmed"].refresh_from_db()
        assert not disarmed_desk["disarmed"].armed  # never part of the Disarm all

        # The results page follows the arms; nothing is left to re-arm.
        page = as_operator.get(reverse("operation", args=[op.pk])).content.decode()
        assert "Re-arm" in page and 'data-count="armed"' in page
        assert 'id="rearm"' not in as_operator.get(reverse("operation", args=[source.pk])).content.decode()

    def test_the_disarm_alls_results_link_the_rearm_and_say_what_is_current(
        self, as_operator, operator, disarmed_desk
    ):
        source = disarmed_desk["operation"]
        armed = disarmed_desk["armed"]
        # The exchange acknowledged the Disarm all's zero for BTCUSDT; then someone re-armed.
        CountdownPolicy.objects.filter(pk=armed.pk).update(
            disarm_acked_generation=F("generation"), disarm_acked_at=Now()
        )
        rearm = actions.rearm(source, user=operator, ip="10.1.2.3", reason="incident over")
        # The engine acknowledged the re-arm of BTCUSDT: its status is armed again.
        CountdownPolicy.objects.filter(pk=armed.pk).update(
            last_arm_generation=F("generation"), last_arm_sent_at=Now(), last_outcome="confirmed"
        )
        page = as_operator.get(reverse("operation", args=[source.pk])).content.decode()
        later = re.search(r'id="later-operations">(.*?)</section>', page, re.S).group(1)
        assert (
            f'<a href="/operations/{rearm.pk}/">Re-arm #{rearm.pk}</a>' in later and "incident over" in later
        )
        row = re.search(rf'<tr data-policy-id="{armed.pk}">(.*?)</tr>', page, re.S).group(1)
        assert "Disarmed" in row  # what the Disarm all did
        now = re.search(r'data-cell="now">([^<]*)<', row).group(1)
        assert now == "Armed; heartbeats on time."  # and what is current, apart
        assert f'since <a href="/operations/{rearm.pk}/" data-cell="after">Re-arm #{rearm.pk}</a>' in row
        results = as_operator.get(reverse("operation_json", args=[source.pk])).json()["results"]
        mine = next(r for r in results if r["policy"] == armed.pk)
        assert (mine["result"], mine["now"], mine["after_id"]) == ("disarmed", now, rearm.pk)

    def test_it_leaves_alone_a_policy_someone_changed_since(self, as_operator, operator, disarmed_desk):
        armed_by_hand = disarmed_desk["armed"]
        actions.arm(armed_by_hand.pk, user=operator, ip=None)
        actions.disarm(armed_by_hand.pk, user=operator, ip=None)  # disarmed again: a newer generation
        armed_by_hand.refresh_from_db()
        generation = armed_by_hand.generation
        confirm = as_operator.get(reverse("rearm", args=[disarmed_desk["operation"].pk])).content.decode()
        assert "Arms again the 4 policies" in confirm and "1 policy changed since" in confirm
        as_operator.post(reverse("rearm", args=[disarmed_desk["operation"].pk]), {"reason": "back"})
        armed_by_hand.refresh_from_db()
        assert (armed_by_hand.armed, armed_by_hand.generation) == (False, generation)
        assert Operation.objects.get(action=Action.REARM).changes["left_alone"] == 1

    def test_it_leaves_out_a_policy_the_disarm_all_only_listed(self, operator, desk):
        make_engine()
        # Disarmed before the Disarm all and not yet acknowledged: listed by it, not disarmed by it.
        actions.disarm(desk["armed"].pk, user=operator, ip=None)
        source = actions.disarm_all(user=operator, ip=None, reason="incident")
        listed = source.targets.get(policy=desk["armed"])
        assert (listed.changed, listed.effect) == (False, "unchanged")
        assert desk["armed"].pk not in {p.pk for p in actions.rearmable(source)}

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_it_requires_a_reason_and_changes_nothing(self, as_operator, disarmed_desk, reason):
        before = _state()
        response = as_operator.post(
            reverse("rearm", args=[disarmed_desk["operation"].pk]), {"reason": reason}
        )
        assert response.status_code == 400 and "Give a reason" in response.content.decode()
        assert _state() == before and not Operation.objects.filter(action=Action.REARM).exists()

    def test_a_second_rearm_explains_there_is_nothing_left(self, as_operator, disarmed_desk):
        url = reverse("rearm", args=[disarmed_desk["operation"].pk])
        as_operator.post(url, {"reason": "back"})
        before = _state()
        response = as_operator.post(url, {"reason": "again"})
        assert response.status_code == 400
        assert "None of these policies can be re-armed" in response.content.decode()
        assert _state() == before and Operation.objects.filter(action=Action.REARM).count() == 1

    @pytest.mark.parametrize("who", ["viewer", "key_admin", "outsider"])
    def test_it_refuses_anyone_but_an_operator(self, client, disarmed_desk, who, request):
        client.force_login(request.getfixturevalue(who))
        url = reverse("rearm", args=[disarmed_desk["operation"].pk])
        before = _state()
        assert client.get(url).status_code == 403
        assert client.post(url, {"reason": "try"}).status_code == 403
        assert _state() == before and not Operation.objects.filter(action=Action.REARM).exists()

    def test_viewers_are_not_offered_it(self, as_viewer, disarmed_desk):
        page = as_viewer.get(reverse("operation", args=[disarmed_desk["operation"].pk])).content.decode()
        assert 'id="rearm"' not in page

    def test_only_a_disarm_all_or_a_disarmed_selection_can_be_rearmed(self, as_operator, operator, desk):
        op = actions.arm(desk["disarmed"].pk, user=operator, ip=None)
        response = as_operator.get(reverse("rearm", args=[op.pk]))
        assert response.status_code == 404 and "can be re-armed" in response.content.decode()

    def test_a_stale_second_factor_refuses_it(self, client, verified_operator):  # noqa: F811
        make_engine()
        policy = make_policy(make_account(), "BTCUSDT", "armed")
        source = actions.disarm_all(user=None, ip=None, reason="incident")
        age_factor(client, 301)
        response = client.post(reverse("rearm", args=[source.pk]), {"reason": "back"})
        assert response.status_code == 403 and "Nothing was changed" in response.content.decode()
        policy.refresh_from_db()
        assert not policy.armed


class TestSelection:
    def test_it_confirms_and_arms_the_ticked_rows_as_one_operation(self, as_operator, operator, desk):
        make_engine()
        other = make_policy(desk["accounts"][0], "DOTUSDT", "disarmed")
        ids = [desk["disarmed"].pk, other.pk, desk["armed"].pk]
        confirm = as_operator.get(reverse("selection"), {"do": "arm", "policy": ids})
        html = confirm.content.decode()
        assert confirm.status_code == 200
        assert "Arms 2 of the 3 policies selected" in html and "Arm 3 policies now" in html
        assert "Egress “default”: 2 arms, all within this minute" in html

        response = as_operator.post(
            reverse("selection"), {"do": "arm", "policy": ids, "reason": "strategy released"}
        )
        op = Operation.objects.get(action=Action.ARM_SELECTED)
        assert response.status_code == 302 and response.url == reverse("operation", args=[op.pk])
        assert (op.user, op.reason, op.changes["changed"]) == (operator, "strategy released", 2)
        assert {t.policy_id: t.changed for t in op.targets.all()} == {
            desk["disarmed"].pk: True,
            other.pk: True,
            desk["armed"].pk: False,
        }
        assert CountdownPolicy.objects.filter(pk__in=ids, armed=True).count() == 3
        assert op.changes["pacing"][0]["arms"] == 2

    def test_it_selects_every_policy_a_filter_matches_across_pages(self, as_operator, operator, desk):
        make_engine()
        account = desk["accounts"][0]
        for n in range(130):
            make_policy(account, f"Z{n:03d}USDT", "disarmed")
        confirm = as_operator.get(
            reverse("selection"), {"do": "arm", "all": "1", "account": account.pk, "status": "disarmed"}
        )
        html = confirm.content.decode()
        assert "Arms 131 of the 131 policies selected" in html  # SOLUSDT and the 130
        assert html.count('name="policy"') == 131
        ids = re.findall(r'name="policy" value="(\d+)"', html)
        as_operator.post(reverse("selection"), {"do": "arm", "policy": ids, "reason": "session open"})
        assert CountdownPolicy.objects.filter(account=account, armed=False).count() == 0
        other_account = CountdownPolicy.objects.get(pk=desk["expired"].pk)
        assert (other_account.armed, other_account.generation) == (True, desk["expired"].generation)

    def test_it_disarms_a_selection_and_offers_to_rearm_it(self, as_operator, operator, desk):
        make_engine()
        ids = [desk["armed"].pk, desk["late"].pk]
        as_operator.post(reverse("selection"), {"do": "disarm", "policy": ids, "reason": "release"})
        op = Operation.objects.get(action=Action.DISARM_SELECTED)
        assert not CountdownPolicy.objects.filter(pk__in=ids, armed=True).exists()
        page = as_operator.get(reverse("operation", args=[op.pk])).content.decode()
        assert "Re-arm these 2…" in page

    @pytest.mark.parametrize(
        "data,message",
        [
            ({"do": "arm"}, "No policy is selected"),
            ({"do": "arm", "policy": ["abc"]}, "“abc” is not a policy number"),
            ({"do": "arm", "policy": ["987654"]}, "There is no policy 987654"),
            ({"do": "arm", "policy": ["9" * 30]}, "There is no policy"),
        ],
    )
    def test_it_explains_a_bad_selection_and_changes_nothing(self, as_operator, desk, data, message):
        before = _state()
        for response in (
            as_operator.get(reverse("selection"), data),
            as_operator.post(reverse("selection"), {**data, "reason": "go"}),
        ):
            assert response.status_code == 400 and message in response.content.decode()
        assert _state() == before and not Operation.objects.filter(action=Action.ARM_SELECTED).exists()

    def test_it_requires_a_reason_and_keeps_the_selection(self, as_operator, desk):
        before = _state()
        response = as_operator.post(
            reverse("selection"), {"do": "disarm", "policy": [desk["armed"].pk], "reason": " "}
        )
        html = response.content.decode()
        assert response.status_code == 400 and "Give a reason" in html
        assert f'name="policy" value="{desk["armed"].pk}"' in html
        assert _state() == before

    def test_arming_refuses_a_policy_of_a_disabled_account_and_changes_nothing(self, as_operator, desk):
        off = make_account("desk-off", enabled=False, api_key="offKey" + "D" * 58)
        policy = make_policy(off, "BTCUSDT", "disarmed")
        before = _state()
        response = as_operator.post(
            reverse("selection"),
            {"do": "arm", "policy": [policy.pk, desk["disarmed"].pk], "reason": "go"},
        )
        html = response.content.decode()
        assert response.status_code == 400 and "desk-off disabled" in html and "Nothing was changed" in html
        assert _state() == before

    @pytest.mark.parametrize("who", ["viewer", "key_admin", "outsider"])
    def test_it_refuses_anyone_but_an_operator(self, client, desk, who, request):
        client.force_login(request.getfixturevalue(who))
        before = _state()
        data = {"do": "disarm", "policy": [desk["armed"].pk]}
        assert client.get(reverse("selection"), data).status_code == 403
        assert client.post(reverse("selection"), {**data, "reason": "try"}).status_code == 403
        assert _state() == before

    def test_the_board_offers_selection_to_operators_only(self, client, operator, viewer, desk):
        client.force_login(operator)
        html = client.get(reverse("board"), {"status": "armed"}).content.decode()
        assert 'id="arm-selected"' in html and 'name="policy" form="selection"' in html
        assert '<input type="hidden" name="status" value="armed">' in html
        client.force_login(viewer)
        html = client.get(reverse("board")).content.decode()
        assert 'id="arm-selected"' not in html and 'form="selection"' not in html


class TestPacing:
    def test_it_says_when_the_last_arm_leaves_once_the_minute_is_spent(self, as_operator, desk):
        account = desk["accounts"][0]
        for n in range(12):
            make_policy(account, f"P{n:02d}USDT", "disarmed")
        # The address has 390 of its 2400 left this minute, 340 of them the reserve for disarming the 17
        # policies armed once these are: five arms fit now, the rest at the next minute.
        ratelimits.record(
            "default",
            account.base_url,
            minute=ratelimits.exchange_minute(time.time()),
            used_weight=2010,
            weight_limit=2400,
        )
        ids = list(CountdownPolicy.objects.filter(symbol__startswith="P").values_list("pk", flat=True))
        html = as_operator.get(reverse("selection"), {"do": "arm", "policy": ids}).content.decode()
        assert "12 arms: 5 fit this minute’s weight (390 of 2400 left), then up to" in html
        assert re.search(r"the last should leave at about \d\d:\d\d:00 UTC", html)
