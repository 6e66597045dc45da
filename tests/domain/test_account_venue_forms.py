"""OKX and Kraken Futures as a key admin meets them: accounts made through the account form against the
shipped simulator (OKX's passphrase, Kraken's base64 secret), key checks refused in the venue's own words,
and policies whose switch covers the whole account (or, on OKX, one order tag) within the venue's bounds."""

import base64
import secrets

import pytest
from django.db import connection
from django.urls import reverse

from heartbeats.crypto import looks_like_token
from heartbeats.domain import clients
from heartbeats.exchange import errors
from heartbeats.forms import AccountForm, PolicyForm
from heartbeats.models import CountdownPolicy, ExchangeAccount

from .conftest import make_account, new_api_key, new_hmac_secret
from .test_account_form import form_data

pytestmark = pytest.mark.django_db

ADMIN_IP = "203.0.113.52"
PASSPHRASE = "Desk-pass-1"


def all_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def kraken_secret() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode()


@pytest.fixture
def okx_key(simulator):
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.okx.add_account(api_key, secret, PASSPHRASE)
    return api_key, secret


@pytest.fixture
def kraken_key(simulator):
    api_key, secret = new_api_key(), kraken_secret()
    simulator.exchange.add_kraken_account(api_key, secret)
    return api_key, secret


def okx_data(simulator, api_key, secret, passphrase=PASSPHRASE, **over):
    return form_data(
        simulator.url, api_key, secret, label="desk-okx", venue="okx", passphrase=passphrase, **over
    )


def kraken_data(simulator, api_key, secret, **over):
    return form_data(simulator.url, api_key, secret, label="desk-kraken", venue="kraken_futures", **over)


def signed_paths(simulator, prefix):
    return [r["path"] for r in simulator.exchange.requests_log() if r["path"].startswith(prefix)]


# -- The account form ---------------------------------------------------------------------------------------


def test_the_account_form_offers_both_venues_and_says_their_switch_covers_the_whole_account():
    form = AccountForm()
    assert ("okx", "OKX") in form.fields["venue"].choices
    assert ("kraken_futures", "Kraken Futures") in form.fields["venue"].choices
    assert "OKX and Kraken Futures keep one switch for the whole account" in form.fields["venue"].help_text
    assert form.fields["new_key_passphrase"].label == "Key passphrase (OKX: the API passphrase)"
    # The environments are named for every venue, not as Binance's alone.
    offered = dict(form.fields["environment"].choices)
    assert "Binance" not in offered["production"] and "demo-futures.kraken.com" in offered["testnet"]


def test_it_saves_an_okx_account_on_the_simulator_with_its_passphrase_encrypted(simulator, okx_key):
    api_key, secret = okx_key
    form = AccountForm(okx_data(simulator, api_key, secret))
    assert form.is_valid(), form.errors
    account = form.save()
    assert (account.venue, account.base_url, account.key_type) == ("okx", simulator.url, "hmac")
    assert signed_paths(simulator, "/api/v5/trade/") == ["/api/v5/trade/orders-pending"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_passphrase, secret FROM heartbeats_exchangeaccount WHERE id = %s", [account.pk]
        )
        stored = cursor.fetchone()
    assert all(looks_like_token(column) for column in stored)  # encrypted at rest
    assert PASSPHRASE not in stored[0] and secret not in stored[1]
    assert ExchangeAccount.objects.get(pk=account.pk).key_passphrase == PASSPHRASE


def test_it_saves_a_kraken_futures_account_on_the_simulator(simulator, kraken_key):
    api_key, secret = kraken_key
    form = AccountForm(kraken_data(simulator, api_key, secret))
    assert form.is_valid(), form.errors
    account = form.save()
    assert (account.venue, account.base_url) == ("kraken_futures", simulator.url)
    assert signed_paths(simulator, "/derivatives/api/v3/openorders") == ["/derivatives/api/v3/openorders"]


def test_a_wrong_okx_passphrase_is_refused_in_okx_words_and_nothing_is_saved(simulator, okx_key, monkeypatch):
    told = []
    monkeypatch.setattr("heartbeats.forms.announce", lambda *args, **kw: told.append(args))
    api_key, secret = okx_key
    form = AccountForm(okx_data(simulator, api_key, secret, passphrase="not-the-one"))
    assert not form.is_valid()
    text = all_errors(form)
    assert "OKX refused the passphrase (code 50105)" in text
    assert "-2015" not in text and "Binance" not in text
    assert "not-the-one" not in text and secret not in text
    assert not ExchangeAccount.objects.exists()
    [(_, title, body)] = told
    assert "OKX refused the passphrase" in body and "its passphrase" in body
    assert "futures trading" not in body


def test_a_wrong_okx_secret_is_a_bad_signature_and_an_unknown_key_says_so(simulator, okx_key):
    api_key, _ = okx_key
    form = AccountForm(okx_data(simulator, api_key, new_hmac_secret()))
    assert not form.is_valid()
    assert "OKX rejected the signature (code 50113)" in all_errors(form)
    form = AccountForm(okx_data(simulator, new_api_key(), new_hmac_secret()))
    assert not form.is_valid()
    assert "OKX does not know this API key (code 50111)" in all_errors(form)


