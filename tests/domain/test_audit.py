"""Operation rows for every change people make, without secrets."""

import json

import pytest
from django.contrib.auth import authenticate, login, logout
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import ProtectedError
from django.test import RequestFactory

from heartbeats.domain import audit, privileges
from heartbeats.models import Action, AppendOnlyError, Effect, Operation, OperationTarget

from .conftest import PASSWORD, make_account, make_policy

pytestmark = pytest.mark.django_db


def request_from(ip="10.1.2.3", **meta):
    request = RequestFactory().post("/login/", REMOTE_ADDR=ip, **meta)
    request.session = SessionStore()
    return request


def test_it_records_who_did_what_from_where(cast):
    account = make_account()
    policy = make_policy(account)
    op = audit.record(
        Action.DISARM_ALL,
        user=cast.operator,
        ip="192.0.2.10",
        policy=policy,
        reason="venue outage",
        targets=[audit.target(policy, Effect.DISARMED)],
    )
    op.refresh_from_db()
    assert (op.username, op.ip, op.account, op.reason) == ("olga", "192.0.2.10", account, "venue outage")
    row = op.targets.get()
    assert (row.policy, row.account_label, row.symbol) == (policy, account.label, policy.symbol)
    assert (row.generation, row.changed, row.effect) == (policy.generation, True, Effect.DISARMED)


def test_it_keeps_operations_append_only(cast):
    op = audit.record(Action.ARM, user=cast.operator, ip=None)
    op.reason = "edited"
    with pytest.raises(AppendOnlyError):
        op.save()
    with pytest.raises(AppendOnlyError):
        op.delete()


def test_it_keeps_targets_append_only_and_their_operation_undeletable(cast):
    policy = make_policy(make_account())
    op = audit.record(Action.ARM, user=cast.operator, ip=None, targets=[audit.target(policy, Effect.ARMED)])
    row = op.targets.get()
    row.effect = Effect.DISARMED
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(ProtectedError):
        Operation.objects.filter(pk=op.pk).delete()
    assert OperationTarget.objects.get(pk=row.pk).effect == Effect.ARMED


def test_it_writes_an_operation_with_all_its_targets_or_not_at_all(cast):
    policy = make_policy(make_account())
    with pytest.raises(TypeError):
        audit.record(
            Action.DISARM_ALL,
            user=cast.operator,
            ip=None,
            reason="venue outage",
            targets=[audit.target(policy, Effect.DISARMED), {"policy": policy.pk}],
        )
    assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()
    assert not OperationTarget.objects.exists()


def test_it_keeps_a_deleted_policys_targets_with_its_account_and_symbol(cast):
    account = make_account()
    policy = make_policy(account, "ADAUSDT")
    op = audit.record(
        Action.DISARM, user=cast.operator, ip=None, targets=[audit.target(policy, Effect.DISARMED)]
    )
    policy.delete()
    row = op.targets.get()
    assert (row.policy, row.account_label, row.symbol, row.effect) == (
        None,
        account.label,
        "ADAUSDT",
        "disarmed",
    )


def test_it_refuses_unknown_effects():
    policy = make_policy(make_account())
    with pytest.raises(ValueError):
        audit.target(policy, "shrugged")


def test_it_refuses_unknown_actions(cast):
    with pytest.raises(ValueError):
        audit.record("shrug", user=cast.operator, ip=None)


def test_it_takes_the_client_address_from_remote_addr_unless_proxies_are_trusted(settings):
    forged = request_from("10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert audit.client_ip(forged) == "10.0.0.5"
    settings.TRUSTED_PROXY_COUNT = 1
    behind_proxy = request_from("10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert audit.client_ip(behind_proxy) == "203.0.113.9"
    assert audit.client_ip(request_from("10.0.0.5")) == "10.0.0.5"
    assert audit.client_ip(request_from("not-an-ip")) is None


def test_it_records_sign_in_and_sign_out(cast):
    request = request_from("198.51.100.4")
    user = authenticate(request, username="olga", password=PASSWORD)
    login(request, user)
    request.user = user
    logout(request)
    rows = list(
        Operation.objects.exclude(action__in=privileges.ACTIONS)
        .order_by("at", "pk")
        .values_list("action", "username", "ip")
    )
    assert rows == [
        (Action.SIGN_IN, "olga", "198.51.100.4"),
        (Action.SIGN_OUT, "olga", "198.51.100.4"),
    ]


def test_it_records_failed_sign_in_with_the_username_but_never_the_password(cast, caplog):
    assert authenticate(request_from("198.51.100.5"), username="olga", password="wrong-password-123") is None
    op = Operation.objects.get(action=Action.SIGN_IN_FAILED)
    assert (op.username, op.user, op.ip) == ("olga", None, "198.51.100.5")
    assert not op.targets.exists()
    stored = json.dumps([op.changes, op.reason])
    assert "wrong-password-123" not in stored
    assert "wrong-password-123" not in caplog.text


def test_it_masks_keys_in_account_changes():
    old = make_account()
    new = make_account("desk-b", api_key="K" * 60 + "5678", egress="second")
    changes = audit.account_changes(old, new)
    assert changes["api_key"] == [f"…{old.api_key[-4:]}", "…5678"]
    assert changes["secret"] == ["(stored)", "(replaced)"]
    assert changes["egress"] == ["default", "second"]
    flat = json.dumps(changes)
    for secret in (old.api_key, old.secret, new.api_key, new.secret):
        assert secret not in flat
