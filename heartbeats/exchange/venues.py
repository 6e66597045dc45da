"""The venues the guard keeps dead man's switches on, and what each says about its switch: what one switch
covers, how it is armed and kept alive, its bounds and weights, where it answers. The one place these facts
live; the client, the models' choices, validation and the board read them from here.

Binance's futures switch (`countdownCancelAll`) covers one symbol and is armed and renewed by the same call
(countdownTime in ms, 0 turns it off, weight 10 on both USD-M and COIN-M); Binance checks expiry about every
10 ms and documents no bounds (the guard's own timing rules are in heartbeats.domain.validation). Binance
counts request weight per source address and minute (2,400 by default; exchangeInfo says the current one).
"""

import re
from dataclasses import dataclass

SYMBOL = "symbol"  # what one switch covers
UNDERLYING = "underlying"
ACCOUNT = "account"  # the whole account (CountdownPolicy.symbol is ""), or the orders of one tag (OKX)
SET_AND_RENEW = "set-and-renew"  # one call arms it and every later one renews it
# A configuration set once per switch, then one heartbeat call renews many switches of an account.
CONFIG_AND_HEARTBEAT = "config-and-heartbeat"


@dataclass(frozen=True)
class Countdown:
    unit: str  # what the exchange counts in
    off: int  # the value that turns the switch off
    min_ms: int | None  # the exchange's own bounds (None: it documents none)
    max_ms: int | None
    checked_every_ms: int  # how often the exchange looks for an expired switch (its pages)


@dataclass(frozen=True)
class Venue:
    key: str  # as stored on an account
    label: str  # as a form offers it
    short: str  # as the board names it
    prefix: str  # the path every request of the venue starts with
    base_urls: dict[str, str]  # environment -> base URL
    covers: str
    arming: str
    countdown: Countdown
    countdown_weight: int
    # Conditional orders kept apart from the plain ones, behind Binance's Algo Service: "always" (USDⓈ-M since
    # 2025-12-09), "ask" (COIN-M: announced; the client asks, and remembers a 404 for a while), or "never"
    # (Options: no conditional orders at all).
    algo_service: str
    symbol_example: str
    # What a symbol of this venue looks like (None: any the exchange lists).
    symbol_pattern: re.Pattern | None = None
    # CONFIG_AND_HEARTBEAT: what one heartbeat call weighs, whatever the number of switches it renews.
    heartbeat_weight: int | None = None
    # Cancel orders now and orders at stake: what cancelling every open order of one thing a switch covers
    # weighs (DELETE allOpenOrders of a symbol on futures), and what reading them weighs, for one such thing
    # and for the whole account (GET openOrders with a symbol, and without).
    cancel_all_weight: int = 1
    open_orders_weight: int = 1
    account_open_orders_weight: int = 40
    # Who the exchange counts requests against: the source "address" (Binance's weight per IP), or the
    # "account" (a user's or key's own limit). Stored and shared per address or per account, across
    # processes.
    limit_scope: str = "address"
    # What the exchange allows per minute where it publishes no figure in an answer (None: its exchangeInfo
    # says, Binance's documented 2,400 until then).
    limit_per_minute: int | None = None
    # How long after signing the exchange may still accept a request, when that is not the recvWindow the
    # guard sends (Binance): a disarm's second `0` waits this long, plus the clock error, after the disarm.
    # 0: the exchange refuses a request signed before one it already accepted (strictly increasing nonces).
    accepts_late_ms: int | None = None
    # The least time between two countdown requests of one switch the exchange takes (OKX: one a second per
    # user and tag); a disarm waits for it rather than earn a rate-limit pause.
    min_gap_ms: int = 0
    # The exchange family, which picks the client and the signer (exchange.factory).
    family: str = "binance"
    # Key types the venue issues, and whether its keys come with a passphrase every request carries (OKX).
    key_types: tuple[str, ...] = ("hmac", "ed25519", "rsa")
    passphrase: bool = False


_FUTURES_COUNTDOWN = Countdown(unit="ms", off=0, min_ms=None, max_ms=None, checked_every_ms=10)

USDM = Venue(
    key="usdm",
    label="USD-M futures",  # USDⓈ-M; the Ⓢ is missing from many fonts
    short="USD-M",
    prefix="/fapi",
    base_urls={"production": "https://fapi.binance.com", "testnet": "https://demo-fapi.binance.com"},
    covers=SYMBOL,
    arming=SET_AND_RENEW,
    countdown=_FUTURES_COUNTDOWN,
    countdown_weight=10,
    algo_service="always",
    symbol_example="BTCUSDT",
)
COINM = Venue(
    key="coinm",
    label="COIN-M futures",
    short="COIN-M",
    prefix="/dapi",
    base_urls={"production": "https://dapi.binance.com", "testnet": "https://demo-dapi.binance.com"},
    covers=SYMBOL,
    arming=SET_AND_RENEW,
    countdown=_FUTURES_COUNTDOWN,
    countdown_weight=10,
    algo_service="ask",
    symbol_example="BTCUSD_PERP",
    # BTCUSD_PERP, ETHUSD_250627. Whether any symbol exists is the exchange's to say.
    symbol_pattern=re.compile(r"^[A-Z0-9]{2,20}USD_(PERP|\d{6})$"),
)

