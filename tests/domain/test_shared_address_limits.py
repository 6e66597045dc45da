"""Key checks and symbol lists talk to the exchange from the same address as the engine's heartbeats: they
obey the address's stored pause, ban and used weight, and report what the exchange said back."""

import time

import pytest

from heartbeats.domain import ratelimits
from heartbeats.forms import AccountForm
from heartbeats.models import AddressLimits, ExchangeAccount

from .conftest import make_account, new_api_key, new_hmac_secret
from .test_account_form import form_data

pytestmark = pytest.mark.django_db


def test_a_key_check_waits_out_a_ban_instead_of_lengthening_it(simulator):
    ratelimits.record("default", simulator.url, paused_until=time.time() + 60, banned_until=time.time() + 60)
    api_key = new_api_key()
    secret = new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret)
    form = AccountForm(form_data(simulator.url, api_key, secret))
    assert not form.is_valid()
    text = " ".join(str(e) for errors in form.errors.values() for e in errors)
    assert "banned this address (HTTP 418) until" in text
    assert simulator.exchange.requests_log() == [], "nothing was sent during the ban"
    assert not ExchangeAccount.objects.exists()


def test_a_key_check_reports_the_weight_it_used(simulator):
    api_key = new_api_key()
    secret = new_hmac_secret()
    simulator.exchange.add_account(api_key, "hmac", secret)
    form = AccountForm(form_data(simulator.url, api_key, secret))
    assert form.is_valid(), form.errors
    stored = AddressLimits.objects.get(egress="default", base_url=simulator.url)
    assert stored.used_weight == simulator.exchange.requests_log()[-1]["used_weight"] > 0


def test_a_symbol_list_is_not_fetched_into_a_spent_minute(simulator):
    from django.core.exceptions import ValidationError

    from heartbeats.domain.symbols import validate_symbol

    account = make_account(base_url=simulator.url)
    ratelimits.record(
        "default", simulator.url, minute=ratelimits.exchange_minute(time.time()), used_weight=2400
    )
    with pytest.raises(ValidationError, match="held until the next minute"):
        validate_symbol(account, "BTCUSDT")
    assert simulator.exchange.requests_log() == []
