"""Request weight: the used weight from every answer, the limit from exchangeInfo, and the symbol lists."""

import pytest

from heartbeats.exchange.client import FuturesClient, weight_limit_per_minute
from heartbeats.exchange.errors import FatalError
from simulator import Simulator


def test_it_records_the_used_weight_of_every_answer_errors_included(simulator, make_client):
    client = make_client()
    assert client.used_weight is None
    client.countdown("BTCUSDT", 60_000)
    assert client.used_weight == 11 and client.used_weight_at is not None
    with pytest.raises(FatalError) as caught:
        client.countdown("NOPEUSDT", 60_000)
    assert caught.value.used_weight == client.used_weight == 21
    assert simulator.exchange.requests_log()[-1]["used_weight"] == 21


def test_it_reads_the_weight_limit_from_exchange_info():
    with Simulator(weight_limit=1200) as sim, FuturesClient(sim.url) as client:
        assert client.weight_limit is None  # unknown until the exchange says
        client.exchange_info()
        assert client.weight_limit == 1200


@pytest.mark.parametrize(
    ("rate_limits", "expected"),
    [
        ([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}], 2400),
        (
            [
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 10, "limit": 300},
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            ],
            6000,
        ),
        ([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 5, "limit": 9000}], None),
        ([{"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}], None),
        (
            [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": "lots"}],
            None,
        ),
        ([], None),
        (None, None),
        ("garbage", None),
    ],
)
def test_it_takes_the_per_minute_request_weight_and_never_guesses(rate_limits, expected):
    assert weight_limit_per_minute(rate_limits) == expected


def test_it_lists_trading_usdm_symbols_without_delisted_ones(simulator):
    with FuturesClient(simulator.url, "usdm") as client:
        symbols = client.trading_symbols()
    assert len(symbols) >= 30
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= symbols
    assert "LUNAUSDT" not in symbols
    assert not any(s.endswith("_PERP") for s in symbols)


def test_it_lists_trading_coinm_symbols_by_contract_status(simulator):
    with FuturesClient(simulator.url, "coinm") as client:
        symbols = client.trading_symbols()
        info = client.exchange_info()
    assert {"BTCUSD_PERP", "ETHUSD_PERP"} <= symbols
    assert not any(s.endswith("USDT") for s in symbols)
    assert all(s["contractStatus"] == "TRADING" for s in info["symbols"] if s["symbol"] in symbols)
    assert client.weight_limit == 2400
