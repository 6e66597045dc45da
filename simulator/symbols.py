"""The simulated markets and their exchangeInfo documents, shaped like Binance's /fapi and /dapi replies.
Options contracts (/eapi) are listed here too; their exchangeInfo document is built in options.py."""

from dataclasses import dataclass

USDM = "usdm"
COINM = "coinm"
OPTIONS = "options"
KRAKEN_FUTURES = "kraken_futures"

PERPETUAL_DELIVERY_MS = 4133404800000  # Binance's "no delivery" date for perpetuals (2100-12-25)
ONBOARD_MS = 1569398400000
# Filter bounds shared by every market (rules.py enforces them on new orders).
MAX_PRICE = "1000000"
MAX_QTY = "1000000"
MAX_MARKET_QTY = "100000"
MIN_NOTIONAL = "5"  # USDⓈ-M only; COIN-M quantities are whole contracts


@dataclass(frozen=True)
class Market:
    symbol: str
    venue: str
    base: str
    quote: str
    status: str = "TRADING"
    contract_type: str = "PERPETUAL"
    price_precision: int = 2
    quantity_precision: int = 3
    tick_size: str = "0.10"
    step_size: str = "0.001"

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"

    @property
    def pair(self) -> str:
        return self.symbol.split("_")[0] if self.venue == COINM else self.base + self.quote

    @property
    def underlying(self) -> str:
        """An options contract's underlying ("BTC-261225-100000-C" → "BTCUSDT"), the unit of /eapi's
        countdowns; a futures market's pair."""
        return self.base + self.quote if self.venue == OPTIONS else self.pair


def _usdm(
    symbol, price_precision=4, quantity_precision=0, status="TRADING", quote="USDT", contract="PERPETUAL"
):
    base = symbol.split("_")[0].removesuffix(quote)
    tick = "0." + "0" * (price_precision - 1) + "1" if price_precision else "1"
    step = "0." + "0" * (quantity_precision - 1) + "1" if quantity_precision else "1"
    return Market(
        symbol, USDM, base, quote, status, contract, price_precision, quantity_precision, tick, step
    )


def _coinm(symbol, price_precision=1, contract="PERPETUAL"):
    base = symbol.split("USD_")[0]
    tick = "0." + "0" * (price_precision - 1) + "1" if price_precision else "1"
    return Market(symbol, COINM, base, "USD", "TRADING", contract, price_precision, 0, tick, "1")


USDM_MARKETS = [
    _usdm("BTCUSDT", 2, 3),
    _usdm("ETHUSDT", 2, 3),
    _usdm("BNBUSDT", 3, 2),
    _usdm("SOLUSDT", 4, 0),
    _usdm("XRPUSDT", 4, 1),
    _usdm("ADAUSDT", 5, 0),
    _usdm("DOGEUSDT", 6, 0),
    _usdm("LTCUSDT", 2, 3),
    _usdm("DOTUSDT", 3, 1),
    _usdm("LINKUSDT", 3, 2),
    _usdm("AVAXUSDT", 4, 0),
    _usdm("TRXUSDT", 5, 0),
    _usdm("BCHUSDT", 2, 3),
    _usdm("ETCUSDT", 3, 2),
    _usdm("XLMUSDT", 5, 0),
    _usdm("ATOMUSDT", 3, 2),
    _usdm("FILUSDT", 3, 1),
    _usdm("NEARUSDT", 4, 0),
    _usdm("APTUSDT", 4, 1),
    _usdm("ARBUSDT", 4, 1),
    _usdm("OPUSDT", 7, 1),
    _usdm("SUIUSDT", 6, 1),
    _usdm("UNIUSDT", 4, 0),
    _usdm("AAVEUSDT", 2, 1),
    _usdm("INJUSDT", 6, 1),
    _usdm("TIAUSDT", 7, 0),
    _usdm("SEIUSDT", 5, 0),
    _usdm("WLDUSDT", 7, 0),
    _usdm("1000PEPEUSDT", 7, 0),
    _usdm("1000SHIBUSDT", 6, 0),
    _usdm("FETUSDT", 4, 0),
    _usdm("ICPUSDT", 3, 0),
    _usdm("HBARUSDT", 5, 0),
    _usdm("TONUSDT", 4, 1),
    _usdm("ORDIUSDT", 3, 1),
    _usdm("BTCUSDC", 1, 3, quote="USDC"),
    _usdm("ETHUSDC", 2, 3, quote="USDC"),
    _usdm("BTCUSDT_260626", 1, 3, contract="CURRENT_QUARTER"),
    # Delisted markets keep appearing in exchangeInfo with a non-trading status.
    _usdm("LUNAUSDT", 4, 0, status="SETTLING"),
    _usdm("SRMUSDT", 4, 0, status="CLOSE"),
]

COINM_MARKETS = [
    _coinm("BTCUSD_PERP", 1),
    _coinm("ETHUSD_PERP", 2),
    _coinm("BNBUSD_PERP", 3),
    _coinm("SOLUSD_PERP", 3),
    _coinm("XRPUSD_PERP", 4),
    _coinm("ADAUSD_PERP", 5),
    _coinm("DOGEUSD_PERP", 6),
    _coinm("LTCUSD_PERP", 2),
    _coinm("LINKUSD_PERP", 3),
    _coinm("BTCUSD_260626", 1, contract="CURRENT_QUARTER"),
]