def test_an_okx_key_needs_its_passphrase_before_anything_is_sent(simulator, okx_key):
    api_key, secret = okx_key
    form = AccountForm(okx_data(simulator, api_key, secret, passphrase=""))
    assert not form.is_valid()
    assert "OKX keys come with a passphrase" in " ".join(form.errors["new_key_passphrase"])
    assert simulator.exchange.requests_log() == []


def test_a_kraken_key_with_the_wrong_secret_is_refused_in_krakens_words(simulator, kraken_key):
    api_key, _ = kraken_key
    form = AccountForm(kraken_data(simulator, api_key, kraken_secret()))
    assert not form.is_valid()
    text = all_errors(form)
    assert "Kraken Futures refused the key (authenticationError)" in text
    assert "-2015" not in text
    assert not ExchangeAccount.objects.exists()


def test_a_kraken_secret_that_is_not_base64_is_refused_before_anything_is_sent(simulator, kraken_key):
    api_key, _ = kraken_key
    form = AccountForm(kraken_data(simulator, api_key, "not base64 at all!"))
    assert not form.is_valid()
    assert "not valid base64" in " ".join(form.errors["new_secret"])
    assert simulator.exchange.requests_log() == []


@pytest.mark.parametrize(
    ("venue", "environment", "said"),
    [
        ("okx", "testnet", "OKX has no testnet host here: choose production (www.okx.com)"),
        ("usdm", "testnet", None),
        ("kraken_futures", "testnet", None),
    ],
)
def test_environments_are_valid_per_venue(simulator, venue, environment, said):
    data = form_data(
        simulator.url, new_api_key(), kraken_secret(), venue=venue, environment=environment, passphrase="p"
    )
    form = AccountForm(data)
    form.is_valid()
    refusal = " ".join(form.errors.get("environment", []))
    if said:
        assert said in refusal
    else:
        assert refusal == ""


def test_the_kraken_testnet_is_demo_futures():
    account = make_account("desk-kraken", venue="kraken_futures", environment="testnet")
    assert account.base_url == "https://demo-futures.kraken.com"
    assert account.environment_name == "Kraken Futures testnet (demo-futures.kraken.com)"


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (errors.FatalError("x", code=50105, http_status=401), "OKX refused the passphrase (code 50105)"),
        (errors.FatalError("x", code=50113, http_status=401), "OKX rejected the signature (code 50113)"),
        (errors.FatalError("x", code=50111, http_status=401), "OKX does not know this API key (code 50111)"),
        (
            errors.TimestampError("x", code=50102, http_status=401),
            "OKX refused the request time (code 50102)",
        ),
        (errors.FatalError("x", code=50120, http_status=200), "lacks the permission (code 50120)"),
        (errors.FatalError("x", code=50110, http_status=401), "IP allowlist"),
        (
            errors.RateLimitedError("x", code=50011, http_status=429),
            "OKX is limiting this API key's requests",
        ),
    ],
)
def test_describe_says_each_okx_failure_in_one_sentence(error, said):
    account = ExchangeAccount(venue="okx", environment="production")
    text = clients.describe(error, account)
    assert said in text and "-2015" not in text and "Binance" not in text


@pytest.mark.parametrize(
    ("name", "kind", "said"),
    [
        ("authenticationError", errors.FatalError, "Kraken Futures refused the key (authenticationError)"),
        ("apiLimitExceeded", errors.RateLimitedError, "budget of 500 per 10 s is spent"),
        ("nonceBelowThreshold", errors.TimestampError, "nonce (nonceBelowThreshold)"),
        ("nonceDuplicate", errors.TemporaryError, "(nonceDuplicate)"),
    ],
)
def test_describe_says_each_kraken_failure_in_its_own_words(name, kind, said):
    account = ExchangeAccount(venue="kraken_futures", environment="production")
    error = kind(f"Kraken Futures refused the request: {name}.", http_status=200)
    text = clients.describe(error, account)
    assert said in text and "-2015" not in text


