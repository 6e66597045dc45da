"""The five venues in one real browser, with the real engine beating against the simulator: an operator arms a
USD-M symbol's, a COIN-M symbol's, an options underlying's, an OKX account's and a Kraken Futures account's
switch from the board; Disarm all turns every one off on the exchanges; armed again and left without an
engine, each venue's switch runs out, the exchanges cancel the orders each covers (and no others), and the
board says so for each."""

import base64
import dataclasses
import re
import secrets
import time

import pytest
from playwright.sync_api import expect

from heartbeats.exchange import venues
from heartbeats.models import CountdownPolicy, Environment, ExchangeAccount, KeyType
from tests.browser.conftest import SECRET, make_user, running_engine, sign_in, wait_for
from tests.waiting import scheduling_lag

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# OKX takes one Cancel All After a second per account (50011 beyond): its beats go every 2 s, not every 1 s.
INTERVAL_S = {"usdm": 1, "coinm": 1, "options": 1, "okx": 2, "kraken_futures": 1}
# Short countdowns; OKX takes no less than 10 s, and Kraken counts whole seconds.
COUNTDOWN_MS = {"usdm": 5000, "coinm": 5000, "options": 5000, "okx": 10_000, "kraken_futures": 6000}
VENUE_SHOWN = {
    "usdm": "USD-M",
    "coinm": "COIN-M",
    "options": "Options",
    "okx": "OKX",
    "kraken_futures": "Kraken Futures",
}
SWITCH = {"usdm": "BTCUSDT", "coinm": "BTCUSD_PERP", "options": "BTCUSDT", "okx": "", "kraken_futures": ""}
LABEL = {v: f"{v.replace('_', '-')}-desk" for v in COUNTDOWN_MS}
# What each switch covers, resting on its account, and what it does not: another symbol's (or underlying's)
# orders on the per-symbol venues. The account-wide switches' bystanders are other accounts (Desk.bystanders).
COVERED = {
    "usdm": ("BTCUSDT", "BTCUSDT"),
    "coinm": ("BTCUSD_PERP",),
    "options": ("BTC-261225-100000-C", "BTC-270326-90000-P"),
    "okx": ("BTC-USDT-SWAP", "ETH-USDT-SWAP"),
    "kraken_futures": ("PF_XBTUSD", "PF_ETHUSD"),
}
UNCOVERED = {"usdm": ("ETHUSDT",), "coinm": ("ETHUSD_PERP",), "options": ("ETH-261225-3000-P",)}
OKX_PATH = "/api/v5/trade/cancel-all-after"
KRAKEN_PATH = "/derivatives/api/v3/cancelallordersafter"


@pytest.fixture(autouse=True)
def short_late_windows(monkeypatch):
    """OKX's and Kraken's 30 s would hold every disarm's second `0` that long."""
    for key in ("okx", "kraken_futures"):
        monkeypatch.setitem(venues.VENUES, key, dataclasses.replace(venues.VENUES[key], accepts_late_ms=500))


