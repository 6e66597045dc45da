"""The live pages' plain rows (heartbeats.domain.policy_facts): what one read made is taken again for rows
read back unchanged, and never for a row, or an account, that changed in between."""

from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.domain.policy_facts import load_policies
from heartbeats.models import CountdownPolicy, ExchangeAccount
from tests.web.conftest import make_account, make_policy

pytestmark = pytest.mark.django_db


def _by_symbol():
    return {p.symbol: p for p in load_policies()}


def test_unchanged_rows_give_the_same_objects_and_changed_ones_their_new_values():
    account = make_account("desk-a")
    make_policy(account, "ETHUSDT", "armed")
    make_policy(account, "BTCUSDT", "armed")
    first = _by_symbol()
    assert _by_symbol() == first
    assert all(p is first[p.symbol] for p in load_policies())

    sent = timezone.now() - timedelta(seconds=1)
    CountdownPolicy.objects.filter(symbol="ETHUSDT").update(last_arm_sent_at=sent, last_error="slow")
    second = _by_symbol()
    assert second["BTCUSDT"] is first["BTCUSDT"]
    assert second["ETHUSDT"].last_arm_sent_at == sent
    assert second["ETHUSDT"].last_arm_sent_at.tzinfo is not None
    assert second["ETHUSDT"].last_error == "slow"
    now = timezone.now()
    assert second["ETHUSDT"].status(now) == CountdownPolicy.objects.get(symbol="ETHUSDT").status(now)
    # Every row once, changed rows included (in no particular order: PostgreSQL moves an updated row).
    ids = [p.id for p in load_policies()]
    assert sorted(ids) == sorted(CountdownPolicy.objects.values_list("id", flat=True))


def test_a_changed_account_reaches_its_unchanged_policies():
    account = make_account("desk-a")
    other = make_account("desk-b", api_key="otherKeyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC1234")
    make_policy(account, "BTCUSDT", "armed")
    make_policy(other, "ETHUSDT", "armed")
    first = _by_symbol()

    ExchangeAccount.objects.filter(pk=account.pk).update(label="desk-renamed", enabled=False)
    second = _by_symbol()
    assert second["BTCUSDT"].account.label == "desk-renamed"
    assert second["BTCUSDT"].account.enabled is False
    assert second["ETHUSDT"] is first["ETHUSDT"]


def test_rows_come_and_go():
    account = make_account("desk-a")
    make_policy(account, "BTCUSDT", "armed")
    assert set(_by_symbol()) == {"BTCUSDT"}
    make_policy(account, "ETHUSDT", "disarmed")
    assert set(_by_symbol()) == {"BTCUSDT", "ETHUSDT"}
    CountdownPolicy.objects.filter(symbol="BTCUSDT").delete()
    assert set(_by_symbol()) == {"ETHUSDT"}
