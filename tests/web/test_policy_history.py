"""A policy's page lists every operation that touched it, newest first, whoever or whatever made it: a
person, an API token, a maintenance window, a strategy's watch; with who, from where, why and a link to the
operation's page. In a constant number of queries, older ones a page at a time."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk import actions, maintenance
from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.strategies import silence
from heartbeats.domain import audit
from heartbeats.models import Action, Effect, Operation, Strategy
from heartbeats.views.policies import OPERATIONS_SHOWN
from tests.api.conftest import ApiClient, make_token
from tests.strategies.conftest import make_strategy
from tests.web.conftest import make_engine

pytestmark = pytest.mark.django_db


def _rows(html) -> dict[int, str]:
    """The page's operations, {operation id: the row's text}, in the order shown."""
    table = re.search(r'<table class="data" id="policy-operations">(.*?)</table>', html, re.DOTALL).group(1)
    rows = re.findall(r'<tr data-operation="(\d+)">(.*?)</tr>', table, re.DOTALL)
    return {int(pk): re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for pk, row in rows}


def _page(client, policy, **query) -> str:
    response = client.get(reverse("policy", args=[policy.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def ada(desk):
    make_engine()  # alive: the web sends no disarm itself
    return desk["uncertain"]  # desk-b ADAUSDT, armed


def test_it_lists_every_operation_that_touched_the_policy_whoever_made_it(
    as_viewer, operator, ada, desk, monkeypatch
):
    g = ada.generation
    # A person disarms a selection at 02:11 and re-arms it.
    selected = actions.set_selected(
        [ada.pk, desk["armed"].pk], armed=False, user=operator, ip="10.0.0.1", reason="ADA venue halt"
    )
    rearm = actions.rearm(selected, user=operator, ip="10.0.0.2", reason="venue back")
    # A maintenance window disarms it at its start and re-arms it at its end.
    now = timezone.now()
    window = maintenance.create(
        user=operator,
        ip="10.0.0.3",
        reason="exchange maintenance",
        starts_at=now + timedelta(seconds=30),
        ends_at=now + timedelta(hours=1),
        policy_ids=[ada.pk],
    )
    created = Operation.objects.get(action=Action.WINDOW_CREATE)
    extended = maintenance.extend(
        window.pk, user=operator, ip="10.0.0.4", reason="longer", ends_at=window.ends_at + timedelta(hours=1)
    )
    window.refresh_from_db()
    [start] = maintenance.apply_due(window.starts_at)
    [end] = maintenance.apply_due(window.ends_at)
    # An API token cancels its orders (nothing sent here: the audit trail is what is looked at).
    monkeypatch.setattr(killswitch, "_send_logged", lambda operation_id: None)
    _, raw = make_token("incident runbook", "operator")
    answer = ApiClient(raw, address="192.0.2.10").post(
        "cancel-orders", {"reason": "runaway", "policy": ada.pk}
    )
    assert answer.status_code == 202, answer.content
    cancel = Operation.objects.get(pk=answer.json()["id"])
    # Its strategy falls silent: the watch holds it back.
    strategy, _key = make_strategy([ada], grace_s=5)
    Strategy.objects.filter(pk=strategy.pk).update(last_ping_at=timezone.now() - timedelta(seconds=6))
    assert silence.latch_silences() == [strategy.pk]
    hold = Operation.objects.get(action=Action.STRATEGY_SILENT)
    # Another policy's operation stays off this page.
    other = actions.disarm(desk["late"].pk, user=operator, ip="10.0.0.9", reason="not ADA")

    rows = _rows(_page(as_viewer, ada))
    newest_first = [hold.pk, cancel.pk, end.pk, start.pk, extended.pk, created.pk, rearm.pk, selected.pk]
    assert list(rows) == newest_first
    # Scheduling the window, and moving its end, touched it before anything was disarmed.
    assert rows[created.pk].endswith(
        f"Maintenance window created Covered by a maintenance window (generation {g + 2}) olga 10.0.0.3 "
        "exchange maintenance Details"
    )
    assert rows[extended.pk].endswith(
        f"Maintenance window extended Covered by a maintenance window (generation {g + 2}) olga 10.0.0.4 "
        "longer Details"
    )
    assert other.pk not in rows
    assert rows[selected.pk].endswith(
        f"Disarm selected Disarmed (generation {g + 1}) olga 10.0.0.1 ADA venue halt Results"
    )
    assert rows[rearm.pk].endswith(f"Re-arm Armed (generation {g + 2}) olga 10.0.0.2 venue back Results")
    assert rows[start.pk].endswith(
        f"Maintenance window started Disarmed (generation {g + 3}) maintenance window — exchange maintenance "
        "Results"
    )
    assert rows[end.pk].endswith(
        f"Maintenance window ended Armed (generation {g + 4}) maintenance window — exchange maintenance "
        "Results"
    )
    assert rows[cancel.pk].endswith(
        f"Cancel orders now Orders cancelled (generation {g + 4}) api:incident runbook 192.0.2.10 runaway "
        "Results"
    )
    assert (
        f"Strategy went silent Held back (generation {g + 4}) strategy watch — strategy mm-bot: no ping "
        "for 5 s" in rows[hold.pk]
    )
    assert rows[hold.pk].endswith("Details")
    # Each row's link leads to that operation's page, which names the policy.
    html = _page(as_viewer, ada)
    for pk in rows:
        assert f'href="{reverse("operation", args=[pk])}"' in html
        page = as_viewer.get(reverse("operation", args=[pk]))
        assert page.status_code == 200 and "ADAUSDT" in page.content.decode(), pk


def _operations(policy, count):
    for n in range(count):
        effect = Effect.DISARMED if n % 2 else Effect.ARMED
        audit.record(Action.ARM, user=None, ip=None, reason=f"op {n}", targets=[audit.target(policy, effect)])


def test_it_reads_the_operations_in_the_same_number_of_queries_however_many_there_are(as_viewer, desk):
    policy = desk["armed"]
    as_viewer.get(reverse("policy", args=[policy.pk]))  # the session and the caches warmed up
    _operations(policy, 2)
    with CaptureQueriesContext(connection) as few:
        assert len(_rows(_page(as_viewer, policy))) == 2
    _operations(policy, 60)
    with CaptureQueriesContext(connection) as many:
        assert len(_rows(_page(as_viewer, policy))) == OPERATIONS_SHOWN
    assert len(many.captured_queries) == len(few.captured_queries)


def test_it_shows_older_operations_a_page_at_a_time(as_viewer, desk):
    policy = desk["armed"]
    _operations(policy, OPERATIONS_SHOWN + 5)
    first = _page(as_viewer, policy)
    newest = list(_rows(first))
    assert len(newest) == OPERATIONS_SHOWN and "Newest operations" not in first
    older = re.search(r'id="older-operations" href="\?before=(\d+)#operations"', first).group(1)
    second = _page(as_viewer, policy, before=older)
    rest = list(_rows(second))
    assert len(rest) == 5 and max(rest) < min(newest)
    assert 'id="older-operations"' not in second and "Newest operations" in second
    # A page number that makes no sense shows the newest.
    for bad in ("abc", "-1", "١٢", str(10**30)):
        assert list(_rows(_page(as_viewer, policy, before=bad))) == newest
