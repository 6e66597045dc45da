"""Rules for a policy's timing and symbol, and for ids, that need no exchange: shared by forms, admin, the API
and system checks.

Timing: the countdown must survive two lost heartbeats and a slow third one, so
    countdown ≥ BEATS_PER_COUNTDOWN × interval + LATENCY_MARGIN, and ≥ MIN_COUNTDOWN.
Binance's futures switch documents no bounds; the bounds here keep a typo (ms for s, an hour for a minute)
from turning into a guard that never fires or one that fires on the first hiccup. A venue's own unit and
bounds (exchange.venues: OKX whole seconds, 10–120 s; Kraken Futures whole seconds) are checked too, and
said as the venue's.
"""

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from heartbeats import text
from heartbeats.exchange import venues

MIN_INTERVAL_S = 1
MAX_INTERVAL_S = 600
MIN_COUNTDOWN_MS = 5_000
MAX_COUNTDOWN_MS = 3_600_000
BEATS_PER_COUNTDOWN = 3
LATENCY_MARGIN_MS = 2_000

USDM = venues.USDM.key
COINM = venues.COINM.key
OPTIONS = venues.OPTIONS.key
VENUE_NAMES = {v.key: v.short for v in venues.VENUES.values()}

# COIN-M symbols: BTCUSD_PERP, ETHUSD_250627. Whether any symbol exists is the exchange's to say (symbols.py).
_COINM_SYMBOL = venues.COINM.symbol_pattern
_SYMBOL_CHARS = re.compile(r"^[A-Z0-9_]+$")


