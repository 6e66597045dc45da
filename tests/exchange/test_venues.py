"""The venues' facts in one place (heartbeats.exchange.venues): the client, the accounts' choices and base
URLs, and the symbol rules all follow them."""

import pytest

from heartbeats.domain.validation import symbol_format_error
from heartbeats.exchange import venues
from heartbeats.exchange.client import FuturesClient
from heartbeats.exchange.factory import make_client
from heartbeats.models import BASE_URLS, Environment, Venue


@pytest.mark.parametrize("spec", list(venues.VENUES.values()), ids=list(venues.VENUES))
def test_each_venue_is_offered_sent_to_and_named_as_it_says(spec):
    assert (spec.key, spec.label) in Venue.choices
    for environment, url in spec.base_urls.items():
        assert BASE_URLS[(Environment(environment), Venue(spec.key))] == url
    client = make_client(spec.base_urls["production"], spec.key)
    assert client.prefix == spec.prefix and client.spec is spec
    assert symbol_format_error(spec.symbol_example, spec.key) is None
    if spec.covers == venues.ACCOUNT:
        assert symbol_format_error("", spec.key) is None  # blank: the whole account
    else:
        assert spec.symbol_example in symbol_format_error("", spec.key)


def test_an_unknown_venue_is_refused_with_the_known_ones_named():
    with pytest.raises(ValueError, match="Unknown venue 'eapi': expected one of usdm, coinm"):
        FuturesClient("https://fapi.binance.com", venue="eapi")
