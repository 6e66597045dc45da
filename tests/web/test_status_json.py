from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from heartbeats.models import Status
from tests.web.conftest import API_KEY, SECRET, make_account, make_engine, make_policy

pytestmark = pytest.mark.django_db

POLICY_KEYS = {
    "id",
    "account",
    "venue",
    "symbol",
    "armed",
    "status",
    "status_label",
    "detail",
    "expires_at_ms",
    "confirmed_at_ms",
    "remaining_ms",
    "interval_s",
    "countdown_ms",
    "last_error",
}
ENGINE_KEYS = {"alive", "seen_at_ms", "holds_lease", "banned_until", "rate_limited_until", "clock_offset_ms"}


def test_it_needs_a_signed_in_user(client, desk):
    response = client.get(reverse("status_json"))
    assert response.status_code == 302


def test_it_refuses_a_user_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("status_json")).status_code == 403


def test_it_has_the_documented_shape(as_viewer, desk):
    make_engine(clock_offset_ms=12, used_weight=50, weight_limit=2400)
    before = int(timezone.now().timestamp() * 1000)
    data = as_viewer.get(reverse("status_json")).json()
    assert before <= data["server_time_ms"] <= before + 5000
    assert set(data["engine"]) >= ENGINE_KEYS
    assert data["engine"]["alive"] is True
    assert data["engine"]["clock_offset_ms"] == 12
    assert data["budget"][0]["egress"] == "default"
    assert {"limit", "projected", "reserve", "available", "measured"} <= set(data["budget"][0])
    assert data["budget"][0]["measured"] == 50
    assert len(data["policies"]) == 6
    for row in data["policies"]:
        assert set(row) >= POLICY_KEYS


def test_it_gives_status_and_deadline_from_the_policy_status(as_viewer, desk):
    data = as_viewer.get(reverse("status_json")).json()
    rows = {r["symbol"]: r for r in data["policies"]}
    armed = desk["armed"]
    status = armed.status()
    row = rows["BTCUSDT"]
    assert row["status"] == Status.ARMED and row["status_label"] == "Armed"
    assert row["expires_at_ms"] == int(status.expires_at.timestamp() * 1000)
    assert row["confirmed_at_ms"] == int(armed.last_arm_sent_at.timestamp() * 1000)
    assert 110_000 < row["remaining_ms"] <= 115_000
    assert rows["SOLUSDT"]["expires_at_ms"] is None and rows["SOLUSDT"]["remaining_ms"] is None
    assert rows["XRPUSDT"]["last_error"].startswith("-2015")


def test_it_lists_the_riskiest_first(as_viewer, desk):
    data = as_viewer.get(reverse("status_json")).json()
    assert [r["status"] for r in data["policies"]] == [
        "expired",
        "failing",
        "uncertain",
        "late",
        "armed",
        "disarmed",
    ]


def test_it_filters_like_the_board(as_viewer, desk):
    a, _ = desk["accounts"]
    data = as_viewer.get(reverse("status_json"), {"account": a.pk, "status": "risk"}).json()
    assert [r["symbol"] for r in data["policies"]] == ["ETHUSDT"]


def test_it_can_return_one_policy(as_viewer, desk):
    data = as_viewer.get(reverse("status_json"), {"policy": desk["late"].pk}).json()
    assert [r["symbol"] for r in data["policies"]] == ["ETHUSDT"]


def test_it_can_leave_the_rows_out(as_viewer, desk):
    data = as_viewer.get(reverse("status_json"), {"rows": "none"}).json()
    assert data["policies"] == [] and "engine" in data


@pytest.mark.parametrize("params", [{"account": "abc"}, {"status": "nope"}, {"policy": "x1"}])
def test_it_answers_bad_filters_with_a_clear_400(as_viewer, desk, params):
    response = as_viewer.get(reverse("status_json"), params)
    assert response.status_code == 400
    assert response.json()["error"]


