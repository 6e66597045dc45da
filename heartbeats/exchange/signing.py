"""Request signing for Binance's three API key types, as pure functions of (key, payload).

The payload is exactly what is sent: the query string followed by the body, concatenated with no '&'.
HMAC-SHA256 signatures are hex; Ed25519 and RSA (PKCS#1 v1.5, SHA-256) signatures are base64, which the
client URL-encodes when it appends them as the last parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519

from heartbeats.exchange.errors import InvalidKeyError

KEY_TYPES = ("hmac", "ed25519", "rsa")
_KEY_NAMES = {"hmac": "HMAC", "ed25519": "Ed25519", "rsa": "RSA"}
# Below this the key is weak; Binance itself asks for 2048 bits.
_MIN_RSA_BITS = 2048


class Signer:
    """Signs payloads with one key. Holds the key privately and never shows it (repr included)."""

    key_type: str = ""

    def sign(self, payload: str) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}>"

    def __reduce__(self):
        raise TypeError("Signers hold key material and are not picklable.")


class HmacSigner(Signer):
    key_type = "hmac"

    def __init__(self, secret: str):
        self._secret = secret.encode()

    def sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()


class Ed25519Signer(Signer):
    key_type = "ed25519"

    def __init__(self, key: ed25519.Ed25519PrivateKey):
        self._key = key

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode())).decode()


class RsaSigner(Signer):
    key_type = "rsa"

    def __init__(self, key: rsa.RSAPrivateKey):
        self._key = key

    def sign(self, payload: str) -> str:
        signature = self._key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()


def load_signer(key_type: str, secret: str, passphrase: str | None = None) -> Signer:
    """A signer for `key_type` ("hmac", "ed25519" or "rsa"). `secret` is the HMAC secret or the PEM private
    key (PKCS#8, optionally encrypted with `passphrase`). Raises InvalidKeyError with a message fit to show a
    key admin; the message never contains key material."""
    if key_type not in KEY_TYPES:
        raise InvalidKeyError(f"Unknown key type {key_type!r}: expected one of {', '.join(KEY_TYPES)}.")
    if not isinstance(secret, str) or not secret.strip():
        what = "secret" if key_type == "hmac" else "private key"
        raise InvalidKeyError(f"The {_KEY_NAMES[key_type]} {what} is empty.")
    if key_type == "hmac":
        return _hmac_signer(secret)
    key = _load_private_key(secret, passphrase or None, _KEY_NAMES[key_type])
    if key_type == "ed25519":
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise InvalidKeyError(f"This is {_describe(key)}, not an Ed25519 private key.")
        return Ed25519Signer(key)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidKeyError(f"This is {_describe(key)}, not an RSA private key.")
    if key.key_size < _MIN_RSA_BITS:
        raise InvalidKeyError(f"The RSA key has {key.key_size} bits; at least {_MIN_RSA_BITS} are required.")
    return RsaSigner(key)


def _hmac_signer(secret: str) -> HmacSigner:
    secret = secret.strip()
    if "-----BEGIN" in secret:
        raise InvalidKeyError("This is a PEM key, not an HMAC secret: choose the Ed25519 or RSA key type.")
    if any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise InvalidKeyError("The HMAC secret contains spaces or control characters.")
    return HmacSigner(secret)


def _load_private_key(pem: str, passphrase: str | None, name: str):
    data = pem.strip().encode()
    if b"-----BEGIN" not in data:
        raise InvalidKeyError(f"The {name} private key must be in PEM format (-----BEGIN PRIVATE KEY-----).")
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise InvalidKeyError(
            f"This is a public key. Paste the {name} private key; the public key goes to the exchange."
        )
    if b"OPENSSH PRIVATE KEY" in data:
        raise InvalidKeyError(f"This is an OpenSSH key; export the {name} private key as PKCS#8 PEM.")
    encrypted = b"ENCRYPTED" in data
    if encrypted and passphrase is None:
        raise InvalidKeyError(f"The {name} private key is encrypted: its passphrase is required.")
    password = passphrase.encode() if passphrase is not None and encrypted else None
    # cryptography's messages carry no key material, but they are not for key admins either: each failure
    # becomes a sentence of our own and the original is dropped (from None).
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise InvalidKeyError(f"The {name} private key is encrypted: its passphrase is required.") from None
    except ValueError:
        if encrypted:
            raise InvalidKeyError(f"Could not decrypt the {name} private key: wrong passphrase?") from None
        raise InvalidKeyError(f"The {name} private key is not a valid PEM private key.") from None
    except UnsupportedAlgorithm:
        raise InvalidKeyError(f"The {name} private key uses an unsupported algorithm.") from None


def _describe(key) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "an RSA private key"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "an Ed25519 private key"
    names = {
        ec.EllipticCurvePrivateKey: "an elliptic-curve (ECDSA) private key",
        dsa.DSAPrivateKey: "a DSA private key",
        ed448.Ed448PrivateKey: "an Ed448 private key",
        x25519.X25519PrivateKey: "an X25519 private key",
    }
    return next((text for cls, text in names.items() if isinstance(key, cls)), "another kind of private key")