class Desk:
    """The five accounts, on the simulator and in the guard, each with one policy and resting orders."""

    def __init__(self, simulator):
        self.exchange = simulator.exchange
        self.accounts, self.policies, self.covered, self.uncovered = {}, {}, {}, {}
        for venue in COUNTDOWN_MS:
            api_key, secret, passphrase = secrets.token_hex(32), SECRET, ""
            if venue == "okx":
                passphrase = "Desk-pass-1"
                self.exchange.okx.add_account(api_key, secret, passphrase)
            elif venue == "kraken_futures":
                secret = base64.b64encode(secrets.token_bytes(64)).decode()
                self.exchange.add_kraken_account(api_key, secret)
            else:
                self.exchange.add_account(api_key, "hmac", secret, options=venue == "options")
            account = ExchangeAccount.objects.create(
                label=LABEL[venue],
                venue=venue,
                environment=Environment.CUSTOM,
                custom_base_url=simulator.url,
                key_type=KeyType.HMAC,
                api_key=api_key,
                secret=secret,
                key_passphrase=passphrase,
            )
            self.accounts[venue] = account
            self.policies[venue] = CountdownPolicy.objects.create(
                account=account,
                symbol=SWITCH[venue],
                interval_s=INTERVAL_S[venue],
                countdown_ms=COUNTDOWN_MS[venue],
            )
            self.covered[venue] = sorted(self._place(venue, api_key, s) for s in COVERED[venue])
            self.uncovered[venue] = sorted(self._place(venue, api_key, s) for s in UNCOVERED.get(venue, ()))
        self.keys = {v: a.api_key for v, a in self.accounts.items()}
        # Accounts the guard does not keep, on the account-wide venues: no switch here covers their orders.
        self.bystanders = ("other okx", "other kraken_futures")
        self.keys.update({name: secrets.token_hex(32) for name in self.bystanders})
        self.exchange.okx.add_account(self.keys["other okx"], SECRET, "Other-pass-1")
        kraken_secret = base64.b64encode(secrets.token_bytes(64)).decode()
        self.exchange.add_kraken_account(self.keys["other kraken_futures"], kraken_secret)
        for name in self.bystanders:
            venue = name.removeprefix("other ")
            self.uncovered[name] = [self._place(venue, self.keys[name], COVERED[venue][0])]

    def _place(self, venue, api_key, symbol):
        if venue == "okx":
            return self.exchange.okx.place_order(api_key, symbol, px="100")["ordId"]
        price = "5" if venue == "options" else "1000"
        return self.exchange.place_order(api_key, symbol, price=price)["orderId"]

    def open_orders(self, name):
        """The ids of the account's resting orders, of every symbol (`name`: a venue, or a bystander)."""
        if name.removeprefix("other ") == "okx":
            return sorted(o["ordId"] for o in self.exchange.okx.open_orders(self.keys[name]))
        return sorted(o["orderId"] for o in self.exchange.open_orders(self.keys[name]))

    def switches(self):
        """The exchanges' own view: the expiry (host epoch seconds) of each of our venues' running switch."""
        running = {}
        for venue, account in self.accounts.items():
            if venue == "okx":
                found = [(s["tag"], s) for s in self.exchange.okx.switches(account.api_key)]
            elif venue == "options":
                found = [(c["underlying"], c) for c in self.exchange.option_countdowns(account.api_key)]
            else:
                found = [(c["symbol"] or "", c) for c in self.exchange.countdowns(account.api_key)]
            for scope, switch in found:
                assert (scope, switch["countdown_ms"]) == (SWITCH[venue], COUNTDOWN_MS[venue]), switch
                running[venue] = switch["expires_at"]
        return running

    def armed_at(self):
        """When the exchanges last armed or renewed each running switch (host epoch seconds)."""
        return {v: expires - COUNTDOWN_MS[v] / 1000 for v, expires in self.switches().items()}

    def cancellations(self):
        return {v: self.exchange.cancellations(a.api_key) for v, a in self.accounts.items()}


# OKX takes one Cancel All After a second per account and tag: a disarm or an arm right after a renewal waits
# out that second (venues.OKX.min_gap_ms) rather than be refused.
OKX_HELD_S = 1.5


def _running(desk, since, *, timeout):
    """Waits until every venue's switch runs on the exchange, armed or renewed after `since` (epoch s)."""
    wait_for(
        lambda: (armed := desk.armed_at()).keys() == COUNTDOWN_MS.keys() and min(armed.values()) > since,
        timeout=timeout,
        message="every venue's switch running",
    )


