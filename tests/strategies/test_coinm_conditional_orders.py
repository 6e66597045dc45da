"""COIN-M conditional orders, read as orders at stake and pulled by Cancel orders now, both ways Binance has
them: plain orders today, and in an Algo Service once it moves them there (the simulator's switch), including
the day it does."""

import pytest

from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.killswitch import stake
from heartbeats.exchange import client as exchange_client
from heartbeats.models import OrdersAtStake
from tests.strategies.test_orders_at_stake import armed

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOL = "BTCUSD_PERP"


def _coinm(simulator, make_account, make_policy):
    account = make_account()
    account.venue = "coinm"
    account.save(update_fields=["venue"])
    policy = make_policy(account, SYMBOL)
    armed(policy)
    return account, policy


def _plain_conditional_orders(simulator, account):
    place = simulator.exchange.place_order
    place(account.api_key, SYMBOL, price="1000")
    place(account.api_key, SYMBOL, "SELL", order_type="STOP_MARKET", stop_price="500")
    place(account.api_key, SYMBOL, "SELL", order_type="TRAILING_STOP_MARKET", callback_rate="1")


@pytest.fixture
def sent(monkeypatch):
    """The signed requests the clients send, as "METHOD /path" (the simulator logs no request to a path it
    does not know, such as COIN-M's algo paths before the migration)."""
    paths = []
    signed = exchange_client.FuturesClient._signed

    def spy(self, method, path, params, **kwargs):
        paths.append(f"{method} {self.prefix}{path}")
        return signed(self, method, path, params, **kwargs)

    monkeypatch.setattr(exchange_client.FuturesClient, "_signed", spy)
    return paths


def test_plain_conditional_orders_count_as_orders_a_lapse_cancels(simulator, make_account, make_policy, sent):
    account, policy = _coinm(simulator, make_account, make_policy)
    _plain_conditional_orders(simulator, account)
    assert stake.weight_per_reading(account) == 2  # not asked yet: openAlgoOrders is sent too

    assert stake.refresh_round(only=[policy.pk]) == 1

    row = OrdersAtStake.objects.get(pk=policy.pk)
    assert (row.error, row.orders, row.algo_orders) == ("", 3, None)
    assert sent == ["GET /dapi/v1/openOrders", "GET /dapi/v1/openAlgoOrders"]
    assert stake.weight_per_reading(account) == 1  # its 404 remembered: openOrders alone
    policy.refresh_from_db()
    assert stake.weight_per_minute([policy]) == 1  # the budget page's line follows

    stake.refresh_round(only=[policy.pk])

    assert sent[2:] == ["GET /dapi/v1/openOrders"]


def test_cancel_orders_now_pulls_plain_conditional_orders_with_the_others(
    simulator, make_account, make_policy, sent
):
    account, policy = _coinm(simulator, make_account, make_policy)
    _plain_conditional_orders(simulator, account)
    stake.refresh_round(only=[policy.pk])  # what the press finds; it also learns there is no Algo Service

    operation = killswitch.cancel_orders([policy.pk], reason="desk halted")
    rows = killswitch.wait(operation)

    assert [(r.symbol, r.kind, r.state, r.found) for r in rows] == [(SYMBOL, "orders", "done", 3)]
    assert simulator.exchange.open_orders(account.api_key, SYMBOL) == []
    assert killswitch.summary(rows) == "Found 3 open orders on 1 symbol; cancelled all of them."
    assert "DELETE /dapi/v1/algoOpenOrders" not in sent  # remembered: nothing sent that would 404


def test_a_press_that_meets_the_404_itself_shows_only_the_request_that_mattered(
    simulator, make_account, make_policy, sent
):
    account, policy = _coinm(simulator, make_account, make_policy)
    _plain_conditional_orders(simulator, account)

    rows = killswitch.wait(killswitch.cancel_orders([policy.pk], reason="desk halted"))

    assert [(r.kind, r.state) for r in rows] == [("orders", "done")]
    assert "DELETE /dapi/v1/algoOpenOrders" in sent and not exchange_client.has_algo_service(
        account.base_url, "coinm"
    )
    assert simulator.exchange.open_orders(account.api_key, SYMBOL) == []


def test_after_the_migration_both_read_and_cancel_the_algo_orders(simulator, make_account, make_policy):
    simulator.exchange.set_coinm_algo_service(True)
    account, policy = _coinm(simulator, make_account, make_policy)
    simulator.exchange.place_order(account.api_key, SYMBOL, price="1000")
    simulator.exchange.place_algo_order(account.api_key, SYMBOL, quantity="1", trigger_price="500")

    stake.refresh_round(only=[policy.pk])

    row = OrdersAtStake.objects.get(pk=policy.pk)
    assert (row.error, row.orders, row.algo_orders) == ("", 1, 1)
    assert stake.weight_per_reading(account) == 2

    rows = killswitch.wait(killswitch.cancel_orders([policy.pk], reason="desk halted"))

    assert [(r.kind, r.state, r.found) for r in rows] == [("algo", "done", 1), ("orders", "done", 1)]
    assert simulator.exchange.open_orders(account.api_key, SYMBOL) == []
    assert simulator.exchange.open_algo_orders(account.api_key, SYMBOL) == []
    assert "Found 1 open order and 1 conditional order on 1 symbol" in killswitch.summary(rows)


def test_migration_day_is_noticed_once_the_404_is_old(simulator, make_account, make_policy, monkeypatch):
    monkeypatch.setattr(exchange_client, "ALGO_SERVICE_MEMO_SECONDS", 0.0)  # every 404 out of date at once
    account, policy = _coinm(simulator, make_account, make_policy)
    stake.refresh_round(only=[policy.pk])
    assert OrdersAtStake.objects.get(pk=policy.pk).algo_orders is None

    simulator.exchange.set_coinm_algo_service(True)
    simulator.exchange.place_algo_order(account.api_key, SYMBOL, quantity="1", trigger_price="500")
    stake.refresh_round(only=[policy.pk])

    assert OrdersAtStake.objects.get(pk=policy.pk).algo_orders == 1
    rows = killswitch.wait(killswitch.cancel_orders([policy.pk], reason="desk halted"))
    assert {(r.kind, r.state) for r in rows} == {("orders", "done"), ("algo", "done")}
    assert simulator.exchange.open_algo_orders(account.api_key, SYMBOL) == []
