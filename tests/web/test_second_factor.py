"""The second factor at sign-in: who must enrol, giving it (app, recovery code), lockout, and changing one's
own devices. Step-up actions are in test_step_up.py."""

import re
import time

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice

from heartbeats import twofactor
from heartbeats.models import Action, AuthenticatorApp, Operation
from heartbeats.twofactor import recovery_digest
from tests.web.conftest import PASSWORD


def give_app(user, name="phone"):
    return AuthenticatorApp.objects.create(user=user, name=name, confirmed=True)


def code_for(device, drift=0) -> str:
    """The code the user's app shows now (drift=1: the next 30 s step, which the server still accepts)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift):06d}"


def next_code(device) -> str:
    """The app's code the server takes next: this step's, unless the device has used it (then the next
    step's, within tolerance). Not simply the next step's: the server centres its window on the drift it
    learnt, which a code taken late in one step and checked in the next moves back a step."""
    device.refresh_from_db()
    now = int(time.time() // device.step)
    return code_for(device, drift=max(now, device.last_t + 1) - now)


def give_codes(user, *codes):
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    for code in codes:
        twofactor.store_recovery_code(device, code)
    return device


def sign_in(client, user):
    response = client.post(reverse("login"), {"username": user.get_username(), "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def verify(client, code, next_url="/"):
    return client.post(reverse("second_factor_verify"), {"token": code, "next": next_url})


def actions(*names):
    return list(Operation.objects.filter(action__in=names).order_by("at").values_list("action", flat=True))


@pytest.fixture
def required(settings):
    settings.REQUIRE_2FA = True


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD)


class TestWhoMustEnrol:
    @pytest.mark.parametrize("who", ["operator", "key_admin", "superuser"])
    def test_it_leads_privileged_roles_to_enrol_before_anything_else(self, client, required, request, who):
        user = request.getfixturevalue(who)
        sign_in(client, user)
        for path in ("/", reverse("disarm_all"), reverse("admin:index"), reverse("policy_new")):
            response = client.get(path)
            assert response.status_code == 302, path
            assert response["Location"].startswith(reverse("second_factor") + "?next=")
        page = client.get(reverse("second_factor"))
        assert page.status_code == 200
        assert 'id="enrol-required"' in page.content.decode()

    def test_a_viewer_may_go_without(self, client, required, viewer):
        sign_in(client, viewer)
        assert client.get("/").status_code == 200

    def test_without_the_requirement_nobody_is_held_up(self, client, operator):
        sign_in(client, operator)
        assert client.get("/").status_code == 200

    def test_the_json_says_so_instead_of_redirecting(self, client, required, operator):
        sign_in(client, operator)
        response = client.get(reverse("status_json"))
        assert response.status_code == 403
        assert "second factor" in response.json()["error"]

    def test_a_viewer_who_enrolled_gives_it_too(self, client, viewer):
        give_app(viewer)
        sign_in(client, viewer)
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("second_factor_verify"))


class TestEnrolment:
    def test_it_adds_an_authenticator_app_with_one_code_and_shows_recovery_codes_once(
        self, client, required, operator
    ):
        sign_in(client, operator)
        page = client.get(reverse("second_factor_totp"))
        html = page.content.decode()
        assert page.status_code == 200
        assert "data:image/svg+xml" in html and 'id="totp-key"' in html
        key = client.session[twofactor.SESSION_PENDING_TOTP]
        pending = AuthenticatorApp(key=key)
        response = client.post(
            reverse("second_factor_totp"), {"name": "my phone", "token": code_for(pending)}
        )
        assert response.status_code == 200
        html = response.content.decode()
        recovery = StaticDevice.objects.get(user=operator)
        stored = set(recovery.token_set.values_list("token", flat=True))
        codes = re.findall(r"<li><code>([a-z2-7]{16})</code></li>", html)
        assert len(codes) == len(stored) == twofactor.RECOVERY_CODE_COUNT
        # Stored as digests, never as the codes shown.
        assert {recovery_digest(recovery.pk, code) for code in codes} == stored
        assert not stored & set(codes)
        device = AuthenticatorApp.objects.get(user=operator)
        assert (device.name, device.confirmed) == ("my phone", True)
        # Enrolling is giving it: the board opens at once.
        assert client.get("/").status_code == 200
        assert actions(Action.SECOND_FACTOR_ADDED, Action.RECOVERY_CODES, Action.SECOND_FACTOR_PASSED) == [
            Action.SECOND_FACTOR_ADDED,
            Action.RECOVERY_CODES,
            Action.SECOND_FACTOR_PASSED,
        ]
        assert Operation.objects.get(action=Action.SECOND_FACTOR_ADDED).username == "olga"
        # Shown once: the page of devices does not show them again.
        assert codes[0] not in client.get(reverse("second_factor")).content.decode()

    def test_it_refuses_a_wrong_first_code_and_adds_nothing(self, client, required, operator):
        sign_in(client, operator)
        client.get(reverse("second_factor_totp"))
        response = client.post(reverse("second_factor_totp"), {"name": "phone", "token": "000000"})
        assert response.status_code == 400
        assert "does not match" in response.content.decode()
        assert not AuthenticatorApp.objects.filter(user=operator).exists()
        assert client.get("/").status_code == 302

    def test_a_second_app_needs_a_fresh_factor(self, client, operator):
        device = give_app(operator)
        sign_in(client, operator)
        verify(client, code_for(device))
        session = client.session
        session[twofactor.SESSION_PASSED_AT] = time.time() - 3600
        session.save()
        response = client.get(reverse("second_factor_totp"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("second_factor_verify"))


class TestSignIn:
    def test_it_asks_for_the_code_after_the_password_and_goes_on_where_it_was_going(self, client, operator):
        device = give_app(operator)
        client.post(reverse("login") + "?next=/disarm-all/", {"username": "olga", "password": PASSWORD})
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"] == reverse("second_factor_verify") + "?next=%2F"
        page = client.get(response["Location"])
        assert 'name="token"' in page.content.decode()
        response = verify(client, code_for(device), next_url="/policies/new/")
        assert response.status_code == 302 and response["Location"] == "/policies/new/"
        assert client.get("/").status_code == 200
        passed = Operation.objects.get(action=Action.SECOND_FACTOR_PASSED)
        assert passed.reason == "sign-in" and "phone" in passed.changes["device"]

    def test_it_refuses_a_wrong_code_and_audits_it(self, client, operator):
        give_app(operator)
        sign_in(client, operator)
        response = verify(client, "123456")
        assert response.status_code == 400
        assert "not right" in response.content.decode()
        assert client.get("/").status_code == 302
        failed = Operation.objects.get(action=Action.SECOND_FACTOR_FAILED)
        assert failed.username == "olga" and failed.changes == {"method": "authenticator app"}

    def test_it_never_follows_a_next_to_another_site(self, client, operator):
        device = give_app(operator)
        sign_in(client, operator)
        response = verify(client, code_for(device), next_url="https://evil.example/")
        assert response["Location"] == reverse("board")

    def test_a_recovery_code_works_once(self, client, operator):
        give_app(operator)
        give_codes(operator, "abcd2345", "efgh6723")
        sign_in(client, operator)
        assert verify(client, "ABCD-2345").status_code == 302
        client.post(reverse("logout"))
        sign_in(client, operator)
        assert verify(client, "abcd2345").status_code == 400
        assert StaticDevice.objects.get(user=operator).token_set.count() == 1

    def test_five_wrong_codes_end_the_session_and_lock_the_password_too(self, client, operator):
        give_app(operator)
        sign_in(client, operator)
        for _ in range(4):
            assert verify(client, "000000").status_code in (400, 429)
        response = verify(client, "000000")
        assert response.status_code == 429
        assert "Sign-in locked" in response.content.decode()
        assert client.get("/").status_code == 302  # signed out
        locked = client.post(reverse("login"), {"username": "olga", "password": PASSWORD})
        assert locked.status_code == 429

    def test_signing_in_again_does_not_wipe_out_failed_codes(self, client, operator):
        give_app(operator)
        sign_in(client, operator)
        for _ in range(3):
            verify(client, "000000")
        client.post(reverse("logout"))
        sign_in(client, operator)
        verify(client, "000000")
        assert verify(client, "000000").status_code == 429

    def test_a_complete_sign_in_forgets_earlier_failures(self, client, operator):
        device = give_app(operator)
        sign_in(client, operator)
        for _ in range(4):
            verify(client, "000000")
        # django-otp's own throttle holds the app back after failures: wait it out.
        AuthenticatorApp.objects.filter(pk=device.pk).update(throttling_failure_count=0)
        assert verify(client, code_for(device)).status_code == 302
        client.post(reverse("logout"))
        sign_in(client, operator)
        for _ in range(4):
            verify(client, "000000")
        assert client.session.get("_auth_user_id")  # 4 failures again: not locked

    def test_a_password_alone_completes_the_sign_in_without_a_factor_owed(self, client, viewer):
        for _ in range(3):
            client.post(reverse("login"), {"username": "victor", "password": "wrong"})
        sign_in(client, viewer)
        client.post(reverse("logout"))
        for _ in range(4):
            client.post(reverse("login"), {"username": "victor", "password": "wrong"})
        assert client.post(reverse("login"), {"username": "victor", "password": PASSWORD}).status_code == 302


class TestOwnDevices:
    def _fresh(self, client, user):
        device = AuthenticatorApp.objects.filter(user=user).first() or give_app(user)
        sign_in(client, user)
        assert verify(client, code_for(device)).status_code == 302
        return device

    def test_it_lists_devices_without_secrets(self, client, operator):
        device = self._fresh(client, operator)
        html = client.get(reverse("second_factor")).content.decode()
        assert "phone" in html and device.key not in html

    def test_removing_the_last_app_is_refused_when_the_role_needs_one(self, client, required, operator):
        device = self._fresh(client, operator)
        response = client.post(reverse("second_factor_remove", args=["totp", device.pk]), follow=True)
        assert "your role needs one" in response.content.decode()
        assert AuthenticatorApp.objects.filter(pk=device.pk).exists()

    def test_removing_the_last_app_takes_the_recovery_codes_and_is_audited(self, client, viewer):
        device = self._fresh(client, viewer)
        give_codes(viewer, "abcd2345")
        client.post(reverse("second_factor_remove", args=["totp", device.pk]))
        assert not AuthenticatorApp.objects.filter(user=viewer).exists()
        assert not StaticDevice.objects.filter(user=viewer).exists()
        removed = Operation.objects.get(action=Action.SECOND_FACTOR_REMOVED)
        assert removed.changes["removed"] == ["authenticator app “phone”", "recovery codes"]
        assert client.get("/").status_code == 200

    def test_removal_needs_a_fresh_factor(self, client, viewer):
        device = self._fresh(client, viewer)
        session = client.session
        session[twofactor.SESSION_PASSED_AT] = time.time() - 3600
        session.save()
        response = client.post(reverse("second_factor_remove", args=["totp", device.pk]))
        assert response.status_code == 403
        assert "Nothing was changed" in response.content.decode()
        assert AuthenticatorApp.objects.filter(pk=device.pk).exists()

    def test_nobody_removes_someone_elses_device(self, client, operator, viewer):
        self._fresh(client, operator)
        other = give_app(viewer)
        response = client.post(reverse("second_factor_remove", args=["totp", other.pk]), follow=True)
        assert "no such device" in response.content.decode()
        assert AuthenticatorApp.objects.filter(pk=other.pk).exists()

    def test_new_recovery_codes_replace_the_old_ones(self, client, operator):
        self._fresh(client, operator)
        give_codes(operator, "abcd2345")
        response = client.post(reverse("second_factor_recovery_codes"))
        assert response.status_code == 200
        tokens = list(StaticDevice.objects.get(user=operator).token_set.values_list("token", flat=True))
        assert len(tokens) == twofactor.RECOVERY_CODE_COUNT and "abcd2345" not in tokens
        assert Operation.objects.filter(action=Action.RECOVERY_CODES).count() == 1

    def test_a_session_that_has_not_given_it_cannot_change_devices(self, client, operator):
        give_app(operator)
        sign_in(client, operator)
        for name in ("second_factor", "second_factor_totp"):
            response = client.get(reverse(name))
            assert response["Location"].startswith(reverse("second_factor_verify")), name
        response = client.post(reverse("otp_webauthn:credential-registration-begin"))
        assert response.status_code == 403


class TestPasskeyEndpoints:
    def test_a_failed_passkey_counts_as_a_failed_second_factor(self, client, operator):
        give_app(operator)
        sign_in(client, operator)
        begin = client.post(reverse("otp_webauthn:credential-authentication-begin"))
        assert begin.status_code == 200
        response = client.post(
            reverse("otp_webauthn:credential-authentication-complete"),
            data='{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}',
            content_type="application/json",
        )
        assert response.status_code >= 400
        assert response["Content-Type"].startswith("application/json")
        assert Operation.objects.filter(action=Action.SECOND_FACTOR_FAILED, username="olga").count() == 1
        assert client.get("/").status_code == 302

    def test_anonymous_visitors_get_no_passkey_ceremony(self, client, db):
        response = client.post(reverse("otp_webauthn:credential-authentication-begin"))
        assert response.status_code >= 400

    def test_the_page_offers_passkeys_only_where_a_browser_can_use_them(self, client, viewer):
        sign_in(client, viewer)
        at_ip = client.get(reverse("second_factor"), HTTP_HOST="127.0.0.1:8000").content.decode()
        assert 'id="passkey-needs-name"' in at_ip and "http://localhost:8000/second-factor/" in at_ip
        at_name = client.get(reverse("second_factor"), HTTP_HOST="localhost:8000").content.decode()
        assert 'id="passkey-registration-placeholder"' in at_name


class TestSuperuserReset:
    def test_a_superuser_resets_a_users_devices_and_their_session_stops_counting(
        self, client, django_user_model, required, operator, superuser
    ):
        from django.test import Client

        device = give_app(operator)
        give_codes(operator, "abcd2345")
        theirs = Client()
        sign_in(theirs, operator)
        verify(theirs, code_for(device))
        assert theirs.get("/").status_code == 200

        admin_device = give_app(superuser, "sue's phone")
        sign_in(client, superuser)
        verify(client, code_for(admin_device))
        response = client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "reset_second_factor", "_selected_action": [operator.pk]},
            follow=True,
        )
        assert "Second factor of olga reset" in response.content.decode()
        assert not AuthenticatorApp.objects.filter(user=operator).exists()
        assert not StaticDevice.objects.filter(user=operator).exists()
        reset = Operation.objects.get(action=Action.SECOND_FACTOR_RESET)
        assert reset.username == "sue" and reset.changes["user"] == "olga"
        assert reset.changes["sessions ended"] == 1
        # Their session is gone: enrolling a new device takes the password first (the reset may be because
        # someone else holds their phone, and that session).
        again = theirs.get("/")
        assert again.status_code == 302 and again["Location"].startswith(reverse("login"))
        enrol = theirs.post(reverse("second_factor_totp"), {"name": "thief's phone", "token": "123456"})
        assert enrol.status_code == 302 and enrol["Location"].startswith(reverse("login"))
        assert not AuthenticatorApp.objects.filter(user=operator).exists()
        # The superuser who reset it stays signed in.
        assert client.get(reverse("admin:auth_user_changelist")).status_code == 200

    def test_only_a_superuser_has_the_reset(self, client, key_admin, operator):
        from django.contrib.auth.models import Permission

        key_admin.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
        give_app(operator)
        client.force_login(key_admin)
        response = client.post(
            reverse("admin:auth_user_changelist"),
            {"action": "reset_second_factor", "_selected_action": [operator.pk]},
        )
        assert AuthenticatorApp.objects.filter(user=operator).exists()
        assert response.status_code in (200, 302, 403)

    def test_the_console_resets_too(self, operator):
        from django.core.management import call_command

        give_app(operator)
        from django.test import Client

        theirs = Client()
        theirs.force_login(operator)
        call_command("reset_second_factor", "olga")
        assert not AuthenticatorApp.objects.filter(user=operator).exists()
        assert theirs.get("/")["Location"].startswith(reverse("login"))
        reset = Operation.objects.get(action=Action.SECOND_FACTOR_RESET)
        assert reset.username == "(console)" and reset.changes["user"] == "olga"


class TestAdminSignIn:
    def test_the_admin_signs_in_on_the_dashboards_page(self, client, db):
        response = client.get(reverse("admin:login") + "?next=/admin/")
        assert response.status_code == 200
        html = response.content.decode()
        assert 'id="id_username"' in html and 'action="/login/"' in html and 'value="/admin/"' in html

    def test_the_admin_asks_for_the_second_factor(self, client, key_admin):
        device = give_app(key_admin)
        sign_in(client, key_admin)
        response = client.get(reverse("admin:index"))
        assert response["Location"].startswith(reverse("second_factor_verify"))
        verify(client, code_for(device))
        assert client.get(reverse("admin:index")).status_code == 200

    def test_django_otp_device_admins_are_not_offered(self, client, superuser):
        client.force_login(superuser)
        html = client.get(reverse("admin:index")).content.decode()
        assert "TOTP" not in html and "otp_static" not in html
