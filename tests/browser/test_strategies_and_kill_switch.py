"""Strategies and the kill switch end to end, against the simulator with the real engine: a key admin adds a
strategy in the browser and the test pings its URL over HTTP; when the pings stop, the guard stops beating and
the exchange's own countdown expiry cancels the orders (or, for a strategy that asks for it, the guard cancels
them at once). An operator cancels the orders of an account's symbols with Cancel orders now."""

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from heartbeats.desk import actions
from heartbeats.models import Action, CountdownPolicy, Operation, OrderCancel, Strategy
from tests.browser.conftest import make_user, running_engine, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COUNTDOWN_PATH = "/fapi/v1/countdownCancelAll"
CANCEL_PATHS = ("/fapi/v1/allOpenOrders", "/fapi/v1/algoOpenOrders")


def _arms(simulator, account, symbol) -> list[dict]:
    return [
        e
        for e in simulator.exchange.requests_log(COUNTDOWN_PATH)
        if e["symbol"] == symbol and e["api_key_last4"] == account.api_key[-4:] and e["countdown_ms"]
    ]


def _cancel_requests(simulator, account=None) -> list[dict]:
    return [
        e
        for path in CANCEL_PATHS
        for e in simulator.exchange.requests_log(path)
        if account is None or e["api_key_last4"] == account.api_key[-4:]
    ]


def _armed_on_exchange(simulator, account) -> set[str]:
    return {c["symbol"] for c in simulator.exchange.countdowns(account.api_key)}


def _has_orders(simulator, account, symbol) -> bool:
    return bool(
        simulator.exchange.open_orders(account.api_key, symbol)
        or simulator.exchange.open_algo_orders(account.api_key, symbol)
    )


def _add_strategy(page, live_server, *, name, policies, grace_s=5, cancel_when_silent=False) -> tuple:
    """A key admin (signed in) adds a strategy on the Strategies page: (the strategy, its ping URL)."""
    page.goto(f"{live_server.url}/strategies/")
    page.click("#add-strategy")
    page.wait_for_url(f"{live_server.url}/strategies/new/")
    page.fill("#id_name", name)
    page.fill("#id_owner", "desk team")
    page.fill("#id_grace_s", str(grace_s))
    expect(page.locator("#id_rearm_on_return")).not_to_be_checked()
    if cancel_when_silent:
        page.check("#id_cancel_when_silent")
    page.select_option("#id_policies", label=policies)
    page.click("#save-strategy")
    url = page.locator("#ping-url").inner_text().strip()
    strategy = Strategy.objects.get(name=name)
    assert url.startswith(f"{live_server.url}/ping/"), url
    assert strategy.grace_s == grace_s and strategy.cancel_when_silent is cancel_when_silent
    assert sorted(f"{p.account.label} {p.symbol}" for p in strategy.policies.with_account()) == sorted(
        policies
    )
    return strategy, url


def _ping(url) -> str:
    return requests.get(url, timeout=5).text.strip()


def _ping_for(url, seconds: float, until=None) -> float:
    """Pings every second for `seconds` (and, if given, until `until()` holds); the time of the last ping."""
    started = time.monotonic()
    while True:
        assert _ping(url) == "OK"
        last = time.time()
        if time.monotonic() - started >= seconds and (until is None or until()):
            return last
        assert time.monotonic() - started < seconds + 10, "the condition did not come while pinging"
        time.sleep(1)  # the strategy's own pace (real time: the guard judges pings by when they arrive)