# Binance's options symbols: BASE-YYMMDD-STRIKE-C|P, all quoted and settled in USDT. Precision as in Binance's
# exchangeInfo example (priceScale 2, quantityScale 2); the scales are the tick and step.
OPTION_SCALE = 2
OPTION_MIN_PRICE = "0.02"
OPTION_MAX_PRICE = "80000.01"
OPTION_MIN_QTY = "0.01"
OPTION_MAX_QTY = "100"
OPTION_EXPIRY_MS = {"261225": 1798185600000, "270326": 1806048000000}  # 08:00 UTC on the expiry day


def _option(symbol: str) -> Market:
    base = symbol.split("-")[0]
    return Market(
        symbol, OPTIONS, base, "USDT", "TRADING", "OPTION", OPTION_SCALE, OPTION_SCALE, "0.01", "0.01"
    )


OPTION_MARKETS = [
    _option(f"{base}-{expiry}-{strike}-{kind}")
    for base, strikes in (("BTC", ("90000", "100000")), ("ETH", ("3000", "4000")), ("BNB", ("800",)))
    for expiry in OPTION_EXPIRY_MS
    for strike in strikes
    for kind in ("C", "P")
]
OPTION_UNDERLYINGS = sorted({m.underlying for m in OPTION_MARKETS})

# Kraken Futures' multi-collateral perpetuals (PF_*: "flexible futures", linear, quoted in USD), as its
# instruments endpoint and the SDK's examples name them; Kraken calls bitcoin XBT.
KRAKEN_MARKETS = [
    Market(symbol, KRAKEN_FUTURES, symbol[3:-3], "USD", "TRADING", "PERPETUAL", precision, 4, tick, "0.0001")
    for symbol, precision, tick in (
        ("PF_XBTUSD", 0, "1"),
        ("PF_ETHUSD", 1, "0.1"),
        ("PF_SOLUSD", 2, "0.01"),
        ("PF_XRPUSD", 4, "0.0001"),
    )
]

MARKETS = {m.symbol: m for m in USDM_MARKETS + COINM_MARKETS + OPTION_MARKETS + KRAKEN_MARKETS}


def market(venue: str, symbol: str) -> Market | None:
    found = MARKETS.get(symbol)
    return found if found is not None and found.venue == venue else None


def _filters(m: Market) -> list[dict]:
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": m.tick_size,
            "maxPrice": MAX_PRICE,
            "tickSize": m.tick_size,
        },
        {"filterType": "LOT_SIZE", "minQty": m.step_size, "maxQty": MAX_QTY, "stepSize": m.step_size},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": m.step_size,
            "maxQty": MAX_MARKET_QTY,
            "stepSize": m.step_size,
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": "1.0500",
            "multiplierDown": "0.9500",
            "multiplierDecimal": "4",
        },
    ]


_ORDER_TYPES = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]


def _usdm_symbol(m: Market) -> dict:
    return {
        "symbol": m.symbol,
        "pair": m.pair,
        "contractType": m.contract_type,
        "deliveryDate": PERPETUAL_DELIVERY_MS if m.contract_type == "PERPETUAL" else 1782460800000,
        "onboardDate": ONBOARD_MS,
        "status": m.status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": m.base,
        "quoteAsset": m.quote,
        "marginAsset": m.quote,
        "pricePrecision": m.price_precision,
        "quantityPrecision": m.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [*_filters(m), {"filterType": "MIN_NOTIONAL", "notional": MIN_NOTIONAL}],
        "orderTypes": _ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def _coinm_symbol(m: Market) -> dict:
    return {
        "symbol": m.symbol,
        "pair": m.pair,
        "contractType": m.contract_type,
        "deliveryDate": PERPETUAL_DELIVERY_MS if m.contract_type == "PERPETUAL" else 1782460800000,
        "onboardDate": ONBOARD_MS,
        "contractStatus": m.status,
        "contractSize": 100 if m.base == "BTC" else 10,
        "marginAsset": m.base,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": m.base,
        "quoteAsset": m.quote,
        "pricePrecision": m.price_precision,
        "quantityPrecision": 0,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "equalQtyPrecision": 4,
        "triggerProtect": "0.0500",
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "liquidationFee": "0.015000",
        "marketTakeBound": "0.05",
        "filters": _filters(m),
        "orderTypes": _ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def exchange_info(venue: str, server_time_ms: int, weight_limit: int) -> dict:
    rate_limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    ]
    if venue == USDM:
        rate_limits.append({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300})
        symbols = [_usdm_symbol(m) for m in USDM_MARKETS]
        assets = [
            {"asset": asset, "marginAvailable": True, "autoAssetExchange": "0"}
            for asset in ("USDT", "USDC", "BTC")
        ]
        return {
            "timezone": "UTC",
            "serverTime": server_time_ms,
            "futuresType": "U_MARGINED",
            "rateLimits": rate_limits,
            "exchangeFilters": [],
            "assets": assets,
            "symbols": symbols,
        }
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": rate_limits,
        "exchangeFilters": [],
        "symbols": [_coinm_symbol(m) for m in COINM_MARKETS],
    }
