"""Orders at stake: read from the exchange within the weight budget, shown on the board, and a lapse seen in
the exchange's own answer."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk.killswitch import stake
from heartbeats.domain import ratelimits
from heartbeats.models import CountdownPolicy, OrdersAtStake, Outcome
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def armed(policy, *, sent_ago=1.0):
    """Facts of an armed policy written directly (history rewritten, not the desired-state path the round
    watches): the round forgets until when it had nothing to do."""
    stake._quiet.forget()
    sent = timezone.now() - timedelta(seconds=sent_ago)
    CountdownPolicy.objects.filter(pk=policy.pk).update(
        armed=True,
        generation=1,
        last_arm_generation=1,
        last_arm_sent_at=sent,
        last_arm_countdown_ms=policy.countdown_ms,
        last_outcome=Outcome.CONFIRMED,
    )


def test_the_board_shows_what_a_lapse_would_cancel(simulator, make_account, make_policy, client, viewer):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=30, countdown_ms=120_000)
    armed(policy)
    simulator.exchange.place_order(account.api_key, "BTCUSDT", price="1000", quantity="2")
    simulator.exchange.place_order(account.api_key, "BTCUSDT", side="SELL", price="900000")
    simulator.exchange.place_algo_order(account.api_key, "BTCUSDT", trigger_price="500")
    assert stake.refresh_round() == 1
    row = OrdersAtStake.objects.get(pk=policy.pk)
    assert (row.orders, row.algo_orders, row.buy_notional, row.sell_notional) == (2, 1, 2000.0, 900000.0)
    assert stake.refresh_round() == 0  # read again only after STAKE_EVERY
    client.force_login(viewer)
    data = client.get(reverse("status_json")).json()["policies"][0]
    assert data["stake_text"] == "2 orders + 1 conditional (may survive a lapse) at stake"
    assert data["orders"]["orders"] == 2 and data["orders"]["gone_at_ms"] is None
    assert "2 orders + 1 conditional" in client.get(reverse("board")).content.decode()


def test_reading_spends_only_what_the_budget_leaves(simulator, make_account, make_policy):
    account = make_account()
    policy = make_policy(account, "BTCUSDT")
    armed(policy)
    ratelimits.ensure_row(account.egress, account.base_url)
    minute = ratelimits.exchange_minute(timezone.now().timestamp())
    ratelimits.record(account.egress, account.base_url, minute=minute, used_weight=2395, weight_limit=2400)
    assert stake.refresh_round() == 0
    assert not OrdersAtStake.objects.exists()
    assert not simulator.exchange.requests_log("/fapi/v1/openOrders")


def test_short_of_weight_it_rests_until_the_minute_turns_and_news_still_wakes_it(
    simulator, make_account, make_policy
):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=30, countdown_ms=120_000)
    if timezone.now().second >= 55:
        time.sleep(6)  # the same exchange minute throughout
    armed(policy)
    ratelimits.ensure_row(account.egress, account.base_url)
    minute = ratelimits.exchange_minute(timezone.now().timestamp())
    ratelimits.record(account.egress, account.base_url, minute=minute, used_weight=2395, weight_limit=2400)
    assert stake.refresh_round() == 0
    # Not every second: the weight comes back with the next minute, and nothing else is due before it.
    turns = datetime.fromtimestamp((minute + 1) * 60, UTC)
    assert turns < stake._quiet.resting_until() <= turns + timedelta(seconds=2)
    assert stake.refresh_round() == 0 and stake._quiet.resting_until() is not None
    # A disarm is news: the next round reads (and is still short of weight).
    CountdownPolicy.objects.filter(pk=policy.pk).update(desired_changed_at=timezone.now())
    assert not stake._quiet.holds(stake._changes(), timezone.now())
    assert not simulator.exchange.requests_log("/fapi/v1/openOrders")


def test_a_lapse_is_confirmed_by_the_exchanges_answer(simulator, make_account, make_policy):
    account = make_account()
    policy = make_policy(account, "ETHUSDT", interval_s=1, countdown_ms=5000)
    armed(policy)
    simulator.exchange.place_order(account.api_key, "ETHUSDT", price="1000")
    stake.refresh_round()
    # The countdown runs out (no heartbeat since): the exchange cancels the symbol's orders.
    armed(policy, sent_ago=10)
    for order in simulator.exchange.open_orders(account.api_key, "ETHUSDT"):
        simulator.exchange.cancel_order(
            simulator.exchange.account(account.api_key), "ETHUSDT", order_id=order["orderId"]
        )
    OrdersAtStake.objects.update(checked_at=timezone.now() - timedelta(minutes=1))
    stake.refresh_round()
    row = OrdersAtStake.objects.get(pk=policy.pk)
    assert row.orders == 0 and row.gone_count == 1 and row.gone_at is not None


def test_coin_m_without_an_algo_service_has_no_algo_orders_to_read(simulator, make_account, make_policy):
    account = make_account()
    account.venue = "coinm"
    account.save(update_fields=["venue"])
    policy = make_policy(account, "BTCUSD_PERP")
    armed(policy)
    stake.refresh_round()
    row = OrdersAtStake.objects.get(pk=policy.pk)
    assert row.error == "" and row.orders == 0 and row.algo_orders is None


def test_a_large_account_is_read_whole_in_two_requests(simulator, make_account, make_policy):
    from simulator import symbols

    account = make_account()
    names = [m.symbol for m in symbols.USDM_MARKETS if m.symbol.endswith("USDT")][:21]
    policies = [make_policy(account, name, interval_s=30, countdown_ms=120_000) for name in names]
    for policy in policies:
        armed(policy)
    simulator.exchange.place_order(account.api_key, names[0], price="1000")
    simulator.exchange.place_algo_order(account.api_key, names[1], trigger_price="500")
    assert stake.refresh_round() == 21
    reads = simulator.exchange.requests_log("/fapi/v1/openOrders") + simulator.exchange.requests_log(
        "/fapi/v1/openAlgoOrders"
    )
    assert len(reads) == 2 and all(not r.get("symbol") for r in reads), reads
    counts = {
        r.policy.symbol: (r.orders, r.algo_orders) for r in OrdersAtStake.objects.select_related("policy")
    }
    assert counts[names[0]] == (1, 0) and counts[names[1]] == (0, 1) and counts[names[2]] == (0, 0)
    assert len(counts) == 21


def test_the_figure_follows_a_cancel_orders_press_and_a_disarm_within_the_boards_refresh(
    simulator, make_account, make_policy, client, viewer, settings
):
    from heartbeats.desk import actions
    from heartbeats.desk.killswitch import cancel

    settings.STAKE_READING = True  # off in the tests' settings: no duty reads behind other tests' backs
    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=30, countdown_ms=120_000)
    armed(policy)
    simulator.exchange.place_order(account.api_key, "BTCUSDT", price="1000")
    simulator.exchange.place_order(account.api_key, "BTCUSDT", side="SELL", price="900000")
    assert stake.refresh_round() == 1
    client.force_login(viewer)
    status = lambda: client.get(reverse("status_json")).json()["policies"][0]  # noqa: E731
    assert status()["stake_text"] == "2 orders at stake"
    pressed = time.monotonic()
    cancel.cancel_orders([policy.pk], reason="runaway strategy")
    wait_for(lambda: status()["stake_text"] == "0 orders at stake", timeout=5, message="0 orders shown")
    # The board polls every second (live.js): its next poll after the press shows the orders gone.
    assert time.monotonic() - pressed < 1.0
    # A disarm (someone may place or pull orders around it) is read again at the duty's next round.
    simulator.exchange.place_order(account.api_key, "BTCUSDT", price="1000")
    actions.disarm(policy.pk, user=None, ip="127.0.0.1")
    assert stake.refresh_round() == 1
    assert status()["stake_text"] == "1 order at stake"


def test_a_lapse_is_read_at_once_and_dated_by_the_exchanges_own_record(
    simulator, make_account, make_policy, client, viewer
):
    account = make_account()
    policy = make_policy(account, "ETHUSDT", interval_s=1, countdown_ms=5000)
    armed(policy)
    simulator.exchange.place_order(account.api_key, "ETHUSDT", price="1000")
    stake.refresh_round()
    # Read 6 s ago; then the countdown ran out (last beat 10 s ago) and the exchange cancelled the order.
    armed(policy, sent_ago=10)
    OrdersAtStake.objects.update(checked_at=timezone.now() - timedelta(seconds=6))
    exchange_account = simulator.exchange.account(account.api_key)
    [order] = simulator.exchange.open_orders(account.api_key, "ETHUSDT")
    gone = simulator.exchange.cancel_order(exchange_account, "ETHUSDT", order_id=order["orderId"])
    assert stake.refresh_round() == 1  # not waiting for the minute's reading
    row = OrdersAtStake.objects.get(pk=policy.pk)
    assert row.orders == 0 and row.gone_count == 1
    assert row.gone_at == datetime.fromtimestamp(gone.update_ms / 1000, UTC)
    assert simulator.exchange.requests_log("/fapi/v1/order")  # asked the exchange about the order


def test_an_old_figure_says_when_it_was_read(simulator, make_account, make_policy, client, viewer):
    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=30, countdown_ms=120_000)
    armed(policy)
    simulator.exchange.place_order(account.api_key, "BTCUSDT", price="1000")
    stake.refresh_round()
    read_at = timezone.now() - timedelta(seconds=30)
    OrdersAtStake.objects.update(checked_at=read_at)
    client.force_login(viewer)
    data = client.get(reverse("status_json")).json()["policies"][0]
    assert data["stake_text"] == f"1 order at stake (as of {read_at:%H:%M:%S})"


def test_a_round_with_nothing_due_reads_no_policy_until_something_changes(
    simulator, make_account, make_policy, django_assert_max_num_queries
):
    from heartbeats.desk import actions

    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=30, countdown_ms=120_000)
    other = make_policy(account, "ETHUSDT", interval_s=30, countdown_ms=120_000)
    armed(policy)
    assert stake.refresh_round() == 1
    # Read a moment ago, its countdown far from running out: nothing can fall due for a while, and the
    # round that runs every second costs three small queries instead of reading every policy.
    for _ in range(3):
        with django_assert_max_num_queries(3):
            assert stake.refresh_round() == 0
    # Armed by someone: read at the next round.
    actions.arm(other.pk, user=None, ip=None)
    assert stake.refresh_round() == 1
    assert OrdersAtStake.objects.filter(pk=other.pk).exists()


def test_an_accounts_readings_fall_into_step(simulator, make_account, make_policy):
    """Policies of one account armed at different moments are soon read together: one account-wide reading
    a minute rather than one per symbol spread over the minute."""
    account = make_account()
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT"]
    policies = [make_policy(account, symbol, interval_s=30, countdown_ms=120_000) for symbol in symbols]
    for p in policies:
        armed(p)
    start = timezone.now()
    for k, p in enumerate(policies):  # read over the last minute, one after the other
        OrdersAtStake.objects.update_or_create(
            policy_id=p.pk, defaults={"checked_at": start - timedelta(seconds=59 - k * 9), "orders": 0}
        )
    read = stake.refresh_round(start + timedelta(seconds=1))
    # The one due (read 59 s ago) and those read more than 30 s ago went together.
    stamps = dict(OrdersAtStake.objects.values_list("policy_id", "checked_at"))
    together = [p.pk for p in policies if stamps[p.pk] > start - timedelta(seconds=5)]
    assert read == len(together) == 4


def test_the_desks_accounts_are_read_in_one_round_a_minute(simulator, make_account, make_policy):
    """Accounts whose readings fell at different moments are soon read in the same round: each round reads
    the whole desk's policies and keys, so one a minute rather than one per account."""
    accounts = [make_account(f"desk-{k}") for k in range(4)]
    policies = [make_policy(a, "BTCUSDT", interval_s=30, countdown_ms=120_000) for a in accounts]
    for p in policies:
        armed(p)
    start = timezone.now()
    ago = {policies[0].pk: 59, policies[1].pk: 45, policies[2].pk: 31, policies[3].pk: 10}
    for p in policies:
        OrdersAtStake.objects.update_or_create(
            policy_id=p.pk, defaults={"checked_at": start - timedelta(seconds=ago[p.pk]), "orders": 0}
        )
    assert stake.refresh_round(start + timedelta(seconds=1)) == 3
    stamps = dict(OrdersAtStake.objects.values_list("policy_id", "checked_at"))
    assert [p.pk for p in policies if stamps[p.pk] > start - timedelta(seconds=5)] == [
        p.pk for p in policies[:3]
    ]
    assert stake.refresh_round(start + timedelta(seconds=2)) == 0  # nothing due until the last one's minute


def test_the_duty_rests_while_nothing_is_armed_and_looks_every_few_seconds_once_something_is(
    simulator, make_account, make_policy
):
    stake._quiet.forget()
    account = make_account()
    policy = make_policy(account, "BTCUSDT", interval_s=30, countdown_ms=120_000)
    # Nothing armed, nothing running out: an arm is news that wakes the duty, so it need not look.
    assert stake.stake_round() == pytest.approx(stake.REST_WHEN_NOTHING_ARMED, abs=1)
    armed(policy, sent_ago=1.0)
    # Armed: an engine's first arm may bring an expiry forward without news, so it looks again soon.
    assert stake.stake_round() <= stake.REST_AT_MOST