def test_it_reports_a_stale_engine_as_not_alive(as_viewer, desk):
    engine = make_engine(seen_ago=3)
    data = as_viewer.get(reverse("status_json")).json()
    assert data["engine"]["alive"] is False
    assert data["engine"]["seen_at_ms"] == int(engine.seen_at.timestamp() * 1000)
    assert data["engine"]["stale_after_ms"] == 2000


def test_it_reports_bans_and_rate_limits_as_times(as_viewer, desk):
    until = timezone.now() + timedelta(minutes=5)
    make_engine(banned_until=until, rate_limited_until=until)
    engine = as_viewer.get(reverse("status_json")).json()["engine"]
    assert engine["banned_until"] == int(until.timestamp() * 1000)
    assert engine["rate_limited_until"] == int(until.timestamp() * 1000)


def test_it_needs_an_engine_on_every_egress_in_use(as_viewer, desk):
    make_policy(make_account("far", egress="second-ip"), "DOGEUSDT", "armed")
    make_engine(egress="default")
    data = as_viewer.get(reverse("status_json")).json()
    assert data["engine"]["alive"] is False
    assert {b["egress"] for b in data["budget"]} == {"default", "second-ip"}


def test_it_never_contains_a_secret(as_operator, desk):
    body = as_operator.get(reverse("status_json")).content.decode()
    assert API_KEY not in body and SECRET not in body


def test_it_is_not_cached(as_viewer, desk):
    response = as_viewer.get(reverse("status_json"))
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def _policies(n):
    accounts = [make_account(f"acct-{i}", api_key=f"key{i:04d}" + "Z" * 60) for i in range(3)]
    states = ["armed", "late", "disarmed", "expired", "failing", "uncertain", "arming"]
    for i in range(n):
        make_policy(accounts[i % 3], f"SYM{i:03d}USDT", states[i % len(states)])


@pytest.mark.parametrize("n", [5, 50])
def test_it_costs_the_same_queries_whatever_the_number_of_policies(
    as_viewer, n, django_assert_max_num_queries
):
    _policies(n)
    make_engine()
    as_viewer.get(reverse("status_json"))  # warm the session and caches the same way for both sizes
    # Among them: alert channels not getting through, duties failing, orders at stake.
    with django_assert_max_num_queries(15):
        data = as_viewer.get(reverse("status_json")).json()
    assert len(data["policies"]) == n


def test_it_costs_exactly_as_many_queries_for_50_policies_as_for_5(as_viewer):
    _policies(5)
    make_engine()
    as_viewer.get(reverse("status_json"))
    with CaptureQueriesContext(connection) as small:
        as_viewer.get(reverse("status_json"))
    more = make_account("more")
    for i in range(45):
        make_policy(more, f"MORE{i:02d}USDT", "armed")
    with CaptureQueriesContext(connection) as large:
        data = as_viewer.get(reverse("status_json")).json()
    assert len(data["policies"]) == 50
    assert len(large) == len(small)


