"""Cancel orders now and orders at stake where a switch covers a whole account (venues.ACCOUNT), each exchange
family its own way (venues.Venue.family). A policy's symbol is its switch's scope: "" for the account's
switch, or (OKX) an order tag, whose switch covers only the orders placed with that tag.

- OKX: every pending order, plain and algo. OKX has no call that cancels an account's orders, so
  OkxClient.cancel_all() lists both kinds and cancels them in batches; one press of a switch is that one
  call, recorded as two rows (its plain orders, its algo orders), each with what was listed and cancelled.
- Kraken Futures: every open order, with one POST cancelallorders, whose answer lists what it cancelled;
  one row. Kraken Futures has no conditional orders kept apart.

A request is sent once: an error (a rate limit included) is reported, never retried here.
"""

from dataclasses import dataclass

from heartbeats.exchange import venues
from heartbeats.models.orders import OrderKind


@dataclass(frozen=True)
class Cancelled:
    """What one kind of a switch's orders came to: how many were found and how many went; `error` says why
    the others did not ("" when all went)."""

    found: int
    cancelled: int
    error: str = ""


def covers_account(account) -> bool:
    return venues.venue(account.venue).covers == venues.ACCOUNT


def scope_words(venue_key: str, scope: str) -> str:
    """What one switch's press cancels, in words: "every open order of the account" (OKX: "plain and algo
    orders"), "every order tagged mm1"."""
    if scope:
        return f"every order tagged {scope}"
    if family(venue_key).kinds == (OrderKind.ORDERS, OrderKind.ALGO):
        return "every open order of the account, plain and algo orders"
    return "every open order of the account"


def family(venue_key: str):
    return _FAMILIES[venues.venue(venue_key).family]


class _Okx:
    kinds = (OrderKind.ORDERS, OrderKind.ALGO)
    how = (
        "On OKX, the orders, plain and algo orders, are listed and cancelled in batches (OKX has no single "
        "request for it)."
    )

    @staticmethod
    def cancel(client, scope: str) -> dict[str, Cancelled]:
        done = client.cancel_all(scope)
        return {
            OrderKind.ORDERS: _counted(done.found_orders, len(done.orders), done.failed, "order"),
            OrderKind.ALGO: _counted(done.found_algo_orders, len(done.algo_orders), done.failed, "algo"),
        }

    @staticmethod
    def read_orders(client) -> list[dict]:
        return client.open_orders()

    @staticmethod
    def read_algo(client) -> list[dict] | None:
        # Six listings (one per algo order type OKX keeps apart): the dearest part of a reading (stake.py
        # lists them less often than the plain orders).
        return client.open_algo_orders()

    @staticmethod
    def own(orders: list[dict], scope: str) -> list[dict]:
        from heartbeats.exchange.okx import tagged

        return tagged(orders, scope)

    @staticmethod
    def notional(orders: list[dict], side: str) -> float | None:
        return None  # OKX sizes derivatives in contracts: a notional needs each instrument's contract value


class _Kraken:
    kinds = (OrderKind.ORDERS,)
    how = "On Kraken Futures, every open order of the account goes with one request (cancelallorders)."

    @staticmethod
    def cancel(client, scope: str) -> dict[str, Cancelled]:
        status = client.cancel_all()
        gone = status.get("cancelledOrders")
        count = len(gone) if isinstance(gone, list) else 0
        return {OrderKind.ORDERS: Cancelled(found=count, cancelled=count)}

    @staticmethod
    def read_orders(client) -> list[dict]:
        return client.open_orders()

    @staticmethod
    def read_algo(client) -> list[dict] | None:
        return None  # Kraken Futures keeps no algo orders apart

    @staticmethod
    def own(orders: list[dict], scope: str) -> list[dict]:
        return orders  # one switch per account: all of them

    @staticmethod
    def notional(orders: list[dict], side: str) -> float | None:
        total = 0.0
        for o in orders:
            if str(o.get("side", "")).upper() != side:
                continue
            try:
                total += float(o.get("limitPrice") or 0) * max(0.0, float(o.get("unfilledSize") or 0))
            except (TypeError, ValueError):
                return None
        return round(total, 2)


_FAMILIES = {"okx": _Okx, "kraken": _Kraken}


def _counted(found: int, cancelled: int, failed, kind: str) -> Cancelled:
    refused = [f for f in failed if f.get("kind") == kind]
    if not refused:
        return Cancelled(found, cancelled)
    first = refused[0]
    why = f"{first.get('sCode')} {first.get('sMsg') or ''}".strip()
    return Cancelled(found, cancelled, f"{len(refused)} of {found} not cancelled (the exchange said: {why}).")
