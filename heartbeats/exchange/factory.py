"""The one place that picks a venue's client and signer: FuturesClient for USD-M and COIN-M, OptionsClient for
Binance Options, and each other family's own (exchange.venues: `family`). Every other module asks here
(domain.clients for accounts, domain.symbols for listings)."""

from heartbeats.exchange import venues
from heartbeats.exchange.client import BinanceClient, FuturesClient
from heartbeats.exchange.options import OptionsClient
from heartbeats.exchange.signing import Signer, load_signer


def make_client(
    base_url: str, venue: str, api_key: str | None = None, signer: Signer | None = None, **options
) -> BinanceClient:
    """A client of `venue` (a key of venues.VENUES; ValueError naming the known ones otherwise)."""
    spec = venues.venue(venue)
    if spec.family != "binance":
        return _family_module(spec).client(base_url, api_key, signer, **options)
    if spec.arming == venues.CONFIG_AND_HEARTBEAT:
        return OptionsClient(base_url, api_key, signer, **options)
    return FuturesClient(base_url, venue, api_key, signer, **options)


def make_signer(venue: str, key_type: str, secret: str, passphrase: str | None = None):
    """The request signer for a key of `venue`. InvalidKeyError (a ValueError) for unusable key material."""
    spec = venues.venue(venue)
    if spec.family != "binance":
        return _family_module(spec).signer(secret, passphrase)
    return load_signer(key_type, secret, passphrase)


def _family_module(spec: venues.Venue):
    # Imported when first used: a desk without these venues never loads them.
    if spec.family == "okx":
        from heartbeats.exchange import okx

        return okx
    if spec.family == "kraken":
        from heartbeats.exchange import kraken

        return kraken
    raise ValueError(f"No client for the {spec.label} venue.")
