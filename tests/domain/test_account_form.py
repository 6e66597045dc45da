"""Saving an account checks its key against the exchange (the simulator) and says clearly what failed."""

import pytest

from heartbeats.forms import AccountForm
from heartbeats.models import ExchangeAccount
from tests.ports import free_port

from .conftest import ED25519_PEM, RSA_ENCRYPTED_PEM, RSA_PEM, new_api_key, new_hmac_secret

pytestmark = pytest.mark.django_db


def form_data(simulator_url, api_key, secret, *, key_type="hmac", passphrase="", **over):
    data = {
        "label": "desk-a",
        "venue": "usdm",
        "environment": "custom",
        "custom_base_url": simulator_url,
        "key_type": key_type,
        "egress": "default",
        "enabled": "on",
        "new_api_key": api_key,
        "new_secret": secret,
        "new_key_passphrase": passphrase,
    }
    data.update(over)
    return data


def signed_requests(simulator):
    return [r for r in simulator.exchange.requests_log() if r["path"].endswith("openOrders")]


def assert_refused(form, *fragments, secrets=()):
    assert not form.is_valid()
    text = " ".join(str(e) for errors in form.errors.values() for e in errors)
    for fragment in fragments:
        assert fragment in text, text
    for secret in secrets:
        assert secret not in text
        assert secret not in form.as_div()
    assert not ExchangeAccount.objects.exists()
    return text


@pytest.mark.parametrize(
    ("key_type", "secret", "passphrase", "registered"),
    [
        ("hmac", new_hmac_secret(), "", None),
        ("ed25519", ED25519_PEM, "", None),
        ("rsa", RSA_PEM, "", None),
        ("rsa", RSA_ENCRYPTED_PEM, "password", RSA_PEM),
    ],
    ids=["hmac", "ed25519", "rsa", "rsa-encrypted"],
)
def test_it_saves_an_account_whose_key_the_exchange_accepts(
    simulator, key_type, secret, passphrase, registered
):
    api_key = new_api_key()
    simulator.exchange.add_account(api_key, key_type, registered or secret)
    form = AccountForm(form_data(simulator.url, api_key, secret, key_type=key_type, passphrase=passphrase))
    assert form.is_valid(), form.errors
    account = ExchangeAccount.objects.get(pk=form.save().pk)
    assert (account.api_key, account.secret.strip(), account.api_key_last4) == (
        api_key,
        secret.strip(),
        api_key[-4:],
    )
    assert account.key_passphrase == passphrase
    assert len(signed_requests(simulator)) == 1


def test_it_explains_that_minus_2015_means_key_permission_or_ip(simulator):
    api_key, secret = new_api_key(), new_hmac_secret()
    form = AccountForm(form_data(simulator.url, api_key, secret))
    text = assert_refused(
        form,
        "code -2015",
        "API key is wrong",
        "permission",
        "IP whitelist",
        "Nothing was saved",
        secrets=[api_key, secret],
    )
    assert "Binance gives this one code for three causes" in text


def test_it_refuses_a_key_whose_ip_whitelist_leaves_this_server_out(simulator):
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret, ip_whitelist=["192.0.2.77"])
    assert_refused(AccountForm(form_data(simulator.url, api_key, secret)), "code -2015", "IP whitelist")


def test_it_says_a_wrong_secret_or_key_type_when_the_signature_is_rejected(simulator):
    api_key, secret = new_api_key(), new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret)
    wrong = new_hmac_secret()
    assert_refused(
        AccountForm(form_data(simulator.url, api_key, wrong)),
        "code -1022",
        "secret does not belong to this API key",
        secrets=[api_key, wrong, secret],
    )


def test_it_blames_the_clock_when_timestamps_keep_failing(simulator, sim_key):
    simulator.exchange.inject(path="/fapi/v1/openOrders", code=-1021, count=2)
    assert_refused(AccountForm(form_data(simulator.url, *sim_key)), "code -1021", "clock")


def test_it_says_when_the_exchange_cannot_be_reached(db):
    form = AccountForm(form_data(f"http://127.0.0.1:{free_port()}", new_api_key(), new_hmac_secret()))
    assert_refused(form, "could not be reached or did not answer in time")


def test_it_says_when_the_exchange_does_not_answer_in_time(simulator, sim_key):
    simulator.exchange.inject(path="/fapi/v1/openOrders", latency_ms=1500)
    form = AccountForm(form_data(simulator.url, *sim_key), client_kw={"read_timeout": 0.3})
    assert_refused(form, "did not answer in time")


@pytest.mark.parametrize(
    ("key_type", "secret", "passphrase", "field", "fragment"),
    [
        (
            "ed25519",
            "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----",
            "",
            "new_secret",
            "not a valid PEM",
        ),
        ("rsa", ED25519_PEM, "", "new_secret", "not an RSA private key"),
        ("ed25519", "just-an-hmac-secret", "", "new_secret", "PEM private key"),
        ("hmac", ED25519_PEM, "", "new_secret", "choose key type Ed25519 or RSA"),
        ("hmac", "", "", "new_secret", "Enter the secret"),
        ("hmac", new_hmac_secret(), "pass", "new_key_passphrase", "HMAC secrets have none"),
    ],
    ids=["malformed-pem", "wrong-key-type", "not-pem", "pem-as-hmac", "empty", "hmac-passphrase"],
)
def test_it_refuses_unusable_key_material_before_calling_the_exchange(
    simulator, key_type, secret, passphrase, field, fragment
):
    form = AccountForm(
        form_data(simulator.url, new_api_key(), secret, key_type=key_type, passphrase=passphrase)
    )
    assert not form.is_valid()
    assert field in form.errors
    assert fragment in str(form.errors[field])
    assert signed_requests(simulator) == []
    assert not ExchangeAccount.objects.exists()


