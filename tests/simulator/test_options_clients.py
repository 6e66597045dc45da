"""Clients we did not write work against the simulator's /eapi as against Binance Options: Binance's official
options SDK (binance-sdk-derivatives-trading-options, its base path pointed at the simulator) and ccxt's
implicit eapi methods (its eapiPublic/eapiPrivate URLs pointed at it). Both sign and encode as they do for
Binance, and failures come back as their own exceptions with Binance's codes."""

import sys

import ccxt
import pytest
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import BadRequestError, UnauthorizedError
from binance_sdk_derivatives_trading_options.derivatives_trading_options import DerivativesTradingOptions

from .conftest import KEYS, Trader, another_key

KEY_TYPES = ["hmac", "ed25519", "rsa"]


def _sdk(simulator, key_type: str, *, api_key=None, key: str | None = None):
    """The SDK's REST client for a fresh registered account (or `api_key`), signing with `key`."""
    if api_key is None:
        api_key = Trader(simulator, key_type).register().api_key
    key = KEYS[key_type] if key is None else key
    signing = {"api_secret": key} if key_type == "hmac" else {"private_key": key}
    config = ConfigurationRestAPI(
        api_key=api_key, base_path=simulator.url, timeout=5000, retries=0, **signing
    )
    return DerivativesTradingOptions(config_rest_api=config).rest_api


def _error(call, kind=BadRequestError) -> tuple[int, str]:
    with pytest.raises(kind) as raised:
        call()
    return raised.value.status_code, raised.value.error_message  # the SDK keeps Binance's code here


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_the_sdk_sets_reads_renews_and_disarms_a_countdown(simulator, key_type):
    api = _sdk(simulator, key_type)

    armed = api.set_auto_cancel_all_open_orders(underlying="BTCUSDT", countdown_time=30_000).data()
    read = api.get_auto_cancel_all_open_orders(underlying="BTCUSDT").data()
    before = simulator.exchange.option_countdowns()[0]["armed_at"]
    renewed = api.auto_cancel_all_open_orders(underlyings="BTCUSDT,ETHUSDT")
    after = simulator.exchange.option_countdowns()[0]["armed_at"]

    assert (armed.underlying, armed.countdown_time) == ("BTCUSDT", 30_000)
    assert (read.underlying, read.countdown_time) == ("BTCUSDT", 30_000)
    assert renewed.data().underlyings == ["BTCUSDT"]  # ETHUSDT has no countdown
    assert after > before
    # 1 + 1 + 10, the weights Binance gives these three calls, read by the SDK from X-MBX-USED-WEIGHT-1M.
    weight = [
        (r.interval, r.intervalNum, r.count)
        for r in renewed.rate_limits
        if r.rateLimitType == "REQUEST_WEIGHT"
    ]
    assert weight == [("MINUTE", 1, 12)]

    disarmed = api.set_auto_cancel_all_open_orders(underlying="BTCUSDT", countdown_time=0).data()

    assert disarmed.countdown_time == 0
    assert simulator.exchange.option_countdowns() == []


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_the_sdk_raises_binances_errors(simulator, key_type):
    api = _sdk(simulator, key_type)
    forged = _sdk(simulator, key_type, api_key=api.configuration.api_key, key=another_key(key_type))
    without_options = Trader(simulator, key_type).register(options=False)
    refused = _sdk(simulator, key_type, api_key=without_options.api_key)

    assert _error(lambda: forged.set_auto_cancel_all_open_orders("BTCUSDT", 10_000)) == (
        -1022,
        "Signature for this request is not valid.",
    )
    assert _error(lambda: api.set_auto_cancel_all_open_orders("NOPEUSDT", 10_000)) == (
        -1128,
        "Invalid underlying",
    )
    assert _error(lambda: api.set_auto_cancel_all_open_orders("BTCUSDT", 1000))[0] == -1130
    assert _error(lambda: refused.get_auto_cancel_all_open_orders(), UnauthorizedError)[0] == -2015
    simulator.exchange.set_skew(-10_000)  # the SDK's clock now runs 10 s ahead of the exchange
    assert _error(lambda: api.auto_cancel_all_open_orders("BTCUSDT")) == (
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    simulator.exchange.set_skew(70_000)  # and now 70 s behind: past any recvWindow
    assert _error(lambda: api.set_auto_cancel_all_open_orders("BTCUSDT", 10_000))[0] == -1021
    assert simulator.exchange.option_countdowns() == []


def test_the_sdk_reads_exchange_info_and_trades(simulator):
    api = _sdk(simulator, "hmac")

    assert isinstance(api.check_server_time().data().server_time, int)
    info = api.exchange_information().data()
    symbols = {s.symbol: s for s in info.option_symbols}
    assert symbols["ETH-261225-3000-C"].underlying == "ETHUSDT"
    placed = api.new_order(symbol="ETH-261225-3000-C", side="BUY", type="LIMIT", quantity=1.5, price=42.1)
    order_id = placed.data().order_id
    assert placed.data().quantity == "1.5"
    assert api.query_single_order("ETH-261225-3000-C", order_id=order_id).data().status == "ACCEPTED"
    listed = api.query_current_open_option_orders().data()
    assert [o.order_id for o in listed] == [order_id]
    assert api.cancel_option_order("ETH-261225-3000-C", order_id=order_id).data().status == "CANCELLED"
    assert _error(lambda: api.query_single_order("ETH-261225-3000-C"))[0] == -1102


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_ccxt_implicit_eapi_methods_run_the_kill_switch(simulator, key_type, monkeypatch):
    # ccxt parses with orjson when it is installed (python-kraken-sdk brings it), and orjson gives numbers:
    # the exact-digits behaviour checked below is that of ccxt's own parser.
    monkeypatch.setattr(sys.modules["ccxt.base.exchange"], "orjson", None)
    trader = Trader(simulator, key_type).register()
    eapi = f"{simulator.url}/eapi/v1"
    exchange = ccxt.binance(
        {
            "apiKey": trader.api_key,
            "secret": KEYS[key_type],
            "urls": {"api": {"eapiPublic": eapi, "eapiPrivate": eapi}},
            "timeout": 5000,
        }
    )

    armed = exchange.eapiPrivatePostCountdownCancelAll({"underlying": "ETHUSDT", "countdownTime": 15_000})
    renewed = exchange.eapiPrivatePostCountdownCancelAllHeartBeat({"underlyings": "ETHUSDT,BNBUSDT"})
    read = exchange.eapiPrivateGetCountdownCancelAll({"underlying": "ETHUSDT"})

    # ccxt hands numbers over as strings (its JSON parsing keeps their exact digits).
    assert armed == {"underlying": "ETHUSDT", "countdownTime": "15000"}
    assert renewed == {"underlyings": ["ETHUSDT"]}
    assert read == {"underlying": "ETHUSDT", "countdownTime": "15000"}
    assert int(exchange.eapiPublicGetTime()["serverTime"]) > 0
    assert exchange.eapiPrivatePostCountdownCancelAll({"underlying": "ETHUSDT", "countdownTime": 0}) == {
        "underlying": "ETHUSDT",
        "countdownTime": "0",
    }
    assert exchange.eapiPrivateGetCountdownCancelAll() == []
    with pytest.raises(ccxt.BadRequest, match="-1128"):
        exchange.eapiPrivatePostCountdownCancelAll({"underlying": "NOPEUSDT", "countdownTime": 15_000})
