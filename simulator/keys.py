"""API keys as the exchange holds them, and the check of a request's signature against one.

The exchange keeps the HMAC secret, or only the public half of an Ed25519/RSA key pair. A private key PEM is
accepted for convenience (demo key files hold what the dashboard holds) and reduced to its public key.
"""

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

KEY_TYPES = ("hmac", "ed25519", "rsa")


class KeyMaterialError(ValueError):
    """The key given for an account is unusable; the message never contains the key."""


class Verifier:
    """Checks `signature` (as decoded from the wire) over `payload` (the exact signed bytes)."""

    def __init__(self, key_type: str, material: str, passphrase: str | None = None):
        if key_type not in KEY_TYPES:
            raise KeyMaterialError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")
        if not material or not material.strip():
            raise KeyMaterialError("empty key material")
        self.key_type = key_type
        if key_type == "hmac":
            self._secret = material.encode()
            self._public = None
        else:
            self._secret = None
            self._public = _public_key(key_type, material, passphrase)

    def verify(self, payload: bytes, signature: str) -> bool:
        if self.key_type == "hmac":
            expected = hmac.new(self._secret, payload, hashlib.sha256).hexdigest().encode()
            return hmac.compare_digest(expected, signature.lower().encode("utf-8", "replace"))
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        try:
            if self.key_type == "ed25519":
                self._public.verify(raw, payload)
            else:
                self._public.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True


def _public_key(key_type: str, pem: str, passphrase: str | None):
    data = pem.strip().encode()
    if b"PRIVATE KEY" in data:
        try:
            private = serialization.load_pem_private_key(
                data, password=passphrase.encode() if passphrase else None
            )
        except (ValueError, TypeError) as exc:
            raise KeyMaterialError(
                f"cannot load the {key_type} private key (wrong format or passphrase)"
            ) from exc
        public = private.public_key()
    else:
        try:
            public = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise KeyMaterialError(
                f"cannot load the {key_type} public key (expected a PEM public key)"
            ) from exc
    wanted = ed25519.Ed25519PublicKey if key_type == "ed25519" else rsa.RSAPublicKey
    if not isinstance(public, wanted):
        raise KeyMaterialError(f"the PEM key is not an {key_type} key")
    return public
