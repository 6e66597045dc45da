"""Alerts end to end: a key admin adds a webhook channel in the browser and tests it; a refusal by the
exchange makes an account's policies fail one beat at a time, and the webhook receives exactly one alert
naming them all and then exactly one recovery, sent by the web process's own alerting thread. A channel that
stops taking messages raises the board's banner."""

import time

import pytest
from playwright.sync_api import expect

from heartbeats.desk import actions
from heartbeats.desk.alerts import ledger, runner
from heartbeats.models import CountdownPolicy, Status
from heartbeats.models.alerts import AlertChannel, Notification, NotificationKind
from simulator.symbols import USDM_MARKETS
from tests.alerts.conftest import Receiver, make_channel
from tests.browser.conftest import make_user, running_engine, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKEN = "T0KENsecretVALUE42"
COUNTDOWN_PATH = "/fapi/v1/countdownCancelAll"


@pytest.fixture
def evaluations(monkeypatch):
    """The web's alerting looks every second instead of every ten (the product's pace), and counts its looks:
    [how many so far]."""
    count = [0]
    evaluate = ledger.evaluate

    def counted(*args, **kwargs):
        result = evaluate(*args, **kwargs)
        count[0] += 1
        return result

    monkeypatch.setattr(runner, "EVALUATE_EVERY", 1.0)
    monkeypatch.setattr(ledger, "evaluate", counted)
    return count


@pytest.fixture
def receiver():
    """The alerts tests' webhook receiver (tests/alerts/conftest.py), stopped after the test."""
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _status(policy) -> str:
    return CountdownPolicy.objects.get(pk=policy.pk).status().state


def _not_tests(webhook) -> list[str]:
    return [t for t in webhook.titles() if not t.startswith("Test from Countdown Guard")]


