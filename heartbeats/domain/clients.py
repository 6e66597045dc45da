"""From a stored exchange account to a working exchange client (the one factory: `client_for`, and
`shared_client` for the client a process keeps per account), and the key check run when one is saved.

`check_key` turns the exchange's answer into a sentence a key admin can act on. It never puts the API key,
the secret or a signed request into a message.
"""

import threading

from heartbeats.domain import ratelimits
from heartbeats.domain.validation import VENUE_NAMES, exchange_url_refusal
from heartbeats.exchange import errors, venues
from heartbeats.exchange.client import BinanceClient
from heartbeats.exchange.factory import make_client, make_signer
from heartbeats.exchange.redact import redact
from heartbeats.formats.durations import duration
from heartbeats.models import CountdownPolicy, KeyType
from heartbeats.models.policies import switch_label


class KeyCheckFailed(Exception):
    """The key did not pass the check; str() is the user-facing reason (no secrets)."""

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.code = code


def signer_for(account):
    """The request signer for the account's decrypted secret. Raises InvalidKeyError for a bad key."""
    return make_signer(account.venue, account.key_type, account.secret, account.key_passphrase or None)


def client_for(account, **kw):
    """The venue's client for the account (decrypted key, signer, base URL; exchange.factory); `kw` go to
    the client."""
    return make_client(
        account.base_url, account.venue, api_key=account.api_key, signer=signer_for(account), **kw
    )


_kept: dict[int, tuple[tuple, BinanceClient]] = {}  # account id -> (version, client)
_kept_lock = threading.Lock()


def shared_client(account, **kw):
    """The client this process keeps for the account (the web's fallback sender, Cancel orders now, the
    orders-at-stake reader): kept-alive connections and a measured clock between uses, made again when the
    account or the options change. The engine keeps its own (engine/clients.py), built by client_for
    too."""
    version = (
        account.updated_at,
        account.base_url,
        account.venue,
        account.key_type,
        tuple(sorted(kw.items())),
    )
    with _kept_lock:
        kept = _kept.get(account.pk)
    if kept is not None and kept[0] == version:
        return kept[1]
    made = client_for(account, **kw)
    with _kept_lock:
        old = _kept.get(account.pk)
        _kept[account.pk] = (version, made)
    if old is not None and old[1] is not made:
        old[1].close()
    return made


# GET time (1) and GET openOrders without a symbol (40).
KEY_CHECK_WEIGHT = 41


def check_key(account, **kw) -> None:
    """Prove the key works with one signed read after a clock sync (the venue client's check_key(): GET
    openOrders on Binance, orders-pending on OKX, openorders on Kraken Futures). KeyCheckFailed says what
    failed, in the venue's words (describe()): bad key material, wrong key or permissions or IP, passphrase
    (OKX), clock, signature, unreachable, rate limited."""
    refusal = exchange_url_refusal(account.base_url)
    if refusal:
        raise KeyCheckFailed(f"Not checked: {refusal}")
    try:
        client = client_for(account, **kw)
    except errors.InvalidKeyError as exc:
        raise KeyCheckFailed(
            _scrub(f"The secret is not a usable {_key_type(account)} key: {exc.msg}", account)
        ) from None
    except ValueError as exc:  # the client refuses a base URL it cannot use
        raise KeyCheckFailed(f"{exc} ({account.base_url})") from None
    # The address's limits are shared with the engine: a key check must not earn it a 429 or a ban.
    held = ratelimits.refusal(account.egress, account.limit_address, KEY_CHECK_WEIGHT)
    if held:
        raise KeyCheckFailed(f"Not checked now: {held} Try again then.")
    error = None
    try:
        with client:
            client.sync_time()
            client.check_key()
    except errors.ExchangeError as exc:
        error = exc
        raise KeyCheckFailed(_scrub(describe(exc, account), account), code=exc.code) from None
    except OSError as exc:  # anything the client did not translate; the type alone, URLs may be signed
        raise KeyCheckFailed(
            f"The exchange at {account.base_url} could not be reached ({type(exc).__name__}).",
        ) from None
    finally:
        ratelimits.observe(account.egress, account.limit_address, client, error)


def disable_refusal(account) -> str | None:
    """Why `account` may not be disabled now, or None. Disabling stops the heartbeats of its policies without
    a disarm, so the exchange would cancel their orders at expiry: an operator's call, not a key admin's. The
    policies that block it are those Disarm all would act on (armed, or still owing a disarm)."""
    blocking = account.policies.filter(CountdownPolicy.disarm_all_scope()).order_by("symbol")
    names = [switch_label(symbol, account.venue) for symbol in blocking.values_list("symbol", flat=True)]
    if not names:
        return None
    their = "their heartbeats" if len(names) > 1 else "its heartbeats"
    orders = "their orders" if len(names) > 1 else "its orders"
    return (
        f"Disarm {', '.join(names)} of {account.label} first: disabling the account would stop {their} "
        f"and the exchange would cancel {orders}."
    )


