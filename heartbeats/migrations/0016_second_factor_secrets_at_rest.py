# Second-factor secrets at rest: authenticator apps move from django-otp's TOTPDevice (key in clear) to
# AuthenticatorApp (key encrypted under CG_ENCRYPTION_KEYS), and stored recovery codes become digests.
# Sessions verified with a moved app give their factor again at their next step-up.

import hashlib
from base64 import b32encode

import django.db.models.deletion
import heartbeats.crypto
import heartbeats.models.devices
from django.conf import settings
from django.db import migrations, models

COPIED = [
    "user_id", "name", "confirmed", "throttling_failure_timestamp", "throttling_failure_count", "last_used_at",
    "key", "step", "t0", "digits", "tolerance", "drift", "last_t",
]


def encrypt_app_keys(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    AuthenticatorApp = apps.get_model("heartbeats", "AuthenticatorApp")
    for old in TOTPDevice.objects.order_by("pk"):
        new = AuthenticatorApp.objects.create(**{f: getattr(old, f) for f in COPIED})
        AuthenticatorApp.objects.filter(pk=new.pk).update(created_at=old.created_at)
        old.delete()


def decrypt_app_keys(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    AuthenticatorApp = apps.get_model("heartbeats", "AuthenticatorApp")
    for new in AuthenticatorApp.objects.order_by("pk"):
        old = TOTPDevice.objects.create(**{f: getattr(new, f) for f in COPIED})
        TOTPDevice.objects.filter(pk=old.pk).update(created_at=new.created_at)
        new.delete()


def digest(device_pk, code):
    # heartbeats.twofactor.recovery_digest as of this migration.
    salt = f"countdown-guard recovery code {device_pk}".encode()
    raw = hashlib.pbkdf2_hmac("sha256", code.encode(), salt, 50_000)
    return b32encode(raw).decode().lower()[:16]


def digest_recovery_codes(apps, schema_editor):
    StaticToken = apps.get_model("otp_static", "StaticToken")
    # django-otp's codes are 8 characters; a digest is 16.
    for token in StaticToken.objects.exclude(token__regex=r"^[a-z2-7]{16}$"):
        code = "".join(token.token.split()).replace("-", "").lower()
        StaticToken.objects.filter(pk=token.pk).update(token=digest(token.device_id, code))


class Migration(migrations.Migration):

    dependencies = [
        ('heartbeats', '0015_plain_text_names'),
        ('otp_totp', '0003_add_timestamps'),
        ('otp_static', '0003_add_timestamps'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuthenticatorApp',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text='The human-readable name of this device.', max_length=64)),
                ('confirmed', models.BooleanField(default=True, help_text='Is this device ready for use?')),
                ('throttling_failure_timestamp', models.DateTimeField(blank=True, default=None, help_text='A timestamp of the last failed verification attempt. Null if last attempt succeeded.', null=True)),
                ('throttling_failure_count', models.PositiveIntegerField(default=0, help_text='Number of successive failed attempts.')),
                ('created_at', models.DateTimeField(auto_now_add=True, help_text='The date and time when this device was initially created in the system.', null=True)),
                ('last_used_at', models.DateTimeField(blank=True, help_text='The most recent date and time this device was used.', null=True)),
                ('key', heartbeats.crypto.EncryptedTextField(default=heartbeats.models.devices.new_app_key, help_text='The secret key, hex-encoded (encrypted at rest).')),
                ('step', models.PositiveSmallIntegerField(default=30, help_text='The time step in seconds.')),
                ('t0', models.BigIntegerField(default=0, help_text='The Unix time at which to begin counting steps.')),
                ('digits', models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)),
                ('tolerance', models.PositiveSmallIntegerField(default=1, help_text='The number of time steps in the past or future to allow.')),
                ('drift', models.SmallIntegerField(default=0, help_text='The number of time steps the app is known to deviate from our clock.')),
                ('last_t', models.BigIntegerField(default=-1, help_text='The time step of the last code accepted: the next must be later.')),
                ('user', models.ForeignKey(help_text='The user that this device belongs to.', on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'authenticator app',
                'abstract': False,
            },
        ),
        migrations.RunPython(encrypt_app_keys, decrypt_app_keys),
        # A digest cannot be turned back into the code: going back leaves the digests (codes then fail).
        migrations.RunPython(digest_recovery_codes, migrations.RunPython.noop),
    ]
