"""What each venue lists, from its exchange info, cached for EXCHANGE_INFO_TTL seconds in Django's cache.

The cache is shared between processes (database cache), so pages, forms and the budget read one copy. The
request weight limit published in the same document (`rateLimits`) is kept with it for budget.py.
"""

import hashlib
import time
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.exceptions import ValidationError

from heartbeats.domain import ratelimits
from heartbeats.domain.validation import VENUE_NAMES, exchange_url_refusal, symbol_format_error
from heartbeats.exchange import venues
from heartbeats.exchange.errors import ExchangeError
from heartbeats.exchange.factory import make_client

EXCHANGE_INFO_TTL = 600


@dataclass(frozen=True)
class ExchangeFacts:
    base_url: str
    venue: str
    trading: frozenset[str]
    # Listed but not trading (settling, delisted, pending): symbol → the exchange's status word.
    not_trading: dict[str, str] = field(default_factory=dict)
    weight_limit: int | None = None
    fetched_at: float = 0.0


class ExchangeInfoUnavailable(Exception):
    """The exchange info could not be fetched; the message says why, without secrets."""


def _cache_key(base_url: str, venue: str) -> str:
    digest = hashlib.sha256(f"{base_url}|{venue}".encode()).hexdigest()[:24]
    return f"countdown_guard:exchange_info:v1:{digest}"


def facts_from_exchange_info(info: dict, base_url: str, venue: str) -> ExchangeFacts:
    trading, not_trading = set(), {}
    if venues.renews_many(venue):
        # Options: a switch covers an underlying, trading while any of its option symbols is.
        for entry in info.get("optionSymbols", []):
            name = entry.get("underlying") if isinstance(entry, dict) else None
            if isinstance(name, str) and entry.get("status", "TRADING") == "TRADING":
                trading.add(name)
        return ExchangeFacts(
            base_url=base_url,
            venue=venue,
            trading=frozenset(trading),
            weight_limit=weight_limit_from(info),
            fetched_at=time.time(),
        )
    for entry in info.get("symbols", []):
        name = entry.get("symbol")
        # COIN-M reports contractStatus; USDⓈ-M reports status.
        status = entry.get("contractStatus") or entry.get("status") or ""
        if not name:
            continue
        if status == "TRADING":
            trading.add(name)
        else:
            not_trading[name] = status or "unknown"
    return ExchangeFacts(
        base_url=base_url,
        venue=venue,
        trading=frozenset(trading),
        not_trading=not_trading,
        weight_limit=weight_limit_from(info),
        fetched_at=time.time(),
    )


def weight_limit_from(info: dict) -> int | None:
    """REQUEST_WEIGHT per minute from exchangeInfo rateLimits (None if the document has none)."""
    for limit in info.get("rateLimits", []):
        if limit.get("rateLimitType") != "REQUEST_WEIGHT":
            continue
        seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}.get(limit.get("interval"))
        number = int(limit.get("intervalNum") or 1)
        if seconds and limit.get("limit"):
            return int(int(limit["limit"]) * 60 / (seconds * number))
    return None


def exchange_facts(account, *, refresh: bool = False) -> ExchangeFacts:
    """The venue's listing for this account's base URL, from the cache or fetched (unsigned, weight 1)."""
    base_url, venue = account.base_url, account.venue
    key = _cache_key(base_url, venue)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    refusal = exchange_url_refusal(base_url)
    if refusal:
        raise ExchangeInfoUnavailable(f"The symbol list of {base_url} was not fetched: {refusal}")
    # The address's limits are shared with the engine: a symbol list must not earn it a 429 or a ban.
    held = ratelimits.refusal(account.egress, base_url, 1)
    if held:
        raise ExchangeInfoUnavailable(f"The symbol list of {base_url} was not fetched now: {held}")
    client, error = None, None
    try:
        with make_client(base_url, venue) as client:
            info = client.exchange_info()
    except (ExchangeError, OSError, ValueError) as exc:
        error = exc
        raise ExchangeInfoUnavailable(
            f"The symbol list of {base_url} could not be fetched ({_reason(exc)}). Try again shortly."
        ) from None
    finally:
        if client is not None:
            ratelimits.observe(account.egress, base_url, client, error)
    facts = facts_from_exchange_info(info, base_url, venue)
    cache.set(key, facts, EXCHANGE_INFO_TTL)
    return facts


def cached_facts(base_url: str, venue: str) -> ExchangeFacts | None:
    """What the cache holds, without going to the exchange."""
    return cache.get(_cache_key(base_url, venue))


def cached_facts_many(endpoints) -> dict[tuple[str, str], ExchangeFacts]:
    """What the cache holds for each (base_url, venue), in one cache read; endpoints it lacks are left out."""
    keys = {_cache_key(base_url, venue): (base_url, venue) for base_url, venue in set(endpoints)}
    return {keys[key]: facts for key, facts in cache.get_many(keys).items()} if keys else {}


def trading_symbols(account) -> frozenset[str]:
    return exchange_facts(account).trading


def validate_symbol(account, symbol: str) -> str:
    """The symbol (on Options, the underlying) if this account's venue trades it; otherwise ValidationError
    saying why, in the venue's words."""
    problem = symbol_format_error(symbol, account.venue)
    if problem:
        raise ValidationError(problem, code="symbol_format")
    if venues.VENUES.get(account.venue, venues.USDM).covers == venues.ACCOUNT:
        return symbol  # the whole account, or an order tag: nothing for the exchange to list
    try:
        facts = exchange_facts(account)
    except ExchangeInfoUnavailable as exc:
        raise ValidationError(str(exc), code="exchange_unavailable") from None
    if symbol in facts.trading:
        return symbol
    spec = venues.VENUES.get(account.venue, venues.USDM)
    if spec.covers == venues.UNDERLYING:
        raise ValidationError(_unknown_underlying(account, symbol, facts, spec), code="symbol_unknown")
    venue = VENUE_NAMES.get(account.venue, account.venue)
    if symbol in facts.not_trading:
        raise ValidationError(
            f"{symbol} is listed on {spec.label} but not trading (status {facts.not_trading[symbol]}): "
            f"it has no open orders to protect. Pick a trading symbol.",
            code="symbol_not_trading",
        )
    raise ValidationError(
        f"{symbol} is not listed on {spec.label} at {account.base_url}. Check the spelling "
        f"(e.g. {spec.symbol_example}) and the account's venue ({venue}).",
        code="symbol_unknown",
    )


# Up to this many underlyings are named in a refusal; Binance Options lists a handful.
UNDERLYINGS_NAMED = 12


def _unknown_underlying(account, underlying: str, facts: ExchangeFacts, spec) -> str:
    listed = sorted(facts.trading)
    if not listed:
        there = f"{spec.label} at {account.base_url} lists no trading underlying now."
    elif len(listed) <= UNDERLYINGS_NAMED:
        there = f"Listed there: {', '.join(listed)}."
    else:
        there = f"Check the spelling (e.g. {spec.symbol_example}) and the account's venue."
    return f"{underlying} is not an underlying listed on {spec.label} at {account.base_url}. {there}"


def _reason(exc) -> str:
    code = getattr(exc, "code", None)
    status = getattr(exc, "http_status", None)
    # The exchange's own message only when the answer was in its error format (a code), never another body.
    msg = getattr(exc, "msg", "") if code is not None else ""
    parts = [" ".join(msg.split())[:200] or type(exc).__name__]
    if code is not None:
        parts.append(f"code {code}")
    if status is not None:
        parts.append(f"HTTP {status}")
    return ", ".join(parts)