def describe(exc, account) -> str:
    """One sentence per failure a key admin can fix, in the venue's own words (Binance's codes, OKX's codes,
    Kraken Futures' error names)."""
    family = venues.VENUES.get(account.venue, venues.USDM).family
    if family == "okx":
        return _describe_okx(exc, account)
    if family == "kraken":
        return _describe_kraken(exc, account)
    code, where = exc.code, account.base_url
    # The exchange's own sentence ends with a full stop already ("Signature for this request is not valid.").
    # Only an answer in the exchange's error format (a code and its message) is quoted, never whatever else
    # a host sent back (an HTML page, a proxy's text).
    msg = " ".join((getattr(exc, "msg", "") or "").split())[:200] if code is not None else ""
    said = f" The exchange said: “{msg}”{'' if msg.endswith(('.', '!', '?')) else '.'}" if msg else ""
    if code == -2015:
        return (
            "The exchange refused the API key (code -2015). Binance gives this one code for three causes: "
            f"the API key is wrong or deleted, the key lacks {_permission(account)}, or this server's IP "
            "address is not on the key's IP whitelist. Check all three." + said
        )
    if code == -2014:
        return (
            "The exchange says the API key is malformed (code -2014): paste the whole key, nothing else."
            + said
        )
    if code == -1022:
        return (
            "The exchange rejected the signature (code -1022): the secret does not belong to this API key, "
            f"or the key type is wrong (this account says {_key_type(account)})." + said
        )
    if code == -1021:
        return (
            "The exchange refused the request time (code -1021) even after a clock re-sync: this server's "
            "clock is off or drifting. Check NTP (timedatectl) and try again." + said
        )
    if isinstance(exc, errors.RateLimitedError):
        wait = f" Retry in {duration(exc.retry_after * 1000)}." if getattr(exc, "retry_after", None) else ""
        if getattr(exc, "banned", False):
            return (
                f"This server's IP address is banned by the exchange for too many requests (HTTP 418).{wait}"
            )
        return f"The exchange is rate limiting this server (HTTP {exc.http_status or 429}).{wait}"
    if isinstance(exc, (errors.OutcomeUnknownError, errors.TemporaryError)):
        if exc.code is None and exc.http_status is None:
            return (
                f"The exchange at {where} could not be reached or did not answer in time. "
                "Check the environment / base URL and this server's network." + said
            )
        return (
            f"The exchange at {where} is temporarily unavailable (HTTP {exc.http_status}). Try again." + said
        )
    detail = ", ".join(
        x
        for x in (
            f"code {code}" if code is not None else "",
            f"HTTP {exc.http_status}" if exc.http_status else "",
        )
        if x
    )
    return f"The exchange refused the key check ({detail or 'no code'})." + said


def _quoted(exc) -> str:
    """The exchange's own message, quoted, when it answered in its error format; "" otherwise."""
    msg = " ".join((getattr(exc, "msg", "") or "").split())[:200]
    if not msg:
        return ""
    return f" The exchange said: “{msg}”{'' if msg.endswith(('.', '!', '?')) else '.'}"


# OKX's authentication and permission codes (its API v5 error-code page), each with what to do about it.
OKX_KEY_FAILURES = {
    50100: "OKX has frozen this API key (code 50100): contact OKX's support, or create another key.",
    50101: "OKX says this API key is not for this environment (code 50101): a demo-trading key cannot be "
    "used on production, nor the reverse. Use a key made for this environment.",
    50102: "OKX refused the request time (code 50102) even after a clock re-sync: this server's clock is "
    "more than 30 s off OKX's. Check NTP (timedatectl) and try again.",
    50103: "OKX received no API key (code 50103): paste the whole API key.",
    50104: "OKX received no passphrase (code 50104): enter the passphrase chosen when the API key was "
    "created.",
    50105: "OKX refused the passphrase (code 50105): it is not the one chosen when this API key was created. "
    "Enter that passphrase (OKX cannot show it again: if it is lost, create a new key).",
    50110: "OKX refused this server's IP address (code 50110): it is not on the API key's IP allowlist. Add "
    "the egress address of this server to the key, or use a key without an allowlist.",
    50111: "OKX does not know this API key (code 50111): it is mistyped, or was deleted. Paste the API key "
    "again.",
    50112: "OKX refused the request time's format (code 50112): this server's clock is unusable. Check NTP.",
    50113: "OKX rejected the signature (code 50113): the secret does not belong to this API key. Paste the "
    "secret key shown when the API key was created.",
    50114: "OKX refused the authorization (code 50114): check that the API key, secret and passphrase belong "
    "together.",
    50119: "OKX says this API key does not exist (code 50119): it was deleted, or belongs to another "
    "account. Create a new key.",
    50120: "OKX says this API key lacks the permission (code 50120): give it the Read and Trade permissions "
    "(Trade is what arms the switch).",
}


