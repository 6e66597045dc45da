"""The one place that picks a venue's client class: FuturesClient for USD-M and COIN-M, OptionsClient for
Binance Options. Every other module asks here (domain.clients for accounts, domain.symbols for listings)."""

from heartbeats.exchange import venues
from heartbeats.exchange.client import BinanceClient, FuturesClient
from heartbeats.exchange.options import OptionsClient
from heartbeats.exchange.signing import Signer


def make_client(
    base_url: str, venue: str, api_key: str | None = None, signer: Signer | None = None, **options
) -> BinanceClient:
    """A client of `venue` (a key of venues.VENUES; ValueError naming the known ones otherwise)."""
    if venues.renews_many(venue):
        return OptionsClient(base_url, api_key, signer, **options)
    return FuturesClient(base_url, venue, api_key, signer, **options)