def required_reason(reason: str, what: str) -> str:
    """The reason an audited action must give, stripped; ValueError saying what it is needed for."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError(f"A reason is required to {what}.")
    return plain_reason(reason)


def plain_reason(reason: str) -> str:
    """A person's reason goes into the audit trail as typed: no control or invisible characters (ValueError
    naming the one at fault)."""
    why = text.refusal(reason, multiline=True)
    if why:
        raise ValueError(f"The reason: {why}")
    return reason


def min_countdown_ms(interval_s: int) -> int:
    return max(MIN_COUNTDOWN_MS, BEATS_PER_COUNTDOWN * interval_s * 1000 + LATENCY_MARGIN_MS)


def max_interval_s(countdown_ms: int) -> int:
    """The longest whole-second interval a countdown allows (0 if none does)."""
    return max(0, (countdown_ms - LATENCY_MARGIN_MS) // (BEATS_PER_COUNTDOWN * 1000))


def venue_minimum_ms(venue: str | None) -> int | None:
    """The venue's own lower bound on a countdown when it has one the guard's floor does not already exceed
    (Binance Options: 5,000 ms), so that a message can name it; None otherwise."""
    spec = venues.VENUES.get(venue or "")
    own = spec.countdown.min_ms if spec is not None else None
    return own if own is not None and own >= MIN_COUNTDOWN_MS else None


def timing_errors(
    countdown_ms: int | None, interval_s: int | None, *, venue: str | None = None
) -> dict[str, str]:
    """{field: message} for each broken timing rule; each message says what to change. With `venue` (an
    account's), a countdown outside the venue's own bounds or unit says that they are the venue's, and a
    countdown too tight for the interval is never sent beyond them."""
    errors = {}
    spec = venues.VENUES.get(venue or "")
    if interval_s is not None:
        if interval_s < MIN_INTERVAL_S:
            errors["interval_s"] = f"The interval must be at least {MIN_INTERVAL_S} s."
        elif interval_s > MAX_INTERVAL_S:
            errors["interval_s"] = (
                f"The interval must be at most {MAX_INTERVAL_S} s ({MAX_INTERVAL_S // 60} minutes): "
                f"a heartbeat that rare leaves orders unguarded for too long."
            )
    if countdown_ms is not None:
        own = venue_minimum_ms(venue)
        floor = max(MIN_COUNTDOWN_MS, own or 0)
        if countdown_ms < floor:
            if own == floor and spec is not None and spec.family != "binance":
                # The venue's own bounds, said as the venue says them.
                errors["countdown_ms"] = (
                    f"{spec.label} accepts a countdown of {_span(spec.countdown)}: {_seconds(countdown_ms)} "
                    f"is outside it. Countdowns are in milliseconds: {floor // 1000} s is {floor}."
                )
            else:
                whose = f", the least Binance {spec.label} accepts" if own == floor and spec else ""
                errors["countdown_ms"] = (
                    f"The countdown must be at least {floor} ms ({floor // 1000} s{whose}). "
                    f"Countdowns are in milliseconds: 120 s is 120000."
                )
        elif countdown_ms > MAX_COUNTDOWN_MS and not _venue_caps(spec):
            # Converting a typo of 30 digits into hours only makes the message unreadable.
            hours = ""
            if countdown_ms < 10**9:
                hours = f"; {countdown_ms} ms is {countdown_ms / 3_600_000:.1f} hours"
            errors["countdown_ms"] = (
                f"The countdown must be at most {MAX_COUNTDOWN_MS} ms (1 hour){hours}. "
                f"Countdowns are in milliseconds: 120 s is 120000."
            )
    if "countdown_ms" not in errors and countdown_ms is not None and spec is not None:
        refusal = venue_countdown_error(spec, countdown_ms)
        if refusal:
            errors["countdown_ms"] = refusal
    if not errors and countdown_ms is not None and interval_s is not None:
        needed = min_countdown_ms(interval_s)
        if countdown_ms < needed:
            longest = max_interval_s(countdown_ms)
            shorten = f" or shorten the interval to {longest} s" if longest >= MIN_INTERVAL_S else ""
            raise_to = f"Raise the countdown to {needed} ms{shorten}."
            high = spec.countdown.max_ms if spec is not None else None
            if high is not None and needed > high:
                # The venue would refuse the countdown the rule asks for: only a shorter interval helps.
                raise_to = (
                    f"{spec.label} accepts at most {high // 1000} s, so shorten the interval to "
                    f"{max_interval_s(high)} s or less."
                )
            errors["countdown_ms"] = (
                f"A {_seconds(countdown_ms)} countdown is too tight for a {interval_s} s interval: "
                f"it must be at least {needed} ms ({BEATS_PER_COUNTDOWN} × interval + "
                f"{LATENCY_MARGIN_MS // 1000} s for latency), so that two lost heartbeats do not cancel the "
                f"orders. {raise_to}"
            )
    return errors


def venue_bounds_text(spec: venues.Venue) -> str:
    """The venue's own countdown rules as a clause ("OKX accepts a countdown of 10–120 s, in whole seconds";
    "Kraken Futures counts it in whole seconds"), "" when it has none beyond the guard's."""
    bounds = spec.countdown
    whole = bounds.unit == "s"
    outlasting = outlasting_late_renewals_ms(spec)
    late = (spec.accepts_late_ms or 0) // 1000
    guard = (
        f", and at least {outlasting // 1000} s here (it may take a renewal {late} s late)"
        if outlasting
        else ""
    )
    if bounds.min_ms is not None or bounds.max_ms is not None:
        seconds = ", in whole seconds" if whole else ""
        return f"{spec.label} accepts a countdown of {_span(bounds)}{seconds}{guard}"
    if whole:
        return f"{spec.label} counts it in whole seconds{guard}"
    return ""


def venue_countdown_error(spec: venues.Venue, countdown_ms: int) -> str | None:
    """Why the venue itself would refuse this countdown (its unit, its bounds), naming its limits; None if it
    would take it. Checked when a switch is saved, not first by the exchange at arming."""
    bounds = spec.countdown
    if bounds.unit == "s" and countdown_ms % 1000:
        near = max(1, round(countdown_ms / 1000))
        return (
            f"{spec.label} counts its countdown in whole seconds: {countdown_ms} ms is "
            f"{countdown_ms / 1000:g} s. Enter {near * 1000} ms ({near} s)."
        )
    low, high = bounds.min_ms, bounds.max_ms
    if (low is not None and countdown_ms < low) or (high is not None and countdown_ms > high):
        return f"{spec.label} accepts a countdown of {_span(bounds)}: {_seconds(countdown_ms)} is outside it."
    outlasting = outlasting_late_renewals_ms(spec)
    if outlasting is not None and countdown_ms < outlasting:
        late = spec.accepts_late_ms // 1000
        return (
            f"On {spec.label} a countdown must be at least {outlasting // 1000} s: {spec.label} may accept "
            f"a renewal up to {late} s after it was sent, and a shorter countdown renewed that late could "
            "run out after you disarm it, cancelling orders you meant to keep."
        )
    return None


# Beyond a venue's late window and the clock error: a late renewal's countdown must outlast the last `0`.
LATE_MARGIN_MS = 2_000


