"""The Binance Options (/eapi) client: the kill switch per underlying (a configuration, then heartbeats that
renew many underlyings in one call), the orders to cancel now, and what exchangeInfo lists.

Shares BinanceClient's transport, signing, clock offset, weight recording and error translation (with the
options reading of -1008, -1128 and -1130: heartbeats.exchange.errors). The facts about the switch (bounds,
weights) are venues.OPTIONS's. Weights below as Binance's options pages and official SDK state them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from heartbeats.exchange import venues
from heartbeats.exchange.client import BinanceClient, _as_int, _not_acknowledged, _Reply, _timing
from heartbeats.exchange.errors import TemporaryError
from heartbeats.exchange.signing import Signer

# BTCUSDT, ETHUSDT: what one switch covers. Whether the exchange lists it is its own to say (-1128).
_UNDERLYING = re.compile(r"[A-Z0-9]{2,20}")
# BTC-261225-100000-C; options symbols carry '-' (and a strike may carry '.').
_OPTION_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9_.-]{0,39}")


@dataclass(frozen=True)
class UnderlyingCountdownAck:
    """The exchange acknowledged countdownCancelAll for `underlying` with `countdown_ms` (0: turned off)."""

    underlying: str
    countdown_ms: int
    sent_at: float  # local epoch seconds, read just before the request left
    received_at: float  # local epoch seconds, when the whole answer had arrived
    latency_ms: float
    used_weight: int | None
    http_status: int
    timestamp_ms: int | None = None  # the signed timestamp: the exchange's clock as estimated at sending


@dataclass(frozen=True)
class UnderlyingCountdown:
    """An active switch, as GET countdownCancelAll lists it."""

    underlying: str
    countdown_ms: int


@dataclass(frozen=True)
class HeartbeatResult:
    """What one countdownCancelAllHeartBeat renewed. Binance answers only with the underlyings it renewed:
    `missing` (asked for, not renewed: no active switch there) is a failure to show, never a success. `ok`
    only when every underlying asked for was renewed."""

    asked: tuple[str, ...]
    renewed: frozenset[str]
    missing: tuple[str, ...]  # in the order asked
    sent_at: float
    received_at: float
    latency_ms: float
    used_weight: int | None
    http_status: int
    timestamp_ms: int | None = None

    @property
    def ok(self) -> bool:
        return not self.missing


class OptionsClient(BinanceClient):
    """One exchange account (or none, for public endpoints) on Binance Options (/eapi). The keyword options
    are BinanceClient's."""

    _listing = "optionSymbols"

    def __init__(self, base_url: str, api_key: str | None = None, signer: Signer | None = None, **options):
        super().__init__(base_url, venues.OPTIONS, api_key, signer, **options)

    # ---- public endpoints -------------------------------------------------------------------------------

    def underlyings(self) -> set[str]:
        """The underlyings exchangeInfo's optionSymbols list (weight 1), to check one before configuring its
        switch."""
        found = set()
        for item in self.exchange_info()["optionSymbols"]:
            if isinstance(item, dict) and isinstance(item.get("underlying"), str):
                found.add(item["underlying"])
        return found

    # ---- the kill switch --------------------------------------------------------------------------------

    def set_countdown(
        self, underlying: str, countdown_ms: int, *, signed_at: float | None = None
    ) -> UnderlyingCountdownAck:
        """POST /eapi/v1/countdownCancelAll (weight 1): configures the underlying's switch and starts it from
        now; countdown_ms=0 turns it off. Binance refuses 0 < countdown_ms < venues.OPTIONS.countdown.min_ms
        (5,000): refused here with ValueError, nothing sent. Returns only when the exchange acknowledged
        exactly this request; raises the error tree otherwise (-1128, an underlying it does not know, is a
        FatalError).

        Like FuturesClient.countdown(): signed at once with the offset already known (`signed_at`, epoch s,
        when the caller's check that it is still wanted came earlier than now), no clock sync and no retry
        inside; on TimestampError the caller syncs (sync_time()) and decides again. Only a client that never
        measured the clock measures it here first."""
        _check_underlying(underlying)
        _check_countdown(countdown_ms)
        endpoint = f"POST {self.prefix}/v1/countdownCancelAll"
        self._sync_once()
        params = {"underlying": underlying, "countdownTime": countdown_ms}
        reply = self._signed("POST", "/v1/countdownCancelAll", params, keep_time=False, at=signed_at)
        data = reply.data
        acked_ms = _as_int(data.get("countdownTime")) if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("underlying") != underlying or acked_ms != countdown_ms:
            raise _not_acknowledged(reply, endpoint, "this countdown configuration")
        return UnderlyingCountdownAck(underlying=underlying, countdown_ms=acked_ms, **_timing(reply))

    def countdown(
        self, underlying: str, countdown_ms: int, *, signed_at: float | None = None
    ) -> UnderlyingCountdownAck:
        """FuturesClient.countdown()'s counterpart, so that one sender arms and disarms switches of either
        kind: set_countdown()."""
        return self.set_countdown(underlying, countdown_ms, signed_at=signed_at)

    def countdowns(self, underlying: str | None = None) -> list[UnderlyingCountdown]:
        """GET /eapi/v1/countdownCancelAll (weight 1): the active switches (Binance leaves out those turned
        off), of one underlying or of all. Binance answers one {"underlying", "countdownTime"} object ({} when
        there is none), or a list of them."""
        params = {}
        if underlying is not None:
            _check_underlying(underlying)
            params["underlying"] = underlying
        data = self._signed("GET", "/v1/countdownCancelAll", params).data
        if isinstance(data, dict):
            data = [data] if data else []
        found = []
        for item in data if isinstance(data, list) else [None]:
            name = item.get("underlying") if isinstance(item, dict) else None
            countdown_ms = _as_int(item.get("countdownTime")) if isinstance(item, dict) else None
            if not isinstance(name, str) or countdown_ms is None:
                raise TemporaryError(
                    "Unexpected countdownCancelAll answer.",
                    endpoint=f"GET {self.prefix}/v1/countdownCancelAll",
                )
            found.append(UnderlyingCountdown(name, countdown_ms))
        return found

    def heartbeat(self, underlyings, *, signed_at: float | None = None) -> HeartbeatResult:
        """POST /eapi/v1/countdownCancelAllHeartBeat (weight 10, whatever the number of underlyings): restarts
        the configured switches of `underlyings` (an iterable, sent comma-separated) from now. Binance answers
        with the underlyings it renewed; the result's `missing` lists those asked for that it did not (no
        switch configured there): not renewed, so failures. An answer without that list, or naming one not
        asked for, raises OutcomeUnknownError. Signed and never repeated, as set_countdown() is."""
        if isinstance(underlyings, str):
            underlyings = underlyings.split(",")
        asked = tuple(dict.fromkeys(underlyings))
        if not asked:
            raise ValueError("A heartbeat names at least one underlying.")
        for underlying in asked:
            _check_underlying(underlying)
        endpoint = f"POST {self.prefix}/v1/countdownCancelAllHeartBeat"
        self._sync_once()
        params = {"underlyings": ",".join(asked)}
        reply = self._signed("POST", "/v1/countdownCancelAllHeartBeat", params, keep_time=False, at=signed_at)
        listed = reply.data.get("underlyings") if isinstance(reply.data, dict) else None
        if not isinstance(listed, list) or not all(isinstance(u, str) and u in asked for u in listed):
            raise _not_acknowledged(reply, endpoint, "this heartbeat")
        renewed = frozenset(listed)
        return HeartbeatResult(
            asked=asked,
            renewed=renewed,
            missing=tuple(u for u in asked if u not in renewed),
            **_timing(reply),
        )

    # ---- orders -----------------------------------------------------------------------------------------

    def check_key(self) -> None:
        """Proves the API key, its options permission, signature and IP whitelist with a signed GET
        /eapi/v1/openOrders (weight 40). Returns None when accepted; raises the error tree otherwise."""
        self.open_orders()

    def open_orders(self, symbol: str | None = None, underlying: str | None = None) -> list[dict]:
        """GET /eapi/v1/openOrders (weight 1 with a symbol, 40 without): of a symbol, an underlying or all."""
        params = {}
        if symbol is not None:
            self._check_symbol(symbol)
            params["symbol"] = symbol
        if underlying is not None:
            _check_underlying(underlying)
            params["underlying"] = underlying
        data = self._signed("GET", "/v1/openOrders", params).data
        if not isinstance(data, list):
            raise TemporaryError("Unexpected openOrders answer.", endpoint=f"GET {self.prefix}/v1/openOrders")
        return data

    def cancel_all_by_underlying(self, underlying: str) -> dict:
        """DELETE /eapi/v1/allOpenOrdersByUnderlying (weight 5): cancels every open order of the underlying.
        Returns Binance's acknowledgement ({"code": 0, "msg": "success"}); a success status without it raises
        OutcomeUnknownError, since the orders may or may not be gone."""
        _check_underlying(underlying)
        reply = self._signed("DELETE", "/v1/allOpenOrdersByUnderlying", {"underlying": underlying})
        return self._cancel_ack(reply, "allOpenOrdersByUnderlying")

    def cancel_all_open_orders(self, symbol: str) -> dict:
        """DELETE /eapi/v1/allOpenOrders (weight 1): cancels every open order of one option symbol. Returns
        Binance's acknowledgement, as cancel_all_by_underlying() does."""
        self._check_symbol(symbol)
        reply = self._signed("DELETE", "/v1/allOpenOrders", {"symbol": symbol})
        return self._cancel_ack(reply, "allOpenOrders")

    # ---- plumbing ---------------------------------------------------------------------------------------

    @staticmethod
    def _check_symbol(symbol) -> None:
        if not isinstance(symbol, str) or not _OPTION_SYMBOL.fullmatch(symbol):
            raise ValueError("An option symbol looks like BTC-261225-100000-C.")

    def _cancel_ack(self, reply: _Reply, path: str) -> dict:
        if not isinstance(reply.data, dict) or _as_int(reply.data.get("code")) != 0:
            raise _not_acknowledged(reply, f"DELETE {self.prefix}/v1/{path}", "cancelling the orders")
        return reply.data


