"""Binance Options switches in a real browser, with the real engine beating against the simulator: an operator
arms two underlyings of an options account from the board, one heartbeat call per interval renews both,
Disarm all stops both, and once the engine stops the exchange's check cancels both underlyings' option
orders and the board says so."""

import re
import secrets
import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from heartbeats.models import CountdownPolicy, Environment, ExchangeAccount, KeyType
from tests.browser.conftest import SECRET, make_user, running_engine, sign_in, wait_for
from tests.waiting import scheduling_lag

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIG = "/eapi/v1/countdownCancelAll"
HEARTBEAT = "/eapi/v1/countdownCancelAllHeartBeat"
UNDERLYINGS = ("BTCUSDT", "ETHUSDT")
INTERVAL_S, COUNTDOWN_MS = 1, 5000
# Resting orders per underlying; BNB's has no switch and must outlive the lapse.
ORDERS = {
    "BTCUSDT": ("BTC-261225-100000-C", "BTC-270326-90000-P"),
    "ETHUSDT": ("ETH-261225-3000-P",),
    "BNBUSDT": ("BNB-261225-800-C",),
}


def _calls(simulator, path, since_id=0):
    return [e for e in simulator.exchange.requests_log(path, since_id) if e.get("status") == 200]


def _last_id(simulator):
    return max((e["id"] for e in simulator.exchange.requests_log()), default=0)


def _configured(simulator, account):
    return {c["underlying"]: c["countdown_ms"] for c in simulator.exchange.option_countdowns(account.api_key)}


def _open(simulator, account, underlying):
    """The ids of the underlying's resting option orders (those this test placed)."""
    return sorted(
        o["orderId"]
        for symbol in ORDERS[underlying]
        for o in simulator.exchange.open_orders(account.api_key, symbol)
    )


