"""Second-factor secrets at rest: an authenticator app's key is ciphertext in the database and in dumps (and
re-encrypted by `reencrypt_secrets` with the exchange secrets and channel URLs); recovery codes are stored as
digests. Codes still work: the verify flow is django-otp's own."""

import importlib
import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from heartbeats import crypto, twofactor
from heartbeats.models import AlertChannel, AuthenticatorApp
from heartbeats.twofactor import recovery_digest

pytestmark = pytest.mark.django_db
KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test key, hex


def raw_key(device) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM heartbeats_authenticatorapp WHERE id = %s", [device.pk])
        return cursor.fetchone()[0]


def now_code(device, drift=0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift):06d}"


@pytest.fixture
def olga(django_user_model):
    return django_user_model.objects.create_user("olga", password="a long test password 1")


def test_an_app_key_is_ciphertext_in_the_database_and_in_dumps(olga):
    device = AuthenticatorApp.objects.create(user=olga, name="phone", key=KEY)
    stored = raw_key(device)
    assert crypto.looks_like_token(stored) and KEY not in stored
    out = io.StringIO()
    call_command("dumpdata", "heartbeats.authenticatorapp", stdout=out)
    dumped = json.loads(out.getvalue())[0]["fields"]["key"]
    assert crypto.looks_like_token(dumped) and KEY not in out.getvalue()
    assert AuthenticatorApp.objects.get(pk=device.pk).key == KEY


def test_a_code_from_the_app_still_signs_in_once(olga):
    device = AuthenticatorApp.objects.create(user=olga, name="phone", key=KEY)
    code = now_code(device)
    assert twofactor.match_code(olga, code) == device
    assert crypto.looks_like_token(raw_key(device))  # saved again by the verification, still encrypted
    assert twofactor.match_code(olga, code) is None  # django-otp's rule: a code works once


def test_rotation_re_encrypts_app_keys_and_channel_urls(settings, olga, key_a, key_b):
    settings.ENCRYPTION_KEYS = [key_a]
    device = AuthenticatorApp.objects.create(user=olga, name="phone", key=KEY)
    AlertChannel.objects.create(name="pager", url="json://hooks.example.com/x?token=abc")
    settings.ENCRYPTION_KEYS = [key_b, key_a]
    out = io.StringIO()
    with pytest.raises(Exception, match="reencrypt_secrets"):
        call_command("reencrypt_secrets", "--check", stdout=out)
    assert "2 stored secret(s) not under the newest key" in out.getvalue()
    out = io.StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "1 alert channel(s)" in out.getvalue() and "1 authenticator app(s)" in out.getvalue()
    settings.ENCRYPTION_KEYS = [key_b]
    assert twofactor.match_code(olga, now_code(AuthenticatorApp.objects.get(pk=device.pk))) == device
    assert AlertChannel.objects.get().url == "json://hooks.example.com/x?token=abc"


def test_recovery_codes_are_stored_as_digests_and_still_work(olga):
    AuthenticatorApp.objects.create(user=olga, name="phone", key=KEY)
    device = StaticDevice.objects.create(user=olga, name="Recovery codes", confirmed=True)
    twofactor.store_recovery_code(device, "abcd-efgh-ijkl-mnop")
    (stored,) = device.token_set.values_list("token", flat=True)
    assert stored == recovery_digest(device.pk, "abcdefghijklmnop") and stored != "abcdefghijklmnop"
    # What is stored is no code: typing it gets nowhere.
    assert twofactor.match_code(olga, stored) is None
    StaticDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)  # django-otp's wait after it
    assert twofactor.match_code(olga, "ABCD EFGH IJKL MNOP") == device
    assert not device.token_set.exists()


def test_the_migration_moves_apps_and_digests_codes(olga):
    migration = importlib.import_module("heartbeats.migrations.0016_second_factor_secrets_at_rest")
    old_app = TOTPDevice.objects.create(user=olga, name="old phone", key=KEY, confirmed=True, last_t=7)
    device = StaticDevice.objects.create(user=olga, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=device, token="abcd2345")
    migration.encrypt_app_keys(apps, None)
    migration.digest_recovery_codes(apps, None)
    migration.digest_recovery_codes(apps, None)  # twice: digests are left alone
    assert not TOTPDevice.objects.exists()
    moved = AuthenticatorApp.objects.get(user=olga)
    assert (moved.name, moved.key, moved.last_t, moved.created_at) == (
        "old phone",
        KEY,
        7,
        old_app.created_at,
    )
    assert crypto.looks_like_token(raw_key(moved))
    assert twofactor.match_code(olga, "abcd2345") == device
