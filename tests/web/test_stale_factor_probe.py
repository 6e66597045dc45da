"""A stolen session whose second factor is stale changes nothing: every admin POST (add, change, delete,
bulk actions, of every registered model) and every page POST that changes something is refused with a page
that says why, and the database is left exactly as it was. The few POSTs that need no fresh factor are
listed here with the reason, so a new one cannot slip in unnoticed."""

import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from heartbeats import twofactor
from heartbeats.domain import roles
from heartbeats.models import Action, AlertChannel, ApiToken, MaintenanceWindow, Operation, Strategy
from tests.web.conftest import PASSWORD, make_account, make_policy
from tests.web.test_second_factor import code_for, give_app, sign_in, verify

# Page POSTs that need no fresh second factor, and why.
NO_STEP_UP = {
    "login": "signs in (the password, then the factor)",
    "logout": "signs out",
    "second_factor_verify": "is where the factor is given",
    "otp_webauthn:credential-authentication-begin": "is where a passkey is given as the factor",
    "otp_webauthn:credential-authentication-complete": "is where a passkey is given as the factor",
    "ping": "takes no session: the key in the URL is the secret",
    "ping_fail": "takes no session: the key in the URL is the secret",
    "policy_arm": "one policy at a time is an operator's everyday action (audited)",
    "policy_disarm": "one policy at a time is an operator's everyday action (audited); disarming is safe",
}


def _age_factor(client, seconds):
    session = client.session
    session[twofactor.SESSION_PASSED_AT] = time.time() - seconds
    session.save()


def snapshot() -> dict:
    """Every row of every table the application owns or uses (sessions aside)."""
    state = {}
    for model in apps.get_models():
        if model is Session or model._meta.proxy or not model._meta.managed:
            continue
        state[model._meta.label] = sorted(map(repr, model.objects.values_list()))
    return state


@pytest.fixture
def world(db, client, django_user_model):
    """A superuser whose factor went stale 23 s ago, and a row of every kind worth changing."""
    superuser = django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD)
    device = give_app(superuser)
    viewer = django_user_model.objects.create_user("victor", password=PASSWORD)
    roles.grant(viewer, roles.VIEWER)
    account = make_account()
    policy = make_policy(account, "BTCUSDT", "disarmed")
    channel = AlertChannel.objects.create(name="desk", url="json://192.0.2.1/hook")
    strategy = Strategy.objects.create(name="momentum", ping_key_hash="0" * 64, ping_key_hint="abcdef")
    token, _raw = ApiToken.issue(name="runbook", role="operator", allowed_addresses=[], created_by=superuser)
    window = MaintenanceWindow.objects.create(
        reason="release",
        starts_at=timezone.now() + timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=2),
    )
    sign_in(client, superuser)
    assert verify(client, code_for(device)).status_code == 302
    _age_factor(client, 300 + 23)
    operation = Operation.objects.filter(action=Action.SECOND_FACTOR_PASSED).latest("at")
    return {
        "superuser": superuser,
        "device": device,
        "viewer": viewer,
        "policy": policy,
        "channel": channel,
        "strategy": strategy,
        "token": token,
        "window": window,
        "operation": operation,
    }


def _refused(response) -> bool:
    if response.status_code != 403:
        return False
    if response.get("Content-Type", "").startswith("application/json"):
        return response.json().get("code") == "step_up_needed"
    body = response.content.decode()
    return "Second factor needed" in body and "Nothing was changed" in body


