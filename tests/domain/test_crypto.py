"""Secrets at rest: ciphertext in the database and in dumps, loud failure on a wrong key, rotation."""

import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from heartbeats import crypto
from heartbeats.crypto import SecretDecryptionError
from heartbeats.models import ExchangeAccount

from .conftest import RSA_PEM, make_account

pytestmark = pytest.mark.django_db


def raw_columns(account):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, secret, key_passphrase FROM heartbeats_exchangeaccount WHERE id = %s",
            [account.pk],
        )
        return cursor.fetchone()


def test_it_stores_only_ciphertext_and_reads_back_plaintext(settings, key_a):
    settings.ENCRYPTION_KEYS = [key_a]
    account = make_account(key_type="rsa", secret=RSA_PEM, key_passphrase="hunter22")
    stored = raw_columns(account)
    for column, plain in zip(stored, (account.api_key, RSA_PEM, "hunter22"), strict=True):
        assert plain not in column
        assert crypto.looks_like_token(column)
    fresh = ExchangeAccount.objects.get(pk=account.pk)
    assert (fresh.api_key, fresh.secret, fresh.key_passphrase) == (account.api_key, RSA_PEM, "hunter22")
    assert fresh.api_key_last4 == account.api_key[-4:]


def test_it_refuses_to_read_secrets_with_a_wrong_key(settings, key_a, key_b):
    settings.ENCRYPTION_KEYS = [key_a]
    account = make_account()
    settings.ENCRYPTION_KEYS = [key_b]
    with pytest.raises(SecretDecryptionError) as caught:
        ExchangeAccount.objects.get(pk=account.pk)
    assert account.secret not in str(caught.value)


def test_it_rotates_keys_end_to_end(settings, key_a, key_b):
    settings.ENCRYPTION_KEYS = [key_a]
    account = make_account(key_type="rsa", secret=RSA_PEM, key_passphrase="hunter22")
    before = raw_columns(account)

    settings.ENCRYPTION_KEYS = [key_b, key_a]
    assert ExchangeAccount.objects.get(pk=account.pk).secret == RSA_PEM
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("reencrypt_secrets", "--check", stdout=out)
    assert "3 stored secret(s) not under the newest key" in out.getvalue()

    out = io.StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "Re-encrypted 3 secret(s) of 1 exchange account(s) under the newest key" in out.getvalue()
    after = raw_columns(account)
    assert all(old != new for old, new in zip(before, after, strict=True))
    call_command("reencrypt_secrets", "--check", stdout=io.StringIO())

    settings.ENCRYPTION_KEYS = [key_b]
    fresh = ExchangeAccount.objects.get(pk=account.pk)
    assert (fresh.api_key, fresh.secret, fresh.key_passphrase) == (account.api_key, RSA_PEM, "hunter22")

    settings.ENCRYPTION_KEYS = [key_a]
    with pytest.raises(SecretDecryptionError):
        ExchangeAccount.objects.get(pk=account.pk)


def test_it_reencrypts_nothing_when_one_secret_cannot_be_read(settings, key_a, key_b):
    settings.ENCRYPTION_KEYS = [key_a]
    readable = make_account("readable")
    settings.ENCRYPTION_KEYS = [key_b]
    make_account("lost")
    before = raw_columns(readable)
    settings.ENCRYPTION_KEYS = [crypto.Fernet.generate_key().decode(), key_a]
    with pytest.raises(CommandError, match="'lost'"):
        call_command("reencrypt_secrets", stdout=io.StringIO())
    assert raw_columns(readable) == before


def test_it_fails_loudly_without_a_usable_key(settings):
    settings.ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="empty"):
        crypto.encrypt("x")
    settings.ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        crypto.decrypt("gAAAAA")


def test_it_dumps_only_ciphertext(settings, key_a):
    settings.ENCRYPTION_KEYS = [key_a]
    account = make_account(key_type="rsa", secret=RSA_PEM, key_passphrase="hunter22")
    old_key = account.api_key
    account.api_key, account.label = "R" * 60 + "1234", "renamed"  # a rotation is audited too
    account.save()
    out = io.StringIO()
    call_command("dumpdata", stdout=out)  # every app: the audit trail, sessions, queue...
    dump = out.getvalue()
    for secret in (old_key, account.api_key, "hunter22", "PRIVATE KEY", RSA_PEM.splitlines()[1]):
        assert secret not in dump
    fields = next(o for o in json.loads(dump) if o["model"] == "heartbeats.exchangeaccount")["fields"]
    assert crypto.decrypt(fields["secret"]) == RSA_PEM
    assert crypto.decrypt(fields["api_key"]) == account.api_key


def test_it_loads_a_dump_without_encrypting_twice(settings, key_a, tmp_path):
    settings.ENCRYPTION_KEYS = [key_a]
    account = make_account(key_passphrase="hunter22")
    dump = tmp_path / "accounts.json"
    call_command("dumpdata", "heartbeats.exchangeaccount", output=str(dump))
    ExchangeAccount.objects.all().delete()

    call_command("loaddata", str(dump), stdout=io.StringIO())
    loaded = ExchangeAccount.objects.get(pk=account.pk)
    assert (loaded.api_key, loaded.secret, loaded.key_passphrase) == (
        account.api_key,
        account.secret,
        "hunter22",
    )
    assert crypto.decrypt(raw_columns(loaded)[1]) == account.secret


def test_it_refuses_to_load_a_dump_made_under_other_keys(settings, key_a, key_b, tmp_path):
    settings.ENCRYPTION_KEYS = [key_a]
    make_account()
    dump = tmp_path / "accounts.json"
    call_command("dumpdata", "heartbeats.exchangeaccount", output=str(dump))
    ExchangeAccount.objects.all().delete()

    settings.ENCRYPTION_KEYS = [key_b]
    with pytest.raises(Exception) as caught:
        call_command("loaddata", str(dump), stdout=io.StringIO())
    assert isinstance(caught.value, SecretDecryptionError) or isinstance(
        caught.value.__cause__ or caught.value.__context__, SecretDecryptionError
    )
    assert not ExchangeAccount.objects.exists()
