"""Kraken Futures' per-key rules, kept by the exchange: its signature check, its nonce rule and its cost
budget. The paths themselves are in kraken.py.

Facts and where they come from (docs.kraken.com, "Futures REST" guide and "Futures Rate Limits" guide; the
support article "Request Limits (REST API)"):

- Authent = base64(HMAC-SHA512(base64-decoded secret, SHA-256(postData + Nonce + endpointPath))), where
  endpointPath is the path without "/derivatives" ("Example: /api/v3/orderbook"; python-kraken-sdk's
  `_get_kraken_futures_signature` strips "/derivatives", ccxt's krakenfutures `sign` hashes "/api/v3/...").
  postData is the url-encoded parameters exactly as sent: the guide's "Upcoming Changes" say the decoded
  form is accepted only until 2025-10-01, so only the encoded form is accepted here.
- The Nonce header is optional ("Nonce is not required"; ccxt's krakenfutures sends none). When it is sent:
  "Our system tolerates nonces that are out of order for a brief period of time", and the error list names
  `nonceBelowThreshold` ("The provided nonce is below the threshold") and `nonceDuplicate` ("has been used in
  a previous request"). Kraken publishes no figure for the brief period: here a nonce lower than the highest
  accepted one is accepted until `nonce_tolerance` seconds after that highest one was accepted (assumption;
  settable through the control API), and refused with nonceBelowThreshold afterwards.
- Cost budget: "clients have a pool of up to 500 that continually replenishes at a rate of 500 every 10
  seconds"; costs per endpoint from the same table (cancelallordersafter 25, cancelallorders 25, openorders
  2, sendorder 10, accounts 2); public endpoints cost nothing. Exceeding it answers
  {"result": "error", "error": "apiLimitExceeded"}. Counted per API key here (the budget belongs to the
  authenticated client; Kraken's error text speaks of "the calling IP address": assumption).
"""

import base64
import binascii
import hashlib
import hmac
import threading
from collections import deque

from .keys import KeyMaterialError

KEY_TYPE = "kraken_futures"
BUDGET = 500
BUDGET_WINDOW_S = 10.0
DEFAULT_NONCE_TOLERANCE_S = 1.0


class KrakenVerifier:
    """Kraken Futures' Authent check for one key. Holds the decoded secret and never shows it."""

    key_type = KEY_TYPE

    def __init__(self, secret_base64: str):
        if not isinstance(secret_base64, str) or not secret_base64.strip():
            raise KeyMaterialError("empty Kraken Futures secret")
        try:
            self._secret = base64.b64decode(secret_base64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyMaterialError("a Kraken Futures secret is base64") from None
        if not self._secret:
            raise KeyMaterialError("empty Kraken Futures secret")

    def authent(self, post_data: str, nonce: str, endpoint_path: str) -> str:
        digest = hashlib.sha256((post_data + nonce + endpoint_path).encode("utf-8", "replace")).digest()
        return base64.b64encode(hmac.new(self._secret, digest, hashlib.sha512).digest()).decode()

    def verify_kraken(self, post_data: str, nonce: str, endpoint_path: str, authent: str) -> bool:
        expected = self.authent(post_data, nonce, endpoint_path)
        return hmac.compare_digest(expected.encode(), authent.strip().encode("utf-8", "replace"))

    def verify(self, payload: bytes, signature: str) -> bool:
        return False  # a Kraken key signs nothing on Binance's paths

    def __repr__(self) -> str:
        return "<KrakenVerifier>"


class _KeyState:
    __slots__ = ("accepted", "highest", "highest_at", "tokens", "tokens_at")

    def __init__(self, now: float):
        self.highest: int | None = None
        self.highest_at = 0.0
        self.accepted: deque[tuple[float, int]] = deque()  # (accepted at, nonce), for duplicates
        self.tokens = float(BUDGET)
        self.tokens_at = now


class KrakenLimits:
    """Nonces and cost budgets per API key. Thread-safe."""

    def __init__(self, nonce_tolerance: float = DEFAULT_NONCE_TOLERANCE_S):
        self.default_nonce_tolerance = nonce_tolerance
        self.nonce_tolerance = nonce_tolerance
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyState] = {}

    def check_nonce(self, api_key: str, nonce: int, now: float) -> str | None:
        """Accepts `nonce` (and remembers it) or returns Kraken's error name for it."""
        with self._lock:
            state = self._state(api_key, now)
            keep = max(self.nonce_tolerance, 0.0)
            while state.accepted and state.accepted[0][0] < now - keep:
                state.accepted.popleft()  # older ones are below the threshold now, or the highest
            if nonce == state.highest or any(n == nonce for _, n in state.accepted):
                return "nonceDuplicate"
            if state.highest is not None and nonce < state.highest and now - state.highest_at > keep:
                return "nonceBelowThreshold"
            state.accepted.append((now, nonce))
            if state.highest is None or nonce > state.highest:
                state.highest, state.highest_at = nonce, now
            return None

    def charge(self, api_key: str, cost: int, now: float) -> tuple[bool, int]:
        """Takes `cost` from the key's pool if it holds that much; returns (taken, pool spent after)."""
        with self._lock:
            state = self._state(api_key, now)
            state.tokens = min(BUDGET, state.tokens + (now - state.tokens_at) * BUDGET / BUDGET_WINDOW_S)
            state.tokens_at = now
            if cost > state.tokens + 1e-9:
                return False, round(BUDGET - state.tokens)
            state.tokens -= cost
            return True, round(BUDGET - state.tokens)

    def reset(self) -> None:
        with self._lock:
            self._keys.clear()
        self.nonce_tolerance = self.default_nonce_tolerance

    def _state(self, api_key: str, now: float) -> _KeyState:
        state = self._keys.get(api_key)
        if state is None:
            state = self._keys[api_key] = _KeyState(now)
        return state
