"""Cancel orders now through the API: the chosen symbols' orders are gone on the exchange, audited under the
token's name; a viewer token, a missing reason or an unclear scope change nothing."""

import re

import pytest

from heartbeats.desk.killswitch import cancel as killswitch
from heartbeats.desk.killswitch import stake
from heartbeats.models import Action, Operation, OrderCancel
from tests.strategies.conftest import make_strategy

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_token_cancels_an_accounts_orders(operator_token, sim_desk):
    _, api = operator_token
    sim, account = sim_desk["sim"], sim_desk["accounts"][0]
    for symbol in ("BTCUSDT", "ETHUSDT"):
        sim.exchange.place_order(account.api_key, symbol, price="1000")
        sim.exchange.place_algo_order(account.api_key, symbol, trigger_price="500")
    response = api.post("cancel-orders", {"reason": "runaway bot", "account": account.pk})
    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["id"])
    killswitch.wait(operation)
    assert (operation.action, operation.username) == (Action.CANCEL_ORDERS, "api:incident runbook")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert sim.exchange.open_orders(account.api_key, symbol) == []
        assert sim.exchange.open_algo_orders(account.api_key, symbol) == []
    results = api.get(f"operations/{operation.pk}").json()
    assert results["done"] and {(c["symbol"], c["kind"], c["state"]) for c in results["cancels"]} == {
        (s, k, "done") for s in ("BTCUSDT", "ETHUSDT") for k in ("orders", "algo")
    }
    # The countdowns stay armed unless asked.
    assert all(p.armed for p in account.policies.all())


def test_the_results_say_how_many_orders_it_found_and_cancelled_per_symbol(
    operator_token, sim_desk, client, viewer
):
    _, api = operator_token
    sim, account = sim_desk["sim"], sim_desk["accounts"][0]
    sim.exchange.place_order(account.api_key, "BTCUSDT", price="1000")
    sim.exchange.place_order(account.api_key, "BTCUSDT", side="SELL", price="900000")
    sim.exchange.place_algo_order(account.api_key, "BTCUSDT", trigger_price="500")
    sim.exchange.place_order(account.api_key, "ETHUSDT", price="1000")
    # What the board's orders at stake last read is what the press found: no listing delays a cancel.
    stake.refresh_round(only=[p.pk for p in account.policies.all()])
    response = api.post("cancel-orders", {"reason": "runaway bot", "account": account.pk})
    operation = Operation.objects.get(pk=response.json()["id"])
    killswitch.wait(operation)
    found = {
        (c["symbol"], c["kind"]): c["found"] for c in api.get(f"operations/{operation.pk}").json()["cancels"]
    }
    assert found == {
        ("BTCUSDT", "orders"): 2,
        ("BTCUSDT", "algo"): 1,
        ("ETHUSDT", "orders"): 1,
        ("ETHUSDT", "algo"): 0,
    }
    client.force_login(viewer)
    page = client.get(f"/operations/{operation.pk}/").content.decode()
    assert "Found 3 open orders and 1 conditional order on 2 symbols; cancelled all of them." in page
    btc = re.search(r'data-cancel="sim-a BTCUSDT orders"(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-cell="found">2<', btc) and re.search(r'data-cell="cancelled">2<', btc)
    assert "acts on no policy" not in page
    # Said in the announcement too, not only on the page.
    from heartbeats.desk.alerts import ledger

    _title, body = ledger._describe(operation, ledger._results(operation))
    assert "Found 3 open orders and 1 conditional order on 2 symbols; cancelled all of them." in body