class TestAdmin:
    def test_every_admin_post_of_every_model_is_refused_and_changes_nothing(self, client, world):
        before = snapshot()
        probed = 0
        for model, model_admin in admin.site._registry.items():
            info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
            obj = model._default_manager.first()
            posts = [(reverse(f"{info}_add"), {})]
            actions = model_admin.get_actions(_request_for(world["superuser"]))
            if obj is not None:
                posts += [
                    (reverse(f"{info}_change", args=[obj.pk]), {}),
                    (reverse(f"{info}_delete", args=[obj.pk]), {"post": "yes"}),
                ]
                posts += [
                    (reverse(f"{info}_changelist"), {"action": name, "_selected_action": [obj.pk]})
                    for name in actions
                ]
            for url, data in posts:
                response = client.post(url, data)
                assert _refused(response), (url, data, response.status_code)
                probed += 1
        assert probed > 40
        assert snapshot() == before

    def test_the_issues_group_change_is_refused_then_made_with_a_fresh_factor(self, client, world):
        viewers = Group.objects.get(name=roles.VIEWER)
        operate = Permission.objects.get(codename="operate_policies")
        url = reverse("admin:auth_group_change", args=[viewers.pk])
        granted = list(viewers.permissions.values_list("pk", flat=True))
        data = {"name": viewers.name, "permissions": [*granted, operate.pk]}
        response = client.post(url, data)
        assert _refused(response)
        assert not viewers.permissions.filter(pk=operate.pk).exists()
        assert not roles.can_operate(type(world["viewer"]).objects.get(pk=world["viewer"].pk))
        # The same form, with the factor given again, goes through: the refusal was the factor's alone.
        _age_factor(client, 0)
        assert client.post(url, data).status_code == 302
        assert viewers.permissions.filter(pk=operate.pk).exists()

    def test_opening_a_form_that_could_write_asks_for_the_factor_first(self, client, world):
        viewers = Group.objects.get(name=roles.VIEWER)
        for url in (
            reverse("admin:auth_group_change", args=[viewers.pk]),
            reverse("admin:auth_group_add"),
            reverse("admin:auth_user_password_change", args=[world["viewer"].pk]),
            reverse("admin:password_change"),
        ):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("second_factor_verify")), url
        # Lists and read-only pages stay open.
        assert client.get(reverse("admin:auth_group_changelist")).status_code == 200
        assert client.get(reverse("admin:heartbeats_operation_changelist")).status_code == 200

    def test_signing_out_needs_no_fresh_factor(self, client, world):
        assert client.post(reverse("admin:logout")).status_code == 302
        assert "_auth_user_id" not in client.session

    def test_an_admin_id_is_plain_digits(self, client, world):
        _age_factor(client, 0)
        viewers = Group.objects.get(name=roles.VIEWER)
        assert client.get(reverse("admin:auth_group_change", args=[viewers.pk])).status_code == 200
        arabic = str(viewers.pk).translate({48 + i: 0x660 + i for i in range(10)})
        for spelling in (f"+{viewers.pk}", f"0_{viewers.pk}", arabic):
            assert client.get(f"/admin/auth/group/{spelling}/change/").status_code == 404, spelling


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _patterns(resolver=None, prefix="", namespace=""):
    """(view name, route) of every named URL pattern, includes flattened."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


class TestPages:
    def test_every_page_post_that_changes_something_is_refused_and_changes_nothing(self, client, world):
        ids = {
            "policy_id": world["policy"].pk,
            "window_id": world["window"].pk,
            "channel_id": world["channel"].pk,
            "strategy_id": world["strategy"].pk,
            "operation_id": world["operation"].pk,
            "token_id": world["token"].pk,
            "kind": twofactor.KIND_TOTP,
            "device_id": world["device"].pk,
        }
        before = snapshot()
        refused, read_only = [], []
        for name, pattern in _patterns():
            if name.startswith(("admin:", "api:")) or name in NO_STEP_UP:
                continue
            wanted = set(pattern.pattern.converters) | set(getattr(pattern.pattern, "regex").groupindex)
            url = reverse(name, kwargs={k: ids[k] for k in wanted})
            response = client.post(url, {"reason": "probe", "do": "disarm", "policy": [world["policy"].pk]})
            if response.status_code == 405:
                read_only.append(name)
                continue
            assert _refused(response), (name, response.status_code, response.content[:300])
            refused.append(name)
            assert snapshot() == before, name
        for expected in (
            "disarm_all",
            "selection",
            "rearm",
            "cancel_orders",
            "policy_new",
            "maintenance_create",
            "alert_channel_new",
            "alert_channel_test",
            "alert_channel_delete",
            "strategy_new",
            "strategy_release",
            "strategy_delete",
            "api_token_new",
            "api_token_revoke",
            "second_factor_totp",
            "second_factor_recovery_codes",
            "second_factor_remove",
            "otp_webauthn:credential-registration-begin",
        ):
            assert expected in refused, expected
        assert "board" in read_only and "policy" in read_only