def test_it_refuses_empty_values(simulator):
    form = AccountForm(form_data(simulator.url, "", "", label=""))
    assert not form.is_valid()
    assert {"label", "new_api_key", "new_secret"} <= set(form.errors)
    assert signed_requests(simulator) == []


def test_it_needs_a_base_url_for_the_custom_environment(simulator, sim_key):
    form = AccountForm(form_data("", *sim_key))
    assert not form.is_valid()
    assert "custom_base_url" in form.errors


def test_it_says_only_what_is_wrong_with_a_malformed_base_url(simulator, sim_key):
    form = AccountForm(form_data("ftp://x", *sim_key))
    assert not form.is_valid()
    assert form.errors["custom_base_url"] == ["Enter a valid URL."]


@pytest.mark.parametrize("path", ["/fapi/v1", "/fapi", "/dapi/v1/"])
def test_it_refuses_a_base_url_with_an_endpoint_path_before_calling_the_exchange(simulator, sim_key, path):
    form = AccountForm(form_data(simulator.url + path, *sim_key))
    assert not form.is_valid()
    assert "Give the base URL only" in str(form.errors["custom_base_url"])
    assert signed_requests(simulator) == []


def test_it_quotes_the_exchange_without_a_doubled_full_stop(simulator):
    api_key = new_api_key()
    simulator.exchange.add_account(api_key, "hmac", new_hmac_secret())
    form = AccountForm(form_data(simulator.url, api_key, new_hmac_secret()))
    assert not form.is_valid()
    message = " ".join(form.errors["__all__"])
    assert "The exchange said: “Signature for this request is not valid.” Nothing was saved." in message


def test_it_labels_the_key_inputs_as_new_ones_beside_the_stored_key(sim_account):
    form = AccountForm(instance=sim_account)
    labels = [form.fields[name].label for name in AccountForm.KEY_FIELDS]
    passphrase = "New key passphrase (OKX: the API passphrase)"
    assert labels == ["New API key", "New secret or private key", passphrase]
    assert AccountForm().fields["new_api_key"].label == "API key"


def test_it_accepts_a_pem_key_pasted_on_one_line(simulator):
    api_key = new_api_key()
    simulator.exchange.add_account(api_key, "ed25519", ED25519_PEM)
    one_line = " ".join(ED25519_PEM.split())
    form = AccountForm(form_data(simulator.url, api_key, one_line, key_type="ed25519"))
    assert form.is_valid(), form.errors
    assert form.save().secret.strip() == ED25519_PEM.strip()


def test_it_never_renders_a_secret_back_even_after_a_failed_check(simulator):
    api_key, secret = new_api_key(), new_hmac_secret()
    form = AccountForm(form_data(simulator.url, api_key, secret, passphrase="hunter22"))
    assert not form.is_valid()
    html = form.as_div()
    for value in (api_key, secret, "hunter22", api_key[-4:]):
        assert value not in html


def test_it_keeps_the_stored_key_when_the_key_fields_are_left_blank(simulator, sim_account):
    before = simulator.exchange.requests_log()
    form = AccountForm(form_data(simulator.url, "", "", label="renamed"), instance=sim_account)
    assert form.is_valid(), form.errors
    form.save()
    fresh = ExchangeAccount.objects.get(pk=sim_account.pk)
    assert (fresh.label, fresh.api_key, fresh.secret) == ("renamed", sim_account.api_key, sim_account.secret)
    assert not form.key_rotated
    assert form.changes() == {"label": ["sim-usdm", "renamed"]}
    assert simulator.exchange.requests_log() == before  # nothing key-related changed: no call


def test_it_rotates_the_key_after_checking_the_new_one(simulator, sim_account):
    new_key, new_secret = new_api_key(), new_hmac_secret()
    old_key, old_secret = sim_account.api_key, sim_account.secret
    stored = ExchangeAccount.objects.get(pk=sim_account.pk)

    refused = AccountForm(form_data(simulator.url, new_key, new_secret, label="sim-usdm"), instance=stored)
    assert not refused.is_valid()
    assert "code -2015" in str(refused.errors)
    assert ExchangeAccount.objects.get(pk=sim_account.pk).api_key == old_key

    simulator.exchange.add_account(new_key, "hmac", new_secret)
    stored = ExchangeAccount.objects.get(pk=sim_account.pk)
    form = AccountForm(form_data(simulator.url, new_key, new_secret, label="sim-usdm"), instance=stored)
    assert form.is_valid(), form.errors
    form.save()
    assert form.key_rotated
    fresh = ExchangeAccount.objects.get(pk=sim_account.pk)
    assert (fresh.api_key, fresh.secret, fresh.api_key_last4) == (new_key, new_secret, new_key[-4:])
    changes = form.changes()
    assert changes["api_key"] == [f"…{old_key[-4:]}", f"…{new_key[-4:]}"]
    assert changes["secret"] == ["(stored)", "(replaced)"]
    for secret in (old_key, old_secret, new_key, new_secret):
        assert secret not in str(changes)


def test_it_asks_for_both_halves_of_a_rotated_key(simulator, sim_account):
    form = AccountForm(form_data(simulator.url, new_api_key(), "", label="sim-usdm"), instance=sim_account)
    assert not form.is_valid()
    assert "enter both the new API key and its secret" in str(form.errors["new_secret"])


def test_it_checks_the_stored_key_again_when_the_venue_or_url_changes(simulator, sim_account):
    form = AccountForm(
        form_data(simulator.url, "", "", label="sim-usdm", venue="coinm"), instance=sim_account
    )
    assert form.is_valid(), form.errors
    assert [r["path"] for r in signed_requests(simulator)] == ["/dapi/v1/openOrders"]