@pytest.mark.parametrize("migrated", [False, True])
def test_an_operator_token_cancels_a_coin_m_accounts_conditional_orders(operator_token, sim_desk, migrated):
    from tests.web.conftest import SECRET, make_account, make_policy

    _, api = operator_token
    sim = sim_desk["sim"]
    sim.exchange.set_coinm_algo_service(migrated)
    api_key = "simKeyCoinM" + "Q" * 53
    sim.exchange.add_account(api_key, "hmac", SECRET)
    account = make_account("sim-coinm", base_url=sim.url, api_key=api_key, venue="coinm")
    make_policy(account, "BTCUSD_PERP", "armed")
    if migrated:  # in the Algo Service, apart from the plain orders
        sim.exchange.place_algo_order(api_key, "BTCUSD_PERP", quantity="1", trigger_price="500")
    else:  # a plain order, like any other
        sim.exchange.place_order(api_key, "BTCUSD_PERP", "SELL", order_type="STOP_MARKET", stop_price="500")

    response = api.post("cancel-orders", {"reason": "runaway bot", "account": account.pk})
    killswitch.wait(Operation.objects.get(pk=response.json()["id"]))

    assert sim.exchange.open_orders(api_key) == [] and sim.exchange.open_algo_orders(api_key) == []
    cancels = api.get(f"operations/{response.json()['id']}").json()["cancels"]
    kinds = {("orders", "done"), ("algo", "done")} if migrated else {("orders", "done")}
    assert {(c["kind"], c["state"]) for c in cancels} == kinds


def test_a_token_that_disarms_too_is_named_on_the_disarm_as_well(operator_token, sim_desk):
    _, api = operator_token
    policy = sim_desk["policies"][0]
    response = api.post("cancel-orders", {"reason": "runaway bot", "policy": policy.pk, "disarm": True})
    assert response.status_code == 202, response.content
    cancel = Operation.objects.get(pk=response.json()["id"])
    killswitch.wait(cancel)
    disarm = Operation.objects.get(action=Action.DISARM_SELECTED)
    assert (disarm.username, disarm.ip) == ("api:incident runbook", "192.0.2.10")
    # Both on the policy's page, the cancel with the generation the disarm gave it.
    [disarmed], [cancelled] = disarm.targets.all(), cancel.targets.all()
    assert (disarmed.policy, disarmed.effect, cancelled.policy) == (policy, "disarmed", policy)
    assert (cancelled.effect, cancelled.generation) == ("orders_cancelled", disarmed.generation)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"reason": "x"}, 400, "exactly one"),
        ({"reason": "x", "all": True, "account": 1}, 400, "exactly one"),
        ({"reason": " ", "all": True}, 400, "reason"),
        ({"reason": "x", "policy": 99999}, 404, "no policy"),
        ({"reason": "x", "account": 10**30}, 404, "no account"),
        ({"reason": "x", "strategy": 99999}, 404, "There is no strategy 99999"),
    ],
)
def test_unclear_requests_cancel_nothing(operator_token, sim_desk, body, status, message):
    _, api = operator_token
    response = api.post("cancel-orders", body)
    assert response.status_code == status, response.content
    assert message in response.json()["detail"]
    assert (
        not OrderCancel.objects.exists()
        and not Operation.objects.filter(action=Action.CANCEL_ORDERS).exists()
    )


def test_a_viewer_token_cannot_cancel(viewer_token, sim_desk):
    _, api = viewer_token
    response = api.post("cancel-orders", {"reason": "x", "all": True})
    assert response.status_code == 403
    assert not OrderCancel.objects.exists()


def test_a_scope_with_no_policy_says_which(operator_token, sim_desk):
    _, api = operator_token
    strategy, _ = make_strategy(name="idle bot")
    response = api.post("cancel-orders", {"reason": "x", "strategy": strategy.pk})
    assert response.status_code == 404
    assert response.json()["detail"] == f"No policy belongs to strategy {strategy.pk}. Nothing was cancelled."


def test_the_summary_says_what_was_not_done_and_what_went_uncounted():
    from heartbeats.desk.killswitch.cancel import summary
    from heartbeats.models.orders import OrderCancel

    def row(symbol, kind, state, found):
        return OrderCancel(account_label="a", symbol=symbol, kind=kind, state=state, found=found)

    rows = [
        row("BTCUSDT", "orders", "done", 2),
        row("BTCUSDT", "algo", "done", None),
        row("ETHUSDT", "orders", "skipped", None),
        row("ETHUSDT", "algo", "skipped", None),
    ]
    assert summary(rows) == (
        "Found 2 open orders and 0 conditional orders on 2 symbols; 2 requests not done (see the errors "
        "below). 1 request cancelled with no recent reading of their orders to count."
    )
