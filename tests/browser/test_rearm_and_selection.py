"""Bringing a desk back after a Disarm all in one press, and arming a filtered selection of the board paced
within the address's request weight, in a real browser against the real engine and the simulator."""

import re
import time
from collections import defaultdict

import pytest
from playwright.sync_api import expect

from heartbeats.desk import actions
from heartbeats.domain import ratelimits
from heartbeats.exchange.client import FuturesClient
from heartbeats.exchange.signing import load_signer
from heartbeats.models import CountdownPolicy, EngineLiveness
from tests.browser.conftest import SECRET, make_user, running_engine, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_rearms_what_a_disarm_all_disarmed(page, live_server, desk_on_simulator, simulator):
    make_account, make_policy = desk_on_simulator
    operator = make_user("olga", "operator")
    desk = make_account("alpha-mm")
    policies = [make_policy(desk, s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")]
    never = make_policy(desk, "DOGEUSDT")  # never armed: nothing to re-arm
    with running_engine():
        for p in policies:
            actions.arm(p.pk, user=operator, ip="127.0.0.1")
        wait_for(lambda: len(simulator.exchange.countdowns()) == 4, message="four armed countdowns")
        disarm_all = actions.disarm_all(user=operator, ip="127.0.0.1", reason="exchange maintenance")
        wait_for(lambda: simulator.exchange.countdowns() == [], message="all disarmed on the exchange")
        # Someone armed and disarmed BNBUSDT by hand since: the re-arm must leave it alone.
        actions.arm(policies[3].pk, user=operator, ip="127.0.0.1")
        actions.disarm(policies[3].pk, user=operator, ip="127.0.0.1")

        sign_in(page, live_server, "olga")
        page.goto(f"{live_server.url}/operations/{disarm_all.pk}/")
        page.click("#rearm")
        expect(page.locator("#selection-lead")).to_contain_text("Arms again the 3 policies")
        expect(page.locator("#selection-policies tbody tr")).to_have_count(3)
        page.click("#confirm-selection-button")  # no reason yet: refused, nothing sent
        expect(page.locator("#reason-error")).to_contain_text("Give a reason")
        assert simulator.exchange.countdowns() == []

        page.fill("textarea[name=reason]", "maintenance over")
        page.click("#confirm-selection-button")
        page.wait_for_url(re.compile(r"/operations/\d+/$"))
        expect(page.locator("h1")).to_contain_text("Re-arm")
        expect(page.locator(".result-armed")).to_have_count(3, timeout=10_000)
        expect(page.locator("#progress")).to_have_text("All 3 results are in.")
        live = {c["symbol"] for c in simulator.exchange.countdowns()}  # ground truth
        assert live == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
        assert not CountdownPolicy.objects.get(pk=never.pk).armed
        assert not CountdownPolicy.objects.get(pk=policies[3].pk).armed


# Twenty symbols the simulator lists.
SYMBOLS = [
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "DOGEUSDT",
    "LTCUSDT",
    "DOTUSDT",
    "LINKUSDT",
    "AVAXUSDT",
    "TRXUSDT",
    "BCHUSDT",
    "ETCUSDT",
    "XLMUSDT",
    "ATOMUSDT",
    "FILUSDT",
    "NEARUSDT",
    "APTUSDT",
    "ARBUSDT",
]


def _next_minute(now: float) -> float:
    return (now // 60 + 1) * 60


def _arms_sent(simulator) -> list[dict]:
    return [e for e in simulator.exchange.requests_log("/fapi/v1/countdownCancelAll") if e["countdown_ms"]]


def _engine_note() -> str:
    return "".join(EngineLiveness.objects.filter(holds_lease=True).values_list("last_error", flat=True))


def test_a_bulk_arm_of_a_filtered_selection_never_overspends_a_minute(
    page, live_server, desk_on_simulator, simulator, time_machine
):
    make_account, make_policy = desk_on_simulator
    make_user("olga", "operator")
    alpha, beta = make_account("alpha-mm"), make_account("beta-arb")
    chosen = [make_policy(alpha, s, interval_s=60) for s in SYMBOLS]
    others = [make_policy(beta, s) for s in ("BTCUSDT", "ETHUSDT")]
    # Room for the heartbeats and the Disarm all reserve (budget.py); other software on the same address has
    # spent 750 of it this minute, as the exchange reported, so the 20 arms (weight 10 each) do not all fit
    # beside the reserve for disarming them: a burst would eat into it, or earn a 429.
    limit = 900
    simulator.exchange.set_limits(weight_limit=limit)
    # The simulator, the engine and the web run in this process and read one clock, which the test moves:
    # it starts a second into an exchange minute instead of waiting for one, and turns that minute once the
    # engine holds the arms for the next.
    time_machine.move_to(_next_minute(time.time()) + 1)
    spender = FuturesClient(
        simulator.url, api_key=alpha.api_key, signer=load_signer("hmac", SECRET), read_timeout=2
    )
    while (spender.used_weight or 0) < 750 - 40:
        spender.open_orders()  # every symbol's: weight 40
    while spender.used_weight < 750:
        spender.server_time()
    spender_minute = int(spender.server_time() // 60_000)  # the exchange's minute the 750 were spent in
    ratelimits.record(
        "default",
        alpha.base_url,
        minute=ratelimits.exchange_minute(time.time()),
        used_weight=spender.used_weight,
        weight_limit=limit,
    )
    with running_engine():
        sign_in(page, live_server, "olga")
        page.goto(f"{live_server.url}/?account={alpha.pk}")
        expect(page.locator("#policy-rows tr")).to_have_count(20)
        page.check("#select-all-matching")
        page.click("#arm-selected")
        expect(page.locator("#selection-lead")).to_contain_text("Arms 20 of the 20 policies selected")
        expect(page.locator("[data-pace]")).to_contain_text("20 arms:")
        expect(page.locator("[data-pace]")).to_contain_text("the last should leave at about")
        page.fill("textarea[name=reason]", "session open")
        page.click("#confirm-selection-button")
        page.wait_for_url(re.compile(r"/operations/\d+/$"))
        expect(page.locator("h1")).to_contain_text("Arm selected")
        expect(page.locator("[data-pace]")).to_contain_text("the last should leave at about")
        wait_for(
            lambda: "Weight budget reached" in _engine_note(),
            timeout=10,
            message="the engine holding the arms for the next minute",
        )
        assert simulator.exchange.server_time_ms() // 60_000 == spender_minute, "the minute turned by itself"
        assert _arms_sent(simulator) == []
        time_machine.shift(_next_minute(time.time()) - time.time() + 0.05)
        expect(page.locator(".result-armed")).to_have_count(20, timeout=20_000)

    live = {c["symbol"] for c in simulator.exchange.countdowns()}  # ground truth
    assert live == {p.symbol for p in chosen}
    assert not CountdownPolicy.objects.filter(pk__in=[p.pk for p in others], armed=True).exists()
    log = [e for e in simulator.exchange.requests_log() if not e["path"].startswith("/_sim")]
    assert not [e for e in log if e["status"] in (418, 429)], "no request refused for weight"
    per_minute = defaultdict(int)
    for e in log:
        if e["server_time_ms"] is not None and e["used_weight"] is not None:
            minute = e["server_time_ms"] // 60_000
            per_minute[minute] = max(per_minute[minute], e["used_weight"])
    assert per_minute and max(per_minute.values()) <= limit, dict(per_minute)
    first_arm = {}
    for e in log:
        if e["path"].endswith("countdownCancelAll") and e["symbol"] in live and e["countdown_ms"]:
            first_arm.setdefault(e["symbol"], e["server_time_ms"] // 60_000)
    # 150 weight was left in the minute of the click, less than the reserve for disarming the 20 (400): not
    # one arm went out in it (a burst would have spent the reserve, or earned 429s); they left once the
    # minute turned, within the limit.
    spent_in = spender_minute
    assert first_arm and min(first_arm.values()) > spent_in, ("arms sent into the spent minute", first_arm)
