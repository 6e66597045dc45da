"""The account form offers, for the venue chosen, only what that venue has: OKX and Kraken Futures keys are
HMAC, OKX has no testnet here, Binance Options none either; the choice follows the venue as it changes."""

import pytest

from tests.browser.conftest import make_user, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def offered(page, select: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{select} option", "els => els.filter(e => !e.disabled).map(e => e.value)"
    )


def test_the_key_types_and_environments_follow_the_venue(page, live_server):
    make_user("kim", "key admin")
    sign_in(page, live_server, "kim")
    page.goto(f"{live_server.url}/admin/heartbeats/exchangeaccount/add/")
    assert page.input_value("#id_venue") == "usdm"
    assert offered(page, "#id_key_type") == ["hmac", "ed25519", "rsa"]
    assert offered(page, "#id_environment") == ["production", "testnet", "custom"]
    page.select_option("#id_key_type", "ed25519")
    page.select_option("#id_environment", "testnet")

    page.select_option("#id_venue", "okx")
    assert offered(page, "#id_key_type") == ["hmac"]
    assert page.input_value("#id_key_type") == "hmac"
    assert offered(page, "#id_environment") == ["production", "custom"]
    assert page.input_value("#id_environment") == "production"

    page.select_option("#id_venue", "kraken_futures")
    assert offered(page, "#id_environment") == ["production", "testnet", "custom"]
    page.select_option("#id_venue", "options")
    assert offered(page, "#id_environment") == ["production", "custom"]
    assert offered(page, "#id_key_type") == ["hmac", "ed25519", "rsa"]
