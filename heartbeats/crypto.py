"""Secrets encrypted at rest with a rotatable list of Fernet keys (settings.ENCRYPTION_KEYS).

The first key encrypts; every key decrypts (MultiFernet). A value that no key can decrypt raises
`SecretDecryptionError` -- never returns the ciphertext as if it were the secret.
"""

import base64
import binascii
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key: the key list is wrong."""


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CG_ENCRYPTION_KEYS is empty: secrets cannot be encrypted or decrypted.")
    try:
        return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "CG_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes)."
        ) from None


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "A stored secret cannot be decrypted with the configured CG_ENCRYPTION_KEYS "
            "(a key was removed or replaced before reencrypt_secrets ran)."
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt a stored token under the first (newest) key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError("A stored secret cannot be decrypted with the configured keys.") from None


def looks_like_token(value: str) -> bool:
    """True for a string shaped like a Fernet token: version byte 0x80, 8-byte time, 16-byte IV, whole AES
    blocks and a 32-byte HMAC. No API key, HMAC secret (64 characters) or PEM key has that shape."""
    if not value.startswith("gAAAAA"):
        return False
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        return False
    return raw[:1] == b"\x80" and len(raw) >= 73 and (len(raw) - 57) % 16 == 0


class EncryptedTextField(models.TextField):
    """A text field stored as Fernet ciphertext. Its serialised form (dumpdata) is the ciphertext.

    In memory the attribute holds the plaintext. Values that arrive as ciphertext (loaddata, a copied row) are
    recognised and decrypted, so they are never encrypted a second time; ciphertext that no configured key
    opens fails loudly instead of being stored as if it were the secret.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def to_python(self, value):
        value = super().to_python(value)
        if value and looks_like_token(value):
            return decrypt(value)
        return value

    def get_prep_value(self, value):
        # TextField.get_prep_value runs to_python first, so ciphertext is decrypted here, never re-wrapped.
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return encrypt(value) if value else value


def encrypted_fields() -> list[tuple]:
    """(model, [names of its encrypted fields]) for every model that has any: exchange accounts' keys, alert
    channels' URLs, authenticator apps' keys (`reencrypt_secrets` and the start-up check read them all)."""
    found = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names and not model._meta.proxy:
            found.append((model, names))
    return found