def test_a_key_admin_adds_an_okx_account_in_the_admin(client, cast, simulator, okx_key):
    client.force_login(cast.key_admin)
    api_key, secret = okx_key
    response = client.post(
        reverse("admin:heartbeats_exchangeaccount_add"),
        okx_data(simulator, api_key, secret),
        REMOTE_ADDR=ADMIN_IP,
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = ExchangeAccount.objects.get()
    assert (account.venue, account.key_passphrase) == ("okx", PASSPHRASE)
    page = client.get(reverse("admin:heartbeats_exchangeaccount_change", args=[account.pk])).content.decode()
    assert "New key passphrase (OKX: the API passphrase)" in page
    assert PASSPHRASE not in page and secret not in page


# -- Policies on them ---------------------------------------------------------------------------------------


def policy_form(account, symbol="", countdown_ms=60_000, interval_s=10):
    return PolicyForm(
        {"account": account.pk, "symbol": symbol, "countdown_ms": countdown_ms, "interval_s": interval_s}
    )


@pytest.fixture
def okx_account(db):
    return make_account("desk-okx", venue="okx", key_passphrase=PASSPHRASE)


@pytest.fixture
def kraken_account(db):
    return make_account("desk-kraken", venue="kraken_futures", secret=kraken_secret())


def test_the_policy_form_says_a_blank_symbol_is_the_whole_account_and_names_okx_bounds():
    form = PolicyForm()
    assert "leave it blank for the whole account" in form.fields["symbol"].help_text
    assert "order tag" in form.fields["symbol"].help_text
    assert "OKX accepts a countdown of 10–120 s" in form.fields["countdown_ms"].help_text


@pytest.mark.parametrize("venue", ["okx", "kraken_futures"])
def test_a_policy_for_the_whole_account_is_saved_with_a_blank_symbol(venue, okx_account, kraken_account):
    account = okx_account if venue == "okx" else kraken_account
    form = policy_form(account)
    assert form.is_valid(), form.errors
    policy = form.save()
    assert (policy.symbol, policy.switch_name) == ("", "whole account")
    again = policy_form(account)
    assert not again.is_valid()
    assert "already has a policy for whole account" in " ".join(again.errors["symbol"])


def test_an_okx_policy_may_cover_one_order_tag(okx_account):
    form = policy_form(okx_account, "mm1")
    assert form.is_valid(), form.errors
    assert form.save().switch_name == "tag mm1"
    refused = policy_form(okx_account, "BTC-USDT-SWAP")
    assert not refused.is_valid()
    assert "is not an order tag OKX accepts" in " ".join(refused.errors["symbol"])


def test_kraken_takes_no_symbol(kraken_account):
    form = policy_form(kraken_account, "PF_XBTUSD")
    assert not form.is_valid()
    assert "covers the whole account: leave the symbol empty" in " ".join(form.errors["symbol"])


@pytest.mark.parametrize("countdown_ms", [5_000, 300_000])
def test_an_okx_countdown_outside_10_to_120_s_is_refused_naming_the_bounds(okx_account, countdown_ms):
    form = policy_form(okx_account, countdown_ms=countdown_ms, interval_s=1)
    assert not form.is_valid()
    assert "OKX accepts a countdown of 10–120 s" in " ".join(form.errors["countdown_ms"])
    assert not CountdownPolicy.objects.exists()


def test_an_okx_interval_too_long_for_its_longest_countdown_asks_for_a_shorter_interval(okx_account):
    form = policy_form(okx_account, countdown_ms=120_000, interval_s=60)
    assert not form.is_valid()
    message = " ".join(form.errors["countdown_ms"])
    assert "OKX accepts at most 120 s, so shorten the interval to 39 s or less" in message
    assert "Raise the countdown" not in message


def test_kraken_counts_whole_seconds(kraken_account):
    form = policy_form(kraken_account, countdown_ms=60_500)
    assert not form.is_valid()
    assert "Kraken Futures counts its countdown in whole seconds" in " ".join(form.errors["countdown_ms"])


def test_the_policy_form_names_each_account_venue_and_its_whole_account_switch(okx_account, kraken_account):
    offered = dict((str(value), label) for value, label in PolicyForm().fields["account"].choices)
    assert offered[str(okx_account.pk)] == "desk-okx (OKX, whole account)"
    assert offered[str(kraken_account.pk)] == "desk-kraken (Kraken Futures, whole account)"


def test_the_admin_policy_form_takes_a_blank_symbol_on_okx(client, cast, okx_account):
    client.force_login(cast.key_admin)
    response = client.post(
        reverse("admin:heartbeats_countdownpolicy_add"),
        {"account": okx_account.pk, "symbol": "", "countdown_ms": 5_000, "interval_s": 1},
        REMOTE_ADDR=ADMIN_IP,
    )
    assert response.status_code == 200
    assert "OKX accepts a countdown of 10–120 s" in response.content.decode()
    response = client.post(
        reverse("admin:heartbeats_countdownpolicy_add"),
        {"account": okx_account.pk, "symbol": "", "countdown_ms": 60_000, "interval_s": 10},
        REMOTE_ADDR=ADMIN_IP,
    )
    assert response.status_code == 302
    assert CountdownPolicy.objects.get().switch_name == "whole account"


@pytest.mark.parametrize(("venue_fixture", "late"), [("okx_account", 30), ("kraken_account", 30)])
def test_a_countdown_a_late_renewal_could_outlive_the_last_zero_is_refused(request, venue_fixture, late):
    account = request.getfixturevalue(venue_fixture)
    refused = policy_form(account, countdown_ms=20_000, interval_s=2)
    assert not refused.is_valid()
    said = " ".join(refused.errors["countdown_ms"])
    assert "a countdown must be at least 33 s" in said and f"up to {late} s after it was sent" in said
    assert policy_form(account, countdown_ms=33_000, interval_s=2).is_valid()