def test_an_operator_keeps_five_venues_switches_disarms_them_all_and_sees_each_lapse(
    page, live_server, simulator, artifacts
):
    desk = Desk(simulator)
    make_user("olga", "operator")
    rows = {v: page.locator(f'tr[data-policy-id="{p.pk}"]') for v, p in desk.policies.items()}

    def cell(venue, name):
        return rows[venue].locator(f'[data-cell="{name}"]')

    def expect_all(name, text, **kwargs):
        for venue in COUNTDOWN_MS:
            expect(cell(venue, name)).to_have_text(text, **kwargs)

    page.set_viewport_size({"width": 1920, "height": 1080})  # wide enough for the venue column
    with scheduling_lag() as lag, running_engine() as stop_engine:
        sign_in(page, live_server, "olga")
        for venue in COUNTDOWN_MS:
            expect(cell(venue, "venue")).to_be_visible()
            expect(cell(venue, "venue")).to_have_text(VENUE_SHOWN[venue])
            expect(cell(venue, "symbol")).to_have_text(SWITCH[venue] or "whole account")
            expect(cell(venue, "status")).to_have_text("Disarmed")
        assert desk.switches() == {}

        # Each switch armed from its row, as a person would.
        armed_from = time.time()
        for venue in COUNTDOWN_MS:
            rows[venue].locator('[data-form="arm"]').click()
            expect(cell(venue, "desired")).to_have_text("Armed")
        expect_all("status", "Armed", timeout=8000)
        for venue in COUNTDOWN_MS:
            expect(cell(venue, "interval")).to_have_text(
                f"{INTERVAL_S[venue]} s / {COUNTDOWN_MS[venue] // 1000} s"
            )
            expect(cell(venue, "remaining")).to_have_text(re.compile(r"^0:(0\d|10)$"))
        # The exchanges' view: every switch running, then renewed by the beats that follow.
        _running(desk, armed_from, timeout=5)
        first = desk.armed_at()
        wait_for(
            lambda: all(t > first[v] for v, t in desk.armed_at().items()),
            timeout=max(INTERVAL_S.values()) + 2,
            message="every switch renewed",
        )

        # Disarm all, with the reason the page asks for.
        page.click("#disarm-all-button")
        expect(page.locator("#target-count")).to_have_text("5 policies")
        for venue in COUNTDOWN_MS:
            expect(page.locator(".lead")).to_contain_text(f"{LABEL[venue]} (1)")
        page.fill("textarea[name=reason]", "desk closing for the night")
        page.click("#confirm-disarm-all")
        disarmed_from = time.time()
        page.wait_for_url(re.compile(r"/operations/\d+/$"))
        expect(page.locator(".result-disarmed")).to_have_count(5, timeout=(OKX_HELD_S + 5) * 1000)
        wait_for(lambda: desk.switches() == {}, timeout=3, message="every switch off on the exchanges")
        print(f"every switch off {time.time() - disarmed_from:.1f} s after the Disarm all")
        # The account-wide venues' second `0`, once no earlier-signed arm could still be accepted.
        for venue in ("okx", "kraken_futures"):
            pk = desk.policies[venue].pk
            wait_for(
                lambda pk=pk: (
                    (p := CountdownPolicy.objects.get(pk=pk)).final_disarm_generation == p.generation
                ),
                timeout=5,
                message=f"{venue}'s second 0",
            )
        for venue, path in (("okx", OKX_PATH), ("kraken_futures", KRAKEN_PATH)):
            log = simulator.exchange.requests_log(path)
            zeros = [e for e in log if e.get("status") == 200 and e["countdown_ms"] == 0]
            assert len(zeros) == 2, (venue, [(e["id"], e["countdown_ms"], e.get("status")) for e in log])
        assert desk.switches() == {}
        page.goto(f"{live_server.url}/")
        expect_all("status", "Disarmed")
        expect_all("desired", "Disarmed")
        expect_all("remaining", "—")
        # A disarm leaves every order resting.
        for venue in COUNTDOWN_MS:
            assert desk.open_orders(venue) == sorted(desk.covered[venue] + desk.uncovered[venue]), venue

        # Armed again from the Disarm all's own page, then the engine stops: nothing renews the switches.
        page.go_back()
        page.click("#rearm")
        expect(page.locator("#selection-lead")).to_contain_text("Arms again the 5 policies")
        page.fill("textarea[name=reason]", "one more hour")
        rearmed_from = time.time()
        page.click("#confirm-selection-button")
        page.wait_for_url(re.compile(r"/operations/\d+/$"))
        expect(page.locator(".result-armed")).to_have_count(5, timeout=(OKX_HELD_S + 5) * 1000)
        _running(desk, rearmed_from, timeout=3)
        print(f"every switch armed again {time.time() - rearmed_from:.1f} s after the re-arm")
        page.goto(f"{live_server.url}/")
        expect_all("status", "Armed", timeout=5000)
        stop_engine()
        stopped = time.time()
        expect(page.locator('[data-banner="engine-down"]')).to_be_visible(timeout=5000)

        wait_for(
            lambda: all(desk.cancellations().values()),
            timeout=max(COUNTDOWN_MS.values()) / 1000 + 4,
            message="every venue's switch run out and its orders cancelled",
        )
        cancelled = desk.cancellations()
        lapsed_after = {v: round(c[0]["cancelled_at"] - stopped, 2) for v, c in cancelled.items()}
        print(f"orders cancelled {lapsed_after} s after the engine stopped (countdowns {COUNTDOWN_MS} ms)")
        for venue, records in cancelled.items():
            assert len(records) == 1, (venue, records)
            assert sorted(records[0]["order_ids"]) == desk.covered[venue], (venue, records[0])
            assert desk.open_orders(venue) == desk.uncovered[venue], venue
            # The countdown from the last beat before the stop, then the exchange's next check.
            assert lapsed_after[venue] <= COUNTDOWN_MS[venue] / 1000 + 1.5 + lag(), (lapsed_after, lag())
        for name in desk.bystanders:
            assert simulator.exchange.cancellations(desk.keys[name]) == []
            assert desk.open_orders(name) == desk.uncovered[name]

        # The board: each expired, marked with the time its orders went, and the banner names each.
        banner = page.locator('[data-banner="lapsed"]')
        expect(banner).to_be_visible()
        expect_all("status", "Expired")
        expect_all("detail", "The countdown ran out: the exchange cancelled the open orders.")
        expect_all("lapse", re.compile(r"^Orders cancelled \d\d:\d\d:\d\d$"))
        expect_all("remaining", "0:00")
        for venue in COUNTDOWN_MS:
            title = desk.policies[venue].switch_title
            expect(banner).to_contain_text(f"{LABEL[venue]} {title} ran out at")
        expect(banner.locator("li")).to_have_count(5)
        page.screenshot(path=str(artifacts / "five-venues-lapsed.png"), full_page=True)

        # On a laptop the Venue column is left out: each row still says its venue, under its switch.
        page.set_viewport_size({"width": 1280, "height": 720})
        for venue in COUNTDOWN_MS:
            expect(cell(venue, "venue")).to_be_hidden()
            expect(cell(venue, "venue-inline")).to_be_visible()
            expect(cell(venue, "venue-inline")).to_have_text(VENUE_SHOWN[venue])