def _describe_okx(exc, account) -> str:
    code, where = exc.code, account.base_url
    said = _quoted(exc) if code is not None else ""
    if code in OKX_KEY_FAILURES:
        return OKX_KEY_FAILURES[code] + said
    if isinstance(exc, errors.RateLimitedError):
        wait = f" Retry in {duration(exc.retry_after * 1000)}." if getattr(exc, "retry_after", None) else ""
        what = f"code {code}" if code is not None else f"HTTP {exc.http_status or 429}"
        return f"OKX is limiting this API key's requests ({what}).{wait}" + said
    if isinstance(exc, (errors.OutcomeUnknownError, errors.TemporaryError)):
        if exc.code is None and exc.http_status is None:
            return (
                f"OKX at {where} could not be reached or did not answer in time. Check the environment / "
                "base URL and this server's network."
            )
        what = f"code {code}" if code is not None else f"HTTP {exc.http_status}"
        return f"OKX at {where} is temporarily unavailable ({what}). Try again." + said
    return f"OKX refused the key check ({_facts(exc) or 'no code'})." + said


KRAKEN_KEY_FAILURES = {
    "authenticationError": "Kraken Futures refused the key (authenticationError): the API key is mistyped or "
    "deleted, the secret does not belong to it (paste the secret exactly as Kraken gave it, in base64), or "
    "this server's IP address is not on the key's allowlist. Check all three.",
    "nonceBelowThreshold": "Kraken Futures refused the request's nonce (nonceBelowThreshold): another client "
    "signing with this API key sent a higher one. Give the guard a key of its own and try again.",
    "nonceDuplicate": "Kraken Futures refused the request's nonce as used already (nonceDuplicate): another "
    "client signs with this API key. Give the guard a key of its own and try again.",
    "apiLimitExceeded": "Kraken Futures is limiting this account's requests (apiLimitExceeded): its budget "
    "of 500 per 10 s is spent, by the guard or another client of the account.",
}


def _kraken_error_name(exc) -> str:
    """Kraken's error name, as the client words its refusal ("Kraken Futures refused the request: X.")."""
    msg = getattr(exc, "msg", "") or ""
    head = "refused the request: "
    return msg.split(head, 1)[1].rstrip(".").strip() if head in msg else ""


def _describe_kraken(exc, account) -> str:
    name, where = _kraken_error_name(exc), account.base_url
    if name in KRAKEN_KEY_FAILURES:
        text = KRAKEN_KEY_FAILURES[name]
        if isinstance(exc, errors.RateLimitedError) and getattr(exc, "retry_after", None):
            text += f" Retry in {duration(exc.retry_after * 1000)}."
        return text
    if isinstance(exc, errors.RateLimitedError):
        wait = f" Retry in {duration(exc.retry_after * 1000)}." if getattr(exc, "retry_after", None) else ""
        return f"Kraken Futures is limiting this account's requests (HTTP {exc.http_status or 429}).{wait}"
    if isinstance(exc, (errors.OutcomeUnknownError, errors.TemporaryError)):
        if exc.http_status is None:
            return (
                f"Kraken Futures at {where} could not be reached or did not answer in time. Check the "
                "environment / base URL and this server's network."
            )
        what = name or f"HTTP {exc.http_status}"
        return f"Kraken Futures at {where} is temporarily unavailable ({what}). Try again."
    if name:
        return f"Kraken Futures refused the key check ({name})."
    return f"Kraken Futures refused the key check ({_facts(exc) or 'no error name'})."


def _facts(exc) -> str:
    return ", ".join(
        x
        for x in (
            f"code {exc.code}" if exc.code is not None else "",
            f"HTTP {exc.http_status}" if exc.http_status else "",
        )
        if x
    )


def _permission(account) -> str:
    """The permission a key needs on the account's venue, as Binance's API management page names it."""
    if venues.VENUES.get(account.venue) is venues.OPTIONS:
        return "Options permission (enable Options on the key)"
    venue = VENUE_NAMES.get(account.venue, account.venue)
    return f"futures trading permission (enable Futures for {venue})"


def _key_type(account) -> str:
    return dict(KeyType.choices).get(account.key_type, account.key_type)


def _scrub(text: str, account) -> str:
    """Belt and braces: the exchange or a library must never get a secret into a message shown to people."""
    text = redact(text)
    for value in (account.api_key, account.secret, account.key_passphrase):
        if value and len(value) >= 8:
            text = text.replace(value, "<redacted>")
    return text
