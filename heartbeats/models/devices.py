"""Authenticator apps with their keys encrypted at rest.

django-otp's TOTPDevice keeps the seed every code is computed from in clear, so a copy of the database (a
backup, a dump) would let anyone make codes. `AuthenticatorApp` is the same device with its key encrypted
under CG_ENCRYPTION_KEYS like exchange secrets (heartbeats.crypto; re-encrypted by `reencrypt_secrets`).
Verification is django-otp's own -- the methods are TOTPDevice's -- so throttling, drift and the rule that a
code works once behave exactly as before. (Recovery codes are stored as digests: heartbeats.twofactor.)
"""

from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from heartbeats.crypto import EncryptedTextField


def new_app_key() -> str:
    """20 random bytes, hex-encoded: django-otp's default for a TOTP key."""
    return random_hex(20)


class AuthenticatorApp(TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app (TOTP) whose key is encrypted at rest. Fields as django-otp's TOTPDevice."""

    key = EncryptedTextField(
        default=new_app_key, help_text="The secret key, hex-encoded (encrypted at rest)."
    )
    step = models.PositiveSmallIntegerField(default=30, help_text="The time step in seconds.")
    t0 = models.BigIntegerField(default=0, help_text="The Unix time at which to begin counting steps.")
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    tolerance = models.PositiveSmallIntegerField(
        default=1, help_text="The number of time steps in the past or future to allow."
    )
    drift = models.SmallIntegerField(
        default=0, help_text="The number of time steps the app is known to deviate from our clock."
    )
    last_t = models.BigIntegerField(
        default=-1, help_text="The time step of the last code accepted: the next must be later."
    )

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    # django-otp's TOTP logic, unchanged: it reads the fields above (the key decrypted in memory).
    bin_key = TOTPDevice.bin_key
    verify_token = TOTPDevice.verify_token
    get_throttle_factor = TOTPDevice.get_throttle_factor
    config_url = TOTPDevice.config_url
    _read_str_from_settings = TOTPDevice._read_str_from_settings