def test_a_webhook_channel_gets_one_alert_and_one_recovery_for_a_failing_policy(
    page, live_server, desk_on_simulator, simulator, receiver, settings, run_duties, evaluations
):
    make_account, make_policy = desk_on_simulator
    make_user("kim", "key admin")
    operator = make_user("olga", "operator")
    account = make_account("alpha-mm")
    # Twenty symbols beaten every 10 s, spread over the interval by the engine's pacing.
    symbols = ["ETHUSDT"] + [m.symbol for m in USDM_MARKETS if m.symbol != "ETHUSDT"][:19]
    policies = [make_policy(account, s, interval_s=10, countdown_ms=60_000) for s in symbols]

    # The key admin adds the channel on the Alerts page and sends it a test.
    sign_in(page, live_server, "kim")
    page.goto(f"{live_server.url}/alerts/")
    expect(page.locator("#no-channels")).to_be_visible()
    page.click("#add-channel")
    page.wait_for_url(f"{live_server.url}/alerts/channels/new/")
    page.fill("#id_name", "desk webhook")
    page.fill("#id_new_url", receiver.url(token=TOKEN))
    page.fill("#id_repeat_minutes", "30")
    assert page.locator('#channel-form input[name="events"]:checked').count() == 0  # every event
    page.click("#save-channel")
    page.wait_for_url(f"{live_server.url}/alerts/")
    expect(page.locator(".message-success")).to_contain_text("desk webhook")
    channel = AlertChannel.objects.get()
    row = page.locator(f'#channel-table tr[data-channel="{channel.pk}"]')
    expect(row).to_contain_text("desk webhook")
    expect(row).to_contain_text("json://")
    assert channel.events == []

    page.click(f'[data-test-channel="{channel.pk}"]')
    expect(page.locator(".message-success")).to_contain_text("Test sent to “desk webhook”")
    assert receiver.titles() == ["Test from Countdown Guard (desk webhook)"]
    assert receiver.paths[0].startswith("/hook")
    assert TOKEN not in page.content()
    page.goto(f"{live_server.url}/alerts/channels/{channel.pk}/")
    expect(page.locator("#channel-form")).to_be_visible()
    assert TOKEN not in page.content()

    with running_engine():
        for p in policies:
            actions.arm(p.pk, user=operator, ip="127.0.0.1")
        wait_for(
            lambda: all(_status(p) == Status.ARMED for p in policies),
            timeout=15,
            message="the policies armed",
        )
        # From here the web's alerting duty does its work.
        settings.ALERT_HOLD_SECONDS = 1
        run_duties("web", "alerts")

        # The exchange refuses the key from now on: -2015 is fatal, the engine stops and the policies fail,
        # each at its next beat.
        simulator.exchange.inject(COUNTDOWN_PATH, code=-2015, count=None)
        failed_at = time.monotonic()
        wait_for(
            lambda: all(_status(p) == Status.FAILING for p in policies),
            timeout=15,
            message="the policies failing",
        )
        print(f"all {len(policies)} failing {time.monotonic() - failed_at:.1f} s after the fault")
        title = f"Policy failing: {len(policies)} policies on alpha-mm"
        wait_for(lambda: _not_tests(receiver), timeout=30, message="the alert at the webhook")
        print(f"alert received {time.monotonic() - failed_at:.1f} s after the fault")
        assert _not_tests(receiver) == [title]
        alert = receiver.messages[-1]
        assert alert["type"] == "failure"
        assert "-2015" in alert["message"], alert["message"]
        assert f"Policies ({len(policies)}): alpha-mm " in alert["message"], alert["message"]
        assert "What to do: The exchange refused it" in alert["message"]

        page.goto(f"{live_server.url}/alerts/")
        expect(page.locator("#open-conditions")).to_contain_text(title)
        notes = page.locator("#notification-table tbody tr")
        expect(notes.filter(has_text=title)).to_have_count(1)
        expect(notes.filter(has_text=title)).to_contain_text("Sent")
        expect(notes.filter(has_text="Test from Countdown Guard")).to_have_count(1)
        assert TOKEN not in page.content()

        # The cause goes away and an operator arms the policy again: it recovers, and the webhook hears so.
        simulator.exchange.clear_faults()
        for p in policies:
            actions.arm(p.pk, user=operator, ip="127.0.0.1")
        wait_for(
            lambda: all(_status(p) == Status.ARMED for p in policies),
            timeout=15,
            message="the policies armed again",
        )
        wait_for(lambda: len(_not_tests(receiver)) >= 2, timeout=15, message="the recovery at the webhook")
        assert _not_tests(receiver) == [title, f"Recovered: {title}"]
        assert receiver.messages[-1]["type"] == "success"

        # Two more evaluations (each queues what it finds to say) and their deliveries: nothing said twice.
        looked = evaluations[0]
        wait_for(lambda: evaluations[0] >= looked + 2, timeout=10, message="two more evaluations")
        assert _not_tests(receiver) == [title, f"Recovered: {title}"]

    kinds = sorted(Notification.objects.values_list("kind", "status"))
    assert kinds == sorted(
        [
            (NotificationKind.TEST, "sent"),
            (NotificationKind.ALERT, "sent"),
            (NotificationKind.RECOVERY, "sent"),
        ]
    )
    page.goto(f"{live_server.url}/alerts/")
    expect(page.locator("#open-conditions")).not_to_contain_text(title)
    expect(page.locator("#notification-table")).to_contain_text(f"Recovered: {title}")
    assert TOKEN not in page.content()


def test_the_board_says_when_alerts_are_not_getting_through(
    page, live_server, receiver, settings, run_duties
):
    make_user("victor", "viewer")
    receiver.status = 500  # the service is down
    make_channel(receiver.url(token=TOKEN), name="desk pager")
    # No engine has ever run: once this short hold has passed, the engine-down alert is due.
    settings.ALERT_ENGINE_DOWN_SECONDS = 1

    sign_in(page, live_server, "victor")
    banner = page.locator('[data-banner="alerts-failing"]')
    expect(page.locator('[data-banner="engine-down"]')).to_be_visible()
    expect(banner).to_be_hidden()

    run_duties("web", "alerts")
    # Raised by the board's poll, without a reload.
    expect(banner).to_be_visible(timeout=20_000)
    expect(banner).to_contain_text("desk pager: retrying since")
    assert TOKEN not in banner.inner_text()
    assert TOKEN not in page.content()
    note = Notification.objects.get(kind=NotificationKind.ALERT)
    assert note.title == "Engine down"
    assert note.status == "retrying"
    assert receiver.messages == []