# Binance Options: a switch per underlying, configured with POST /eapi/v1/countdownCancelAll (weight 1, at
# least 5,000 ms, 0 turns it off) and renewed for many underlyings at once by POST
# /eapi/v1/countdownCancelAllHeartBeat (weight 10), whose answer lists only the underlyings it renewed;
# Binance checks expiry about once a second, then refuses new orders on the underlying (-2010) until a
# heartbeat or a new configuration. Binance runs no options testnet: production or a custom base URL.
# Its orders are pulled per underlying with DELETE /eapi/v1/allOpenOrdersByUnderlying: Binance's page says
# weight 1, its official SDK (and the simulator, which follows it) 5; the larger is counted, so the address's
# limit is never overrun. GET /eapi/v1/openOrders weighs 1 with a symbol and 40 without one; an underlying
# is not a symbol, so one underlying's orders weigh as much as the whole account's. No conditional orders.
OPTIONS = Venue(
    key="options",
    label="Options",
    short="Options",
    prefix="/eapi",
    base_urls={"production": "https://eapi.binance.com"},
    covers=UNDERLYING,
    arming=CONFIG_AND_HEARTBEAT,
    countdown=Countdown(unit="ms", off=0, min_ms=5_000, max_ms=None, checked_every_ms=1_000),
    countdown_weight=1,
    heartbeat_weight=10,
    algo_service="never",
    symbol_example="BTCUSDT",
    cancel_all_weight=5,
    open_orders_weight=40,
    account_open_orders_weight=40,
)

# OKX's Cancel All After (POST /api/v5/trade/cancel-all-after): one switch per account, or per order tag
# (its orders only); timeOut in whole seconds, 0 turns it off, otherwise 10-120; checked about once a second.
# One request a second per user and tag; OKX refuses a request whose timestamp is more than 30 s off its clock
# (50102), and honours no expTime on this path: an arm may still be accepted up to 30 s after it was signed.
# Keys are HMAC with a passphrase. Facts and sources: heartbeats/exchange/okx.py.
OKX = Venue(
    key="okx",
    label="OKX",
    short="OKX",
    prefix="/api/v5",
    base_urls={"production": "https://www.okx.com"},
    covers=ACCOUNT,
    arming=SET_AND_RENEW,
    countdown=Countdown(unit="s", off=0, min_ms=10_000, max_ms=120_000, checked_every_ms=1_000),
    countdown_weight=1,
    algo_service="never",  # OKX's algo orders are listed and cancelled by its own client
    symbol_example="mm1",  # an order tag: 1-16 letters or digits
    symbol_pattern=re.compile(r"[A-Za-z0-9]{1,16}"),
    # Counted in requests: OKX cancels no account's orders in one call. Reading them is a page of plain
    # orders and one listing per algo order type (6); cancelling them, those and a batch of each kind at
    # least (20 plain, 10 algo orders a batch; a larger book sends more).
    cancel_all_weight=9,
    open_orders_weight=7,
    account_open_orders_weight=7,
    limit_scope="account",
    limit_per_minute=60,
    accepts_late_ms=30_000,
    min_gap_ms=1_050,  # a second, and the clocks' and the network's jitter
    family="okx",
    key_types=("hmac",),
    passphrase=True,
)
# Kraken Futures' dead man's switch (POST /derivatives/api/v3/cancelallordersafter): account-wide, timeout
# in whole seconds (uint32), 0 turns it off. A cost pool of 500 per account refilled at 500 per 10 s (this
# call 25). Nothing time-based is signed and Kraken tolerates out-of-order nonces "for a brief period" it does
# not publish: the guard sends every request with a nonce and assumes 30 s, as OKX publishes, for how late an
# earlier-signed arm may still be accepted (its disarm's second `0` waits that long, and a countdown must
# outlast it). Facts and sources: exchange/kraken.py.
KRAKEN_FUTURES = Venue(
    key="kraken_futures",
    label="Kraken Futures",
    short="Kraken Futures",
    prefix="/derivatives/api/v3",
    base_urls={"production": "https://futures.kraken.com", "testnet": "https://demo-futures.kraken.com"},
    covers=ACCOUNT,
    arming=SET_AND_RENEW,
    countdown=Countdown(unit="s", off=0, min_ms=None, max_ms=None, checked_every_ms=1_000),
    countdown_weight=25,
    algo_service="never",
    symbol_example="",
    cancel_all_weight=25,
    open_orders_weight=2,
    account_open_orders_weight=2,
    limit_scope="account",
    limit_per_minute=3_000,
    accepts_late_ms=30_000,
    family="kraken",
    key_types=("hmac",),
)

# The venues accounts may use.
VENUES: dict[str, Venue] = {v.key: v for v in (USDM, COINM, OPTIONS, OKX, KRAKEN_FUTURES)}


def venue(key: str) -> Venue:
    """The venue stored as `key`; ValueError naming the known ones."""
    try:
        return VENUES[key]
    except KeyError:
        raise ValueError(f"Unknown venue {key!r}: expected one of {', '.join(VENUES)}.") from None


def renews_many(key: str) -> bool:
    """Whether the venue's switches are configured once and renewed together by one heartbeat call."""
    return venue(key).arming == CONFIG_AND_HEARTBEAT
