"""Clients wired to the simulator with each key type, and helpers to see everything a client let out."""

import secrets
from pathlib import Path

import pytest

from heartbeats.exchange.client import FuturesClient
from heartbeats.exchange.signing import load_signer
from tests.ports import free_port

DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
HMAC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
RSA_PEM = (DATA / "rsa-test-key.pem").read_text()
RSA_ENCRYPTED_PEM = (DATA / "rsa-encrypted-test-key.pem").read_text()
ED25519_PEM = (DATA / "ed25519-test-key.pem").read_text()

# key variant -> (key type, what the client holds, its passphrase, what the exchange holds)
KEYS = {
    "hmac": ("hmac", HMAC_SECRET, None, HMAC_SECRET),
    "ed25519": ("ed25519", ED25519_PEM, None, ED25519_PEM),
    "rsa": ("rsa", RSA_PEM, None, RSA_PEM),
    "rsa-encrypted": ("rsa", RSA_ENCRYPTED_PEM, "password", RSA_PEM),
}


class RecordingSigner:
    """A real signer that remembers every signature it made, so tests can look for them where they must
    not be."""

    def __init__(self, signer):
        self._signer = signer
        self.key_type = signer.key_type
        self.signatures: list[str] = []

    def sign(self, payload: str) -> str:
        signature = self._signer.sign(payload)
        self.signatures.append(signature)
        return signature


@pytest.fixture
def make_client(simulator):
    """make_client(key="hmac", venue="usdm", register=True, **client_options) -> FuturesClient with a fresh
    API key known to the simulator. The client's `.api_key_for_tests` and `.signer_for_tests` are exposed."""
    clients = []

    def make(key="hmac", venue="usdm", *, register=True, base_url=None, ip_whitelist=None, **options):
        key_type, secret, passphrase, exchange_material = KEYS[key]
        api_key = secrets.token_hex(32)
        if register:
            simulator.exchange.add_account(api_key, key_type, exchange_material, ip_whitelist=ip_whitelist)
        signer = RecordingSigner(load_signer(key_type, secret, passphrase))
        options.setdefault("connect_timeout", 1.0)
        options.setdefault("read_timeout", 2.0)
        client = FuturesClient(base_url or simulator.url, venue, api_key, signer, **options)
        client.api_key_for_tests = api_key
        client.signer_for_tests = signer
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (connection refused)."""
    return free_port()
