"""Signing against Binance's published vectors, and refusal of unusable key material."""

import json
import pickle
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from heartbeats.exchange.errors import FatalError, InvalidKeyError
from heartbeats.exchange.signing import load_signer

DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
VECTORS = json.loads((DATA / "signing-vectors.json").read_text())
RSA_PEM = (DATA / "rsa-test-key.pem").read_text()
RSA_ENCRYPTED_PEM = (DATA / "rsa-encrypted-test-key.pem").read_text()
ED25519_PEM = (DATA / "ed25519-test-key.pem").read_text()


def _pem(key, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


@pytest.mark.parametrize("vector", VECTORS["hmac_sha256_hex"], ids=lambda v: v["source"][:40])
def test_it_signs_every_hmac_vector(vector):
    signer = load_signer("hmac", vector["secret"])
    assert signer.key_type == "hmac"
    assert signer.sign(vector["payload"]) == vector["signature"]


def test_it_signs_query_and_body_concatenated_without_ampersand():
    vector = next(v for v in VECTORS["hmac_sha256_hex"] if "body" in v)
    signer = load_signer("hmac", vector["secret"])
    assert vector["query"] + vector["body"] == vector["payload"]
    assert signer.sign(vector["query"] + vector["body"]) == vector["signature"]
    assert signer.sign(vector["query"] + "&" + vector["body"]) != vector["signature"]


@pytest.mark.parametrize(
    ("pem", "passphrase"), [(RSA_PEM, None), (RSA_ENCRYPTED_PEM, "password")], ids=["plain", "encrypted"]
)
@pytest.mark.parametrize("vector", VECTORS["rsa_pkcs1v15_sha256_base64"], ids=lambda v: v["source"][:40])
def test_it_signs_every_rsa_vector_with_plain_and_encrypted_pem(vector, pem, passphrase):
    signer = load_signer("rsa", pem, passphrase)
    assert signer.key_type == "rsa"
    assert signer.sign(vector["payload"]) == vector["signature"]


@pytest.mark.parametrize("vector", VECTORS["ed25519_base64"], ids=lambda v: v["source"][:40])
def test_it_signs_every_ed25519_vector(vector):
    signer = load_signer("ed25519", ED25519_PEM)
    assert signer.key_type == "ed25519"
    assert signer.sign(vector["payload"]) == vector["signature"]


def test_it_accepts_surrounding_whitespace_and_an_empty_passphrase():
    vector = VECTORS["ed25519_base64"][0]
    assert load_signer("ed25519", f"\n  {ED25519_PEM}\n", "").sign(vector["payload"]) == vector["signature"]
    hmac_vector = VECTORS["hmac_sha256_hex"][0]
    signer = load_signer("hmac", hmac_vector["secret"] + "\n")
    assert signer.sign(hmac_vector["payload"]) == hmac_vector["signature"]


def _refusal(key_type, secret, passphrase=None) -> InvalidKeyError:
    with pytest.raises(InvalidKeyError) as caught:
        load_signer(key_type, secret, passphrase)
    return caught.value


SECRET_FRAGMENTS = [
    RSA_PEM.splitlines()[1][:24],
    RSA_ENCRYPTED_PEM.splitlines()[1][:24],
    ED25519_PEM.splitlines()[1][:24],
    "password",
    VECTORS["hmac_sha256_hex"][0]["secret"][:16],
]


@pytest.mark.parametrize(
    ("key_type", "secret", "passphrase", "expected"),
    [
        ("hmac", "", None, "empty"),
        ("hmac", "   \n", None, "empty"),
        ("ed25519", "", None, "empty"),
        ("rsa", None, None, "empty"),
        ("hmac", RSA_PEM, None, "PEM key, not an HMAC secret"),
        ("hmac", "2b5eb11e 18796d12", None, "spaces"),
        ("ed25519", RSA_PEM, None, "an RSA private key, not an Ed25519"),
        ("rsa", ED25519_PEM, None, "an Ed25519 private key, not an RSA"),
        ("ed25519", "2b5eb11e18796d12d88f13dc27dbbd02", None, "PEM format"),
        ("ed25519", ED25519_PEM.replace("MC4CAQAw", "MC4CAQAx"), None, "not a valid PEM private key"),
        ("rsa", RSA_PEM[:400] + "\n-----END PRIVATE KEY-----", None, "not a valid PEM private key"),
        ("rsa", RSA_ENCRYPTED_PEM, None, "passphrase is required"),
        ("rsa", RSA_ENCRYPTED_PEM, "wrong-password", "wrong passphrase"),
        ("dsa", "whatever", None, "Unknown key type"),
    ],
)
def test_it_refuses_unusable_keys_clearly_without_echoing_them(key_type, secret, passphrase, expected):
    error = _refusal(key_type, secret, passphrase)
    assert expected in str(error)
    assert isinstance(error, FatalError) and isinstance(error, ValueError)
    assert error.__cause__ is None
    for fragment in SECRET_FRAGMENTS:
        assert fragment not in str(error) and fragment not in repr(error)


def test_it_refuses_public_keys_and_other_key_kinds():
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert "public key" in str(_refusal("ed25519", public_pem))
    ec_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    assert "elliptic-curve" in str(_refusal("ed25519", ec_pem))
    small_rsa = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert "1024 bits" in str(_refusal("rsa", small_rsa))


def test_it_signs_with_a_freshly_encrypted_ed25519_key():
    key = ed25519.Ed25519PrivateKey.generate()
    signer = load_signer("ed25519", _pem(key, b"s3cret-phrase"), "s3cret-phrase")
    signature = signer.sign("symbol=BTCUSDT&timestamp=1")
    import base64

    key.public_key().verify(base64.b64decode(signature), b"symbol=BTCUSDT&timestamp=1")


def test_it_never_shows_key_material_in_a_signers_repr_or_pickle():
    hmac_secret = VECTORS["hmac_sha256_hex"][0]["secret"]
    for signer in (
        load_signer("hmac", hmac_secret),
        load_signer("rsa", RSA_PEM),
        load_signer("ed25519", ED25519_PEM),
    ):
        assert hmac_secret not in repr(signer) and "PRIVATE" not in repr(signer)
        with pytest.raises(TypeError):
            pickle.dumps(signer)
