"""Orders at stake: read from the exchange within the weight budget, shown on the board, and a lapse seen in
the exchange's own answer."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from heartbeats.desk.killswitch import stake
from heartbeats.domain import ratelimits
from heartbeats.models import CountdownPolicy, OrdersAtStake, Outcome

pytestmark = pytest.mark.django_db(transaction=True)


def armed(policy, *, sent_ago=1.0):
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


def test_coin_m_has_no_conditional_orders_to_read(simulator, make_account, make_policy):
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