def test_a_silent_strategy_lets_the_exchange_cancel_its_orders(
    page, live_server, desk_on_simulator, simulator
):
    make_account, make_policy = desk_on_simulator
    make_user("kim", "key admin")
    desk = make_account("alpha-mm")
    held = make_policy(desk, "BTCUSDT", interval_s=1, countdown_ms=5000)
    free = make_policy(desk, "ETHUSDT", interval_s=1, countdown_ms=5000)
    for policy in (held, free):
        actions.arm(policy.pk, user=None, ip=None)
    held_order = simulator.exchange.place_order(desk.api_key, "BTCUSDT", price="1000")
    free_order = simulator.exchange.place_order(desk.api_key, "ETHUSDT", price="1000")

    sign_in(page, live_server, "kim")
    strategy, url = _add_strategy(page, live_server, name="mm-bot", policies=["alpha-mm BTCUSDT"])
    page.click("text=Go to the strategy")
    expect(page.locator("#strategy-state")).to_have_text("waiting")

    with running_engine():
        # While it pings the held policy is beaten like the free one.
        last_ping = _ping_for(url, 3, until=lambda: len(_arms(simulator, desk, "BTCUSDT")) >= 2)
        page.reload()
        expect(page.locator("#strategy-state")).to_have_text("live")
        assert _armed_on_exchange(simulator, desk) == {"BTCUSDT", "ETHUSDT"}

        # The pings stop: no beat after the grace, and the exchange's countdown runs out.
        wait_for(
            lambda: not simulator.exchange.open_orders(desk.api_key, "BTCUSDT"),
            timeout=5 + 5 + 5,
            message="the held symbol's orders cancelled by the countdown's expiry",
        )
        gone_after = time.time() - last_ping
        print(
            f"orders cancelled by the exchange {gone_after:.1f} s after the last ping "
            "(grace 5 s, countdown 5 s)"
        )
        arms = _arms(simulator, desk, "BTCUSDT")
        assert all(e["received_at"] <= last_ping + 5 + 1.5 for e in arms), arms[-1]
        assert 5 <= gone_after <= 5 + 5 + 3, gone_after
        # Cancelled by the expiry of the countdown, not by a cancel request: the exchange says so.
        expired = [c for c in simulator.exchange.cancellations(desk.api_key) if c["symbol"] == "BTCUSDT"]
        assert len(expired) == 1 and expired[0]["order_ids"] == [held_order["orderId"]], expired
        assert _cancel_requests(simulator) == []
        assert not OrderCancel.objects.exists()
        assert not Operation.objects.filter(action=Action.CANCEL_ORDERS).exists()

        # The strategies list says it went silent.
        page.goto(f"{live_server.url}/strategies/")
        row = page.locator(f'#strategy-table [data-strategy="{strategy.pk}"]')
        expect(row).to_have_attribute("data-state", "silent")
        expect(row).to_contain_text("alpha-mm BTCUSDT")

        # The policy without a strategy was beaten all along: still armed, its order still resting.
        assert _armed_on_exchange(simulator, desk) == {"ETHUSDT"}
        assert _arms(simulator, desk, "ETHUSDT")[-1]["received_at"] > last_ping + 5 + 1.5
        assert [o["orderId"] for o in simulator.exchange.open_orders(desk.api_key, "ETHUSDT")] == [
            free_order["orderId"]
        ]
        # Without "rearm on return" a late ping does not resume heartbeats: an operator must release it.
        assert _ping(url) == "HELD"
        page.reload()
        expect(row).to_have_attribute("data-state", "silent")
    assert CountdownPolicy.objects.get(pk=held.pk).armed


def test_a_strategy_that_asks_for_it_has_its_orders_cancelled_by_the_guard_at_once(
    page, live_server, desk_on_simulator, simulator, run_duties
):
    make_account, make_policy = desk_on_simulator
    make_user("kim", "key admin")
    desk = make_account("beta-mm")
    symbols = ("BTCUSDT", "ETHUSDT")
    # A countdown of a minute: its expiry cannot be what cancels the orders below.
    policies = [make_policy(desk, s, interval_s=1, countdown_ms=60_000) for s in symbols]
    for policy in policies:
        actions.arm(policy.pk, user=None, ip=None)
    for symbol in symbols:
        simulator.exchange.place_order(desk.api_key, symbol, price="1000")
        simulator.exchange.place_order(desk.api_key, symbol, side="SELL", price="900000")
        simulator.exchange.place_algo_order(desk.api_key, symbol, trigger_price="500")

    sign_in(page, live_server, "kim")
    strategy, url = _add_strategy(
        page,
        live_server,
        name="desk-bot",
        policies=[f"beta-mm {s}" for s in symbols],
        cancel_when_silent=True,
    )
    page.click("text=Go to the strategy")
    expect(page.locator("#strategy-facts")).to_contain_text(
        "orders cancelled at once when the grace runs out"
    )
    run_duties("web", "strategy-silence")  # the web's duty latches silences

    with running_engine():
        last_ping = _ping_for(url, 2, until=lambda: all(len(_arms(simulator, desk, s)) >= 2 for s in symbols))
        assert _armed_on_exchange(simulator, desk) == set(symbols)
        wait_for(
            lambda: not any(_has_orders(simulator, desk, s) for s in symbols),
            timeout=5 + 6,
            message="the orders and algo orders cancelled by the guard",
        )
        gone_after = time.time() - last_ping
        print(f"orders cancelled by the guard {gone_after:.1f} s after the last ping (grace 5 s)")
        assert 4.5 <= gone_after <= 5 + 3.5, gone_after
        # Long before any countdown could run out: none did, both are still armed on the exchange.
        assert simulator.exchange.cancellations(desk.api_key) == []
        assert _armed_on_exchange(simulator, desk) == set(symbols)

    operation = Operation.objects.get(action=Action.CANCEL_ORDERS)
    assert operation.username == "strategy desk-bot"
    assert "went silent" in operation.reason
    rows = sorted(OrderCancel.objects.filter(operation=operation).values_list("symbol", "kind", "state"))
    assert rows == sorted((s, kind, "done") for s in symbols for kind in ("orders", "algo"))
    assert len(_cancel_requests(simulator, desk)) == 4
    assert Strategy.objects.get(pk=strategy.pk).held_reason == "silent"

    page.goto(f"{live_server.url}/operations/{operation.pk}/")
    expect(page.locator("#cancel-progress")).to_have_text("Every request is answered.")
    expect(page.locator('#cancel-table [data-state="done"]')).to_have_count(4)
    page.goto(f"{live_server.url}/strategies/")
    expect(page.locator(f'[data-strategy="{strategy.pk}"]')).to_have_attribute("data-state", "silent")