def test_it_names_the_alert_channels_whose_latest_delivery_did_not_get_through(as_viewer, desk):
    from heartbeats.models.alerts import AlertChannel, Delivery, Notification, NotificationKind

    now = timezone.now().replace(microsecond=0)

    def channel(name, *deliveries, enabled=True):
        made = AlertChannel.objects.create(name=name, url="json://alerts.example.net/hook", enabled=enabled)
        for kind, status, ago, error in deliveries:
            Notification.objects.create(
                channel=made,
                channel_name=name,
                kind=kind,
                title="t",
                status=status,
                last_attempt_at=None if ago is None else now - timedelta(seconds=ago),
                last_error=error,
            )
        return made

    alert, test = NotificationKind.ALERT, NotificationKind.TEST
    retrying = channel("pager", (alert, Delivery.SENT, 60, ""), (alert, Delivery.RETRYING, 10, "timed out"))
    failed = channel(
        "mail",
        (alert, Delivery.FAILED, 30, "550 no such user"),
        (test, Delivery.SENT, 5, ""),  # a test message sent fine afterwards says nothing of the alerts
        (alert, Delivery.PENDING, None, ""),  # not attempted yet
    )
    channel("chat", (alert, Delivery.FAILED, 60, "refused"), (alert, Delivery.SENT, 10, ""))  # recovered
    channel("off", (alert, Delivery.FAILED, 10, "refused"), enabled=False)
    channel("new")
    # Attempted at the same moment: the later notification is the latest.
    tie = channel("same time", (alert, Delivery.SENT, 20, ""), (alert, Delivery.FAILED, 20, "refused"))
    channel("same time again", (alert, Delivery.FAILED, 20, "refused"), (alert, Delivery.SENT, 20, ""))
    channel("tested", (test, Delivery.FAILED, 10, "bad URL"))

    failures = as_viewer.get(reverse("status_json")).json()["alert_failures"]
    assert failures == [
        {
            "id": failed.pk,
            "channel": "mail",
            "status": Delivery.FAILED,
            "error": "550 no such user",
            "at_ms": int((now - timedelta(seconds=30)).timestamp() * 1000),
        },
        {
            "id": retrying.pk,
            "channel": "pager",
            "status": Delivery.RETRYING,
            "error": "timed out",
            "at_ms": int((now - timedelta(seconds=10)).timestamp() * 1000),
        },
        {
            "id": tie.pk,
            "channel": "same time",
            "status": Delivery.FAILED,
            "error": "refused",
            "at_ms": int((now - timedelta(seconds=20)).timestamp() * 1000),
        },
    ]


def test_it_shows_the_orders_at_stake_and_orders_gone_for_an_hour(as_viewer, desk):
    from heartbeats.models import OrdersAtStake

    now = timezone.now().replace(microsecond=0)

    def ms(moment):
        return int(moment.timestamp() * 1000)

    def orders():
        return {p["symbol"]: p for p in as_viewer.get(reverse("status_json")).json()["policies"]}

    read = now - timedelta(seconds=2)
    OrdersAtStake.objects.create(
        policy=desk["armed"], orders=2, algo_orders=1, buy_notional=2000.0, sell_notional=0.5, checked_at=read
    )
    recent, old = now - timedelta(minutes=10), now - timedelta(hours=2)
    for policy, gone in ((desk["late"], recent), (desk["expired"], old)):
        OrdersAtStake.objects.create(policy=policy, orders=0, checked_at=read, gone_at=gone, gone_count=3)
    OrdersAtStake.objects.create(policy=desk["failing"], checked_at=read, error="Invalid API-key.")

    shown = orders()
    assert shown["BTCUSDT"]["orders"] == {
        "orders": 2,
        "algo_orders": 1,
        "buy_notional": 2000.0,
        "sell_notional": 0.5,
        "checked_at_ms": ms(read),
        "gone_at_ms": None,
        "gone_count": None,
    }
    assert shown["BTCUSDT"]["stake_text"] == "2 orders + 1 conditional (may survive a lapse) at stake"
    assert shown["ETHUSDT"]["orders"]["gone_at_ms"] == ms(recent)
    assert shown["ETHUSDT"]["orders"]["gone_count"] == 3
    assert shown["BNBUSDT"]["orders"]["gone_at_ms"] is None  # more than an hour ago
    assert shown["XRPUSDT"]["stake_text"] == "Invalid API-key."
    assert shown["SOLUSDT"]["orders"] is None and shown["SOLUSDT"]["stake_text"] == ""
    board = as_viewer.get(reverse("board")).content.decode()
    assert "3 gone at" in board and board.count("3 gone at") == 1

    # A new reading is shown at the next poll, beside the unchanged ones.
    OrdersAtStake.objects.filter(policy=desk["armed"]).update(orders=1, algo_orders=0, checked_at=now)
    again = orders()
    assert again["BTCUSDT"]["stake_text"] == "1 order at stake"
    assert again["BTCUSDT"]["orders"]["checked_at_ms"] == ms(now)
    assert again["ETHUSDT"]["orders"] == shown["ETHUSDT"]["orders"]