def outlasting_late_renewals_ms(spec: venues.Venue) -> int | None:
    """The shortest countdown that outlasts a disarm's last `0` on a venue that accepts a request long after
    it was signed (exchange.venues: accepts_late_ms), rounded up to whole seconds; None where the window is
    Binance's recvWindow, which every countdown the guard allows outlasts."""
    if not spec.accepts_late_ms:
        return None
    clock_error = int(getattr(settings, "ENGINE_CLOCK_ERROR_MS", 1000))
    return -(-(spec.accepts_late_ms + clock_error + LATE_MARGIN_MS) // 1000) * 1000


def _venue_caps(spec: venues.Venue | None) -> bool:
    """Whether the venue's own longest countdown is shorter than the guard's (then its message is said)."""
    high = spec.countdown.max_ms if spec is not None else None
    return high is not None and high <= MAX_COUNTDOWN_MS


def _span(bounds: venues.Countdown) -> str:
    low, high = bounds.min_ms, bounds.max_ms
    if low is not None and high is not None:
        return f"{low // 1000}–{high // 1000} s"
    if low is not None:
        return f"at least {low // 1000} s"
    return f"at most {high // 1000} s" if high is not None else "any length"


def validate_timing(countdown_ms: int | None, interval_s: int | None) -> None:
    errors = timing_errors(countdown_ms, interval_s)
    if errors:
        raise ValidationError(errors)


def symbol_format_error(symbol: str, venue: str) -> str | None:
    """Why a symbol cannot be one of this venue's, judged from its spelling alone (None if it could be)."""
    known = venues.VENUES.get(venue, venues.USDM)
    if known.covers == venues.ACCOUNT:
        return _scope_format_error(symbol, known)
    if not symbol:
        what = "an underlying" if known.covers == venues.UNDERLYING else "a symbol"
        return f"Enter {what}, e.g. {known.symbol_example}."
    if venue == OPTIONS:
        return _underlying_format_error(symbol)
    option = _OPTION_SYMBOL.match(symbol.upper())
    if option:
        label = venues.VENUES.get(venue, venues.USDM).label
        return (
            f"{symbol} is an option symbol, but this account trades {label}. Options are guarded on an "
            f"Options account, whose switch covers a whole underlying: {option[1]}USDT covers every "
            f"{option[1]} option."
        )
    if symbol != symbol.upper() and _SYMBOL_CHARS.match(symbol.upper()):
        return f"Symbols are upper case: {symbol.upper()}."
    if not _SYMBOL_CHARS.match(symbol.upper()):
        joined = re.sub(r"[^A-Za-z0-9]", "", symbol).upper()
        hint = f" e.g. {joined}" if joined else ""
        return f"Symbols are written without separators or spaces,{hint} (COIN-M adds _PERP: BTCUSD_PERP)."
    if venue == USDM and _COINM_SYMBOL.match(symbol):
        return (
            f"{symbol} is a COIN-M symbol, but this account trades USD-M futures "
            f"(symbols like {symbol.split('_')[0]}T). Use a COIN-M account for it."
        )
    if venue == COINM and not _COINM_SYMBOL.match(symbol):
        return (
            f"{symbol} is not a COIN-M symbol; this account trades COIN-M futures, "
            f"whose symbols look like BTCUSD_PERP or BTCUSD_250627."
        )
    return None


def _scope_format_error(scope: str, spec: venues.Venue) -> str | None:
    """A venue whose switch covers the whole account: blank for the whole account, or (where the venue offers
    it) one order tag, spelled as the venue allows."""
    if not scope:
        return None
    if spec.symbol_pattern is None:
        return (
            f"A {spec.label} switch covers the whole account: leave the symbol empty ({scope} cannot be "
            "covered alone)."
        )
    if not spec.symbol_pattern.fullmatch(scope):
        return (
            f"{scope} is not an order tag {spec.label} accepts: its switch covers the whole account (leave "
            f"this blank) or the orders of one tag, 1–16 letters or digits such as {spec.symbol_example}, "
            "never one instrument."
        )
    return None


_UNDERLYING = re.compile(r"^[A-Z0-9]{2,20}$")
# Binance's option symbols: BASE-YYMMDD-STRIKE-C|P (BTC-261225-100000-C).
_OPTION_SYMBOL = re.compile(r"^([A-Z0-9]{2,10})-\d{6}-\d+(\.\d+)?-[CP]$")


def _underlying_format_error(underlying: str) -> str | None:
    """An options switch covers an underlying (BTCUSDT), never one option symbol (BTC-261225-100000-C)."""
    if _UNDERLYING.match(underlying):
        return None
    if _UNDERLYING.match(underlying.upper()):
        return f"Underlyings are upper case: {underlying.upper()}."
    if _COINM_SYMBOL.match(underlying.upper()):
        return (
            f"{underlying} is a COIN-M futures symbol, but this account trades Options, whose switch covers "
            f"an underlying such as {venues.OPTIONS.symbol_example}. Use a COIN-M account for it."
        )
    parts = underlying.upper().split("-")
    if len(parts) >= 3 and re.fullmatch(r"[A-Z0-9]{2,10}", parts[0]):
        return (
            f"{underlying} is an option symbol; an Options switch covers a whole underlying: enter "
            f"{parts[0]}USDT, which covers every {parts[0]} option."
        )
    return (
        "An underlying is 2 to 20 upper-case letters or digits without separators, "
        f"e.g. {venues.OPTIONS.symbol_example}."
    )


# Every venue's own hosts (exchange.venues: production and testnet), and Binance's older futures testnet.
EXCHANGE_HOSTS = frozenset(
    {urlsplit(url).hostname for v in venues.VENUES.values() for url in v.base_urls.values()}
    | {"testnet.binancefuture.com"}
)


def exchange_url_refusal(url: str) -> str | None:
    """Why the server may not call `url` as an exchange's base URL, or None. Allowed: Binance's own hosts
    (https, standard port), the hosts of settings.EXCHANGE_HOST_ALLOWLIST (an entry "host" allows any port,
    "host:port" that port), and loopback addresses where settings.EXCHANGE_LOOPBACK_ALLOWED (the embedded
    setup, whose simulator runs there). Anything else would let a key admin make the server call any address.
    """
    try:
        parts = urlsplit(str(url or "").strip())
        port = parts.port
    except ValueError:
        return "This is not a usable URL (its host or port is malformed)."
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return "Enter the exchange's base URL, starting with https:// (or http://)."
    if parts.username is not None or parts.password is not None:
        return "A base URL carries no user name or password."
    if parts.query or parts.fragment:
        return "Give the base URL only, without ?… or #…."
    if host in EXCHANGE_HOSTS:
        if scheme != "https" or port not in (None, 443):
            return f"The exchanges' hosts are reached over https on the standard port: https://{host}"
        return None
    effective_port = port or (443 if scheme == "https" else 80)
    for entry in getattr(settings, "EXCHANGE_HOST_ALLOWLIST", []):
        allowed_host, allowed_port = _host_and_port(entry)
        if allowed_host == host and allowed_port in (None, effective_port):
            return None
    if getattr(settings, "EXCHANGE_LOOPBACK_ALLOWED", False) and _loopback(host):
        return None
    return (
        f"{host} is not an exchange host this server may call. The exchanges' hosts are "
        f"({', '.join(sorted(EXCHANGE_HOSTS))}); others must be listed in CG_EXCHANGE_HOST_ALLOWLIST by "
        "whoever runs this server."
    )


def is_exchange_url(url: str) -> bool:
    try:
        return (urlsplit(str(url or "")).hostname or "").lower() in EXCHANGE_HOSTS
    except ValueError:
        return False


def _host_and_port(entry: str) -> tuple[str, int | None]:
    entry = entry.strip().lower()
    if "//" not in entry:
        entry = f"//{entry}"
    try:
        parts = urlsplit(entry)
        return (parts.hostname or ""), parts.port
    except ValueError:
        return "", None


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g} s"


# An id is plain ASCII digits. Python's int() also reads "١" (Arabic-Indic), "１" (full-width), "+1", " 1 "
# and "1_0": each would name a row by a spelling no link of ours ever uses.
ID_DIGITS = re.compile(r"[0-9]+")


def plain_id(raw) -> int | None:
    """`raw` as an id when it is written in plain ASCII digits (an int is taken as it is), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    text = str(raw)
    # A number too long for any row stays too long (and int() refuses thousands of digits).
    return int(text[:40]) if ID_DIGITS.fullmatch(text) else None


def not_an_id(raw, what: str) -> str:
    """What to tell someone whose `raw` is no id of a `what`: “١” is not an operation number."""
    article = "an" if what[:1].lower() in "aeiou" else "a"
    return f"“{str(raw)[:40]}” is not {article} {what} number."