def _cancel_in_browser(page, live_server, account, *, symbols, reason, disarm=False) -> Operation:
    page.goto(f"{live_server.url}/cancel-orders/?account={account.pk}")
    expect(page.locator("#symbol-count")).to_have_text(f"{len(symbols)} symbols")
    expect(page.locator("#cancel-scope")).to_have_text(f"every symbol of {account.label}")
    page.fill("#cancel-orders-page textarea[name=reason]", reason)
    if disarm:
        page.check("#id_disarm")
    page.click("#confirm-cancel-orders")
    page.wait_for_url(re.compile(rf"{re.escape(live_server.url)}/operations/\d+/$"))
    # The page reloads itself each second until every request is answered.
    expect(page.locator("#cancel-progress")).to_have_text("Every request is answered.", timeout=10_000)
    table = page.locator("#cancel-table")
    expect(table.locator("tr[data-cancel]")).to_have_count(2 * len(symbols))
    for symbol in symbols:
        for kind in ("orders", "algo"):
            expect(table.locator(f'[data-cancel="{account.label} {symbol} {kind}"]')).to_have_attribute(
                "data-state", "done"
            )
    operation = Operation.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert operation.action == Action.CANCEL_ORDERS and operation.reason == reason
    assert operation.username == "olga"
    return operation


def test_an_operator_cancels_the_orders_of_every_symbol_of_an_account(
    page, live_server, desk_on_simulator, simulator
):
    make_account, make_policy = desk_on_simulator
    operator = make_user("olga", "operator")
    desk, other = make_account("gamma-mm"), make_account("delta-mm")
    desk_symbols, other_symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"), ("BTCUSDT", "ADAUSDT")
    for account, symbols in ((desk, desk_symbols), (other, other_symbols)):
        for symbol in symbols:
            actions.arm(make_policy(account, symbol).pk, user=operator, ip="127.0.0.1")
            simulator.exchange.place_order(account.api_key, symbol, price="1000")
            simulator.exchange.place_order(account.api_key, symbol, side="SELL", price="900000")
            simulator.exchange.place_algo_order(account.api_key, symbol, trigger_price="500")

    with running_engine():
        wait_for(lambda: _armed_on_exchange(simulator, desk) == set(desk_symbols), message="desk armed")
        wait_for(lambda: _armed_on_exchange(simulator, other) == set(other_symbols), message="other armed")
        sign_in(page, live_server, "olga")

        # Every symbol of one account: its plain and conditional orders go; the countdowns stay armed.
        started = time.monotonic()
        operation = _cancel_in_browser(page, live_server, desk, symbols=desk_symbols, reason="desk halted")
        print(f"cancel orders now in the browser: 4 symbols x 2 kinds in {time.monotonic() - started:.1f} s")
        for symbol in desk_symbols:
            assert simulator.exchange.open_orders(desk.api_key, symbol) == []
            assert simulator.exchange.open_algo_orders(desk.api_key, symbol) == []
        assert len(_cancel_requests(simulator, desk)) == 8
        assert _armed_on_exchange(simulator, desk) == set(desk_symbols)
        assert all(CountdownPolicy.objects.filter(account=desk).values_list("armed", flat=True))
        assert not Operation.objects.filter(action=Action.DISARM_SELECTED).exists()
        assert not operation.changes["disarmed_too"]
        # The other account was not touched.
        assert _cancel_requests(simulator, other) == []
        for symbol in other_symbols:
            assert len(simulator.exchange.open_orders(other.api_key, symbol)) == 2
            assert len(simulator.exchange.open_algo_orders(other.api_key, symbol)) == 1

        # With "Disarm the countdowns too": disarmed first, then the orders go.
        _cancel_in_browser(page, live_server, other, symbols=other_symbols, reason="going home", disarm=True)
        expect(page.locator("#cancel-results")).to_contain_text("The countdowns were disarmed first")
        for symbol in other_symbols:
            assert not _has_orders(simulator, other, symbol)
        assert not any(CountdownPolicy.objects.filter(account=other).values_list("armed", flat=True))
        assert Operation.objects.filter(action=Action.DISARM_SELECTED).count() == 1
        wait_for(
            lambda: not _armed_on_exchange(simulator, other), timeout=10, message="disarmed on the exchange"
        )
        assert _armed_on_exchange(simulator, desk) == set(desk_symbols)
