"""Raw Binance-style clients for the simulator tests: their own signing, so the simulator is checked against
the wire format itself rather than against our exchange client."""

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from requests.adapters import HTTPAdapter

from simulator import Simulator
from tests.waiting import wait_for

DATA = Path(__file__).resolve().parent.parent / "data" / "binance"
HMAC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
ED25519_PEM = (DATA / "ed25519-test-key.pem").read_text()
RSA_PEM = (DATA / "rsa-test-key.pem").read_text()
KEYS = {"hmac": HMAC_SECRET, "ed25519": ED25519_PEM, "rsa": RSA_PEM}


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def another_key(key_type: str) -> str:
    """Key material of the same type that is not the registered one (an HMAC secret or a private key PEM)."""
    if key_type == "hmac":
        return "another-secret"
    if key_type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = rsa.generate_private_key(65537, 2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def sign(key_type: str, key: str, payload: str) -> str:
    """Binance's signature of `payload`: hex for HMAC, base64 for Ed25519 and RSA (not yet URL-encoded)."""
    if key_type == "hmac":
        return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()
    private = serialization.load_pem_private_key(key.encode(), password=None)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.sign(payload.encode())
    else:
        raw = private.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


class _SourceAddress(HTTPAdapter):
    def __init__(self, source: str):
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


class Trader:
    """One API key talking to the simulator over a keep-alive session, optionally from another local IP."""

    def __init__(self, sim: Simulator, key_type: str = "hmac", *, api_key=None, source: str | None = None):
        self.sim = sim
        self.key_type = key_type
        self.key = KEYS[key_type]
        self.api_key = api_key or secrets.token_hex(32)
        self.session = requests.Session()
        if source:
            self.session.mount("http://", _SourceAddress(source))

    def register(self, **options) -> "Trader":
        material = self.key if self.key_type == "hmac" else public_pem(self.key)
        self.sim.exchange.add_account(self.api_key, self.key_type, material, **options)
        return self

    def public(self, path: str, venue: str = "fapi") -> requests.Response:
        return self.session.get(f"{self.sim.url}/{venue}/v1/{path}", timeout=5)

    def signed(
        self,
        method: str,
        path: str,
        params: dict,
        *,
        where: str = "query",
        venue: str = "fapi",
        timestamp: int | None = None,
        recv_window: int | None = None,
        signature: str | None = None,
        timeout: float = 5,
    ) -> requests.Response:
        """Sends a signed request with the parameters in the query ("query"), a form body ("body") or split
        between them ("split": the first half in the query, the rest and the signature in the body)."""
        params = dict(params)
        if recv_window is not None:
            params["recvWindow"] = recv_window
        params["timestamp"] = int(time.time() * 1000) if timestamp is None else timestamp
        items = list(params.items())
        if where == "query":
            query, body = urlencode(items), ""
        elif where == "body":
            query, body = "", urlencode(items)
        else:
            half = len(items) // 2
            query, body = urlencode(items[:half]), urlencode(items[half:])
        sig = signature if signature is not None else sign(self.key_type, self.key, query + body)
        sig = quote(sig, safe="")
        if body:
            body += f"&signature={sig}"
        else:
            query += f"&signature={sig}"
        url = f"{self.sim.url}/{venue}/v1/{path}" + (f"?{query}" if query else "")
        headers = {"X-MBX-APIKEY": self.api_key}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.session.request(method, url, data=body or None, headers=headers, timeout=timeout)

    def countdown(self, symbol: str, countdown_ms: int, **options) -> requests.Response:
        venue = "dapi" if symbol.endswith("_PERP") else "fapi"
        options.setdefault("venue", venue)
        return self.signed(
            "POST", "countdownCancelAll", {"symbol": symbol, "countdownTime": countdown_ms}, **options
        )


@pytest.fixture
def trader(simulator):
    return Trader(simulator).register()


def wait_until(predicate, timeout: float = 2.0):
    """The first truthy value of `predicate()`, looked at every 5 ms (the countdowns' own precision)."""
    return wait_for(
        predicate, timeout=timeout, every=0.005, message=getattr(predicate, "__name__", "condition")
    )


def start_of_next_minute_skew() -> int:
    """A skew putting the server 1 s into a fresh calendar minute: weight windows will not roll mid-test."""
    now_ms = int(time.time() * 1000)
    return (now_ms // 60_000 + 1) * 60_000 + 1_000 - now_ms
