"""The second factor in a real browser: enrol and sign in with an authenticator app (the test computes its
codes) and with a passkey (Chromium's virtual WebAuthn authenticator), and Disarm all refused without a fresh
factor."""

import time
from base64 import b32decode

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django_otp.oath import totp
from playwright.sync_api import expect

from heartbeats import twofactor
from heartbeats.models import Action, AuthenticatorApp, CountdownPolicy, Operation
from tests.browser.conftest import PASSWORD, make_user, wait_for
from tests.web.test_second_factor import next_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def required(settings):
    settings.REQUIRE_2FA = True


def code_for(key: bytes, drift=0) -> str:
    return f"{totp(key, step=30, t0=0, digits=6, drift=drift):06d}"


def shown_key(page) -> bytes:
    """The key as the page shows it for typing into an app: base32 in groups of four."""
    text = page.locator("#totp-key").inner_text().replace(" ", "")
    return b32decode(text + "=" * (-len(text) % 8))


def give_password(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def sign_in_with_app(page, live_server, username, device, drift=0):
    give_password(page, live_server, username)
    page.wait_for_url(f"{live_server.url}/second-factor/verify/?next=%2F")
    page.fill("#id_token", code_for(device.bin_key, drift))
    page.click("#verify-code")
    page.wait_for_url(f"{live_server.url}/")


def add_virtual_authenticator(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, found["authenticatorId"]


def test_an_operator_enrols_an_app_and_signs_in_with_its_code(page, live_server):
    make_user("olga", "operator")
    give_password(page, live_server, "olga")
    page.wait_for_url(f"{live_server.url}/second-factor/?next=%2F")
    assert page.locator("#enrol-required").is_visible()
    assert page.locator("#disarm-all-button").count() == 0  # the header offers nothing else either
    # Nothing else opens before the second factor.
    page.goto(f"{live_server.url}/disarm-all/")
    assert page.url.startswith(f"{live_server.url}/second-factor/?next=")
    page.goto(f"{live_server.url}/second-factor/?next=%2F")
    page.click("#add-app")
    expect(page.locator("#totp-qr")).to_be_visible()  # the click starts a navigation; wait for its page
    page.fill("#id_token", "000000")
    page.click("#confirm-app")
    assert "does not match" in page.locator("#code-error").inner_text()
    key = shown_key(page)  # a new key each time the page is shown
    page.fill("#id_token", code_for(key))
    page.click("#confirm-app")
    page.locator("#recovery-codes").wait_for()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == twofactor.RECOVERY_CODE_COUNT
    page.click("#continue")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("#disarm-all-button").is_visible()

    page.click("text=Sign out")
    page.wait_for_url(f"{live_server.url}/login/")
    device = AuthenticatorApp.objects.get(user__username="olga")
    give_password(page, live_server, "olga")
    page.wait_for_url(f"{live_server.url}/second-factor/verify/?next=%2F")
    page.fill("#id_token", "111111" if code_for(device.bin_key, 1) != "111111" else "222222")
    page.click("#verify-code")
    assert "not right" in page.locator("#code-error").inner_text()
    # A recovery code stands in for the app.
    page.fill("#id_token", codes[0].strip())
    page.click("#verify-code")
    page.wait_for_url(f"{live_server.url}/")
    assert list(
        Operation.objects.filter(username="olga", action__startswith="2fa").values_list("action", flat=True)
    ) == [
        Action.SECOND_FACTOR_PASSED,
        Action.SECOND_FACTOR_FAILED,
        Action.SECOND_FACTOR_PASSED,
        Action.SECOND_FACTOR_ADDED,
    ]


def test_a_key_admin_signs_in_with_an_app_code_computed_here(page, live_server):
    user = make_user("kim", "key admin")
    device = AuthenticatorApp.objects.create(user=user, name="phone", confirmed=True)
    sign_in_with_app(page, live_server, "kim", device)
    page.goto(f"{live_server.url}/admin/heartbeats/exchangeaccount/add/")
    assert page.locator("#id_label").is_visible()


def test_an_operator_adds_a_passkey_and_signs_in_with_it(page, live_server):
    assert live_server.url.startswith("http://localhost:"), "passkeys need a host name, not an IP address"
    make_user("olga", "operator")
    cdp, authenticator = add_virtual_authenticator(page)
    give_password(page, live_server, "olga")
    page.wait_for_url(f"{live_server.url}/second-factor/?next=%2F")
    page.click("#passkey-register-button")
    page.locator("#recovery-codes").wait_for()
    assert page.locator("#devices").inner_text().count("passkey") == 1
    assert len(page.locator("#recovery-codes li").all_inner_texts()) == twofactor.RECOVERY_CODE_COUNT
    page.click("#continue")
    page.wait_for_url(f"{live_server.url}/")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1

    page.click("text=Sign out")
    page.wait_for_url(f"{live_server.url}/login/")
    give_password(page, live_server, "olga")
    page.wait_for_url(f"{live_server.url}/second-factor/verify/?next=%2F")
    page.click("#passkey-verification-button")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("#disarm-all-button").is_visible()
    passed = Operation.objects.filter(username="olga", action=Action.SECOND_FACTOR_PASSED).order_by("at")
    assert [p.reason for p in passed] == ["enrolment", "sign-in"]
    assert "passkey" in passed.last().changes["device"]


def test_a_passkey_the_server_does_not_know_is_refused_and_audited(page, live_server):
    user = make_user("olga", "operator")
    AuthenticatorApp.objects.create(user=user, name="phone", confirmed=True)
    cdp, authenticator = add_virtual_authenticator(page)
    give_password(page, live_server, "olga")
    page.wait_for_url(f"{live_server.url}/second-factor/verify/?next=%2F")
    # The user has an app only: the page offers no passkey button, so ask the endpoints directly as a script
    # on the page could.
    result = page.evaluate(
        """async () => {
            const token = document.querySelector("input[name=csrfmiddlewaretoken]").value;
            const r = await fetch("/second-factor/passkeys/authentication/complete/", {
                method: "POST", headers: {"Content-Type": "application/json", "X-CSRFToken": token},
                body: JSON.stringify({id: "AAAA", rawId: "AAAA", type: "public-key", response: {}}),
            });
            return [r.status, await r.json()];
        }"""
    )
    assert result[0] >= 400 and "detail" in result[1]
    wait_for(lambda: Operation.objects.filter(username="olga", action=Action.SECOND_FACTOR_FAILED).exists())


def test_disarm_all_is_refused_without_a_fresh_factor_then_done_with_one(
    page, live_server, desk_on_simulator
):
    user = make_user("olga", "operator")
    device = AuthenticatorApp.objects.create(user=user, name="phone", confirmed=True)
    account, policy = desk_on_simulator
    armed = policy(account("desk-a"), "BTCUSDT")
    CountdownPolicy.objects.filter(pk=armed.pk).update(armed=True, generation=1)
    sign_in_with_app(page, live_server, "olga", device)

    page.goto(f"{live_server.url}/disarm-all/")
    page.fill("textarea[name=reason]", "drill")
    # The factor grows stale while the page is open (a few minutes pass).
    session_cookie = next(
        c for c in page.context.cookies() if c["name"] == django_settings.SESSION_COOKIE_NAME
    )
    session = SessionStore(session_key=session_cookie["value"])
    session[twofactor.SESSION_PASSED_AT] = time.time() - django_settings.SECOND_FACTOR_FRESH_SECONDS - 60
    session.save()
    page.click("#confirm-disarm-all")
    refused = page.locator("#step-up-refused")
    assert "Disarm all needs your second factor" in refused.inner_text()
    assert "Nothing was changed" in refused.inner_text()
    assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()
    assert CountdownPolicy.objects.get(pk=armed.pk).armed

    page.click("#step-up-verify")
    page.wait_for_url(f"{live_server.url}/second-factor/verify/?next=%2Fdisarm-all%2F")
    page.fill("#id_token", next_code(device))
    page.click("#verify-code")
    page.wait_for_url(f"{live_server.url}/disarm-all/")
    page.fill("textarea[name=reason]", "drill")
    page.click("#confirm-disarm-all")
    page.wait_for_url(f"{live_server.url}/operations/**")
    assert Operation.objects.filter(action=Action.DISARM_ALL, username="olga").count() == 1
    assert not CountdownPolicy.objects.get(pk=armed.pk).armed