def underlying_of(order: dict) -> str | None:
    """The underlying of an order /eapi listed: its symbol's base and its quote asset ("BTC-261225-100000-C"
    quoted in USDT: "BTCUSDT", as exchangeInfo pairs them); None when the order does not say. Binance's
    openOrders page documents no `underlying` filter, so a reading of one underlying is sorted here too."""
    symbol = order.get("symbol")
    if not isinstance(symbol, str) or symbol.count("-") != 3:
        return None
    quote = order.get("quoteAsset") or "USDT"  # every Binance option is quoted and settled in USDT
    return f"{symbol.split('-')[0]}{quote}"


def _check_underlying(underlying) -> None:
    if not isinstance(underlying, str) or not _UNDERLYING.fullmatch(underlying):
        raise ValueError("An underlying is 2-20 upper-case letters or digits (e.g. BTCUSDT).")


def _check_countdown(countdown_ms) -> None:
    minimum = venues.OPTIONS.countdown.min_ms
    if isinstance(countdown_ms, bool) or not isinstance(countdown_ms, int) or countdown_ms < 0:
        raise ValueError("countdown_ms must be a non-negative integer (0 turns the switch off).")
    if 0 < countdown_ms < minimum:
        raise ValueError(
            f"Binance Options refuses a countdown under {minimum:,} ms: 0 turns it off, otherwise at least "
            f"{minimum:,} ms."
        )