def _clock_seconds(text):
    """Seconds since midnight UTC of an "HH:MM:SS" the board shows."""
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def test_an_operator_keeps_two_underlyings_with_one_heartbeat_disarms_them_and_sees_them_lapse(
    page, live_server, simulator, artifacts
):
    api_key = secrets.token_hex(32)
    simulator.exchange.add_account(api_key, "hmac", SECRET, options=True)
    account = ExchangeAccount.objects.create(
        label="options-desk",
        venue="options",
        environment=Environment.CUSTOM,
        custom_base_url=simulator.url,
        key_type=KeyType.HMAC,
        api_key=api_key,
        secret=SECRET,
    )
    policies = {
        u: CountdownPolicy.objects.create(
            account=account, symbol=u, interval_s=INTERVAL_S, countdown_ms=COUNTDOWN_MS
        )
        for u in UNDERLYINGS
    }
    placed = {
        u: sorted(simulator.exchange.place_order(api_key, s, price="5")["orderId"] for s in symbols)
        for u, symbols in ORDERS.items()
    }
    make_user("olga", "operator")
    rows = {u: page.locator(f'tr[data-policy-id="{p.pk}"]') for u, p in policies.items()}

    def cell(underlying, name):
        return rows[underlying].locator(f'[data-cell="{name}"]')

    def arm_both_on_the_board():
        for u in UNDERLYINGS:
            rows[u].locator('[data-form="arm"]').click()
            expect(cell(u, "desired")).to_have_text("Armed")
        for u in UNDERLYINGS:
            expect(cell(u, "status")).to_have_text("Armed", timeout=8000)
        wait_for(
            lambda: _configured(simulator, account) == dict.fromkeys(UNDERLYINGS, COUNTDOWN_MS),
            timeout=5,
            message="both underlyings configured on the exchange",
        )

    # Wide enough for the venue column: narrower windows drop it (and the interval's) first.
    page.set_viewport_size({"width": 1920, "height": 1080})
    # scheduling_lag: what a machine busy with other tests adds to any thread's wake-up, allowed for below.
    with scheduling_lag() as lag, running_engine() as stop_engine:
        sign_in(page, live_server, "olga")
        for u in UNDERLYINGS:
            expect(cell(u, "venue")).to_be_visible()
            expect(cell(u, "venue")).to_have_text("Options")
            expect(cell(u, "status")).to_have_text("Disarmed")

        # Armed by clicking each row's Arm, as a person would.
        arm_both_on_the_board()
        for u in UNDERLYINGS:
            expect(cell(u, "interval")).to_have_text(f"{INTERVAL_S} s / {COUNTDOWN_MS // 1000} s")

        joined = wait_for(
            lambda: [e for e in _calls(simulator, HEARTBEAT) if e["underlyings"] == ",".join(UNDERLYINGS)],
            timeout=5,
            message="a heartbeat naming both underlyings",
        )
        start = joined[0]["id"] - 1  # the first after the second arm; those before it named BTCUSDT alone
        # The countdowns tick (the bar shrinks between polls) and each beat pushes the deadline further.
        seen = {u: {"text": set(), "expires": set(), "bar": set()} for u in UNDERLYINGS}

        def ticking_and_renewed():
            for u in UNDERLYINGS:
                seen[u]["text"].add(cell(u, "remaining").inner_text())
                seen[u]["expires"].add(rows[u].get_attribute("data-expires-at-ms"))
                seen[u]["bar"].add(cell(u, "bar").get_attribute("width"))
            if all(len(s["expires"]) >= 3 and len(s["bar"]) >= 4 for s in seen.values()):
                return True
            page.wait_for_timeout(150)
            return False

        wait_for(ticking_and_renewed, timeout=6, every=0, message="the countdowns ticking and renewed")
        for u, s in seen.items():
            assert all(re.fullmatch(r"0:0[1-5]", t) for t in s["text"]), (u, s["text"])

        # The exchange's view: each underlying configured once, then one heartbeat per interval names both.
        wait_for(lambda: len(_calls(simulator, HEARTBEAT, start)) >= 4, timeout=8, message="four heartbeats")
        beats = _calls(simulator, HEARTBEAT, start)
        assert {e["underlyings"] for e in beats} == {",".join(UNDERLYINGS)}, [
            (e["id"], e["underlyings"]) for e in _calls(simulator, HEARTBEAT)
        ]
        # About one call per interval: two a beat (one per underlying) would come milliseconds apart.
        gaps = [b["received_at"] - a["received_at"] for a, b in zip(beats, beats[1:], strict=False)]
        assert all(0.5 - lag() < gap < 1.5 + lag() for gap in gaps), (gaps, lag())
        configs = _calls(simulator, CONFIG)
        assert sorted((e["symbol"], e["countdown_ms"]) for e in configs) == [
            (u, COUNTDOWN_MS) for u in UNDERLYINGS
        ], configs

        # Disarm all, with the reason the page asks for.
        page.click("#disarm-all-button")
        expect(page.locator("#target-count")).to_have_text("2 policies")
        expect(page.locator(".lead")).to_contain_text("options-desk (2)")
        page.fill("textarea[name=reason]", "options desk closing for the night")
        page.click("#confirm-disarm-all")
        page.wait_for_url(re.compile(r"/operations/\d+/$"))
        expect(page.locator(".result-disarmed")).to_have_count(2, timeout=10_000)
        wait_for(lambda: not _configured(simulator, account), timeout=5, message="no option countdown left")
        disarmed_at = time.time()
        assert simulator.exchange.option_countdowns() == []
        page.goto(f"{live_server.url}/")
        for u in UNDERLYINGS:
            expect(cell(u, "status")).to_have_text("Disarmed")
            expect(cell(u, "desired")).to_have_text("Disarmed")
            expect(cell(u, "remaining")).to_have_text("—")
        # A disarm leaves the orders resting.
        assert {u: _open(simulator, account, u) for u in ORDERS} == placed

        # Armed again, then the engine stops: nothing renews the switches.
        rearm_from = _last_id(simulator)
        arm_both_on_the_board()
        wait_for(
            lambda: any(
                e["underlyings"] == ",".join(UNDERLYINGS) for e in _calls(simulator, HEARTBEAT, rearm_from)
            ),
            timeout=5,
            message="a heartbeat naming both after the new arm",
        )
        # Between the disarm and the new arm no heartbeat went out.
        quiet = [
            e
            for e in _calls(simulator, HEARTBEAT)
            if disarmed_at < e["received_at"] and e["id"] <= rearm_from
        ]
        assert quiet == [], quiet
        stop_engine()
        stopped = time.time()
        expect(page.locator('[data-banner="engine-down"]')).to_be_visible(timeout=5000)

        wait_for(
            lambda: {c["underlying"] for c in simulator.exchange.cancellations(api_key)} == set(UNDERLYINGS),
            timeout=COUNTDOWN_MS / 1000 + 4,
            message="both underlyings' orders cancelled by the exchange's check",
        )
        cancelled = {c["underlying"]: c for c in simulator.exchange.cancellations(api_key)}
        lapsed_after = {u: c["cancelled_at"] - stopped for u, c in cancelled.items()}
        print(
            f"options orders cancelled {lapsed_after} s after the engine stopped (countdown 5 s, check 1 s)"
        )
        for u in UNDERLYINGS:
            assert sorted(cancelled[u]["order_ids"]) == placed[u], cancelled[u]
            assert _open(simulator, account, u) == []
            # The countdown from the last heartbeat (sent before the stop), then the next check.
            assert lapsed_after[u] <= COUNTDOWN_MS / 1000 + 1.5 + lag(), (lapsed_after, lag())
        assert _open(simulator, account, "BNBUSDT") == placed["BNBUSDT"]  # no switch: untouched

        # The board: both expired, each marked with the time the orders went, and the banner lists both.
        banner = page.locator('[data-banner="lapsed"]')
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("every option order on that underlying")
        for u in UNDERLYINGS:
            expect(cell(u, "status")).to_have_text("Expired")
            expect(cell(u, "detail")).to_have_text(
                "The countdown ran out: the exchange cancelled the open orders."
            )
            expect(cell(u, "lapse")).to_have_text(re.compile(r"^Orders cancelled \d\d:\d\d:\d\d$"))
            expect(cell(u, "remaining")).to_have_text("0:00")
            expect(banner).to_contain_text(
                re.compile(rf"options-desk {u} ran out at [\d:]+ UTC; not beaten since")
            )
            shown = _clock_seconds(cell(u, "lapse").inner_text().removeprefix("Orders cancelled "))
            actual = datetime.fromtimestamp(cancelled[u]["cancelled_at"], UTC)
            gap = (actual.hour * 3600 + actual.minute * 60 + actual.second - shown) % 86_400
            assert gap <= 3, (u, gap)  # the board's conservative expiry, at most a check or so early
        page.screenshot(path=str(artifacts / "options-lapsed.png"), full_page=True)
