"""What every venue's handlers share: the checked request a handler gets (`Call`) and a route's description
(`Route`). Apart from the pipeline in endpoints.py so that venue modules (options.py) can use them too."""

from collections.abc import Callable
from dataclasses import dataclass, field

from . import errors, symbols
from .book import Account
from .exchange import Exchange
from .wire import Params

NONE, USER_DATA, TRADE = "NONE", "USER_DATA", "TRADE"


@dataclass
class Call:
    """What a handler needs: the checked request and the exchange it acts on."""

    exchange: Exchange
    venue: str
    params: Params
    account: Account | None
    server_ms: int
    entry: dict
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers set by the handler

    def market(self, required: bool = True, trading: bool = True) -> symbols.Market | None:
        name = self.params.symbol(required)
        if name is None:
            return None
        found = symbols.market(self.venue, name)
        if found is None:
            raise errors.invalid_symbol()
        if trading and not found.trading:
            raise errors.invalid_symbol_status()
        return found

    def order_reference(
        self, client_id_param: str, missing: Callable[[], Exception]
    ) -> tuple[int | None, str | None]:
        """The order a query or cancel names: its orderId or its client id (under the venue's own parameter
        name); `missing()` is raised when it names neither."""
        order_id = self.params.long("orderId", required=False)
        client_order_id = self.params.text(client_id_param, required=False)
        if order_id is None and client_order_id is None:
            raise missing()
        return order_id, client_order_id

    def count_order(self) -> None:
        """Binance's X-MBX-ORDER-COUNT-* headers, sent with the answer to a new order."""
        in_10s, in_1m = self.exchange.order_counts(self.account)
        self.headers.update({"X-MBX-ORDER-COUNT-10S": str(in_10s), "X-MBX-ORDER-COUNT-1M": str(in_1m)})


@dataclass(frozen=True)
class Route:
    handler: Callable[[Call], object]
    security: str
    weight: Callable[[Params], int]


def fixed(weight: int) -> Callable[[Params], int]:
    return lambda params: weight
