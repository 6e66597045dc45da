"""What the engine's threads tell its loop, through its inbox: small named types, one per kind of news."""

from dataclasses import dataclass

from heartbeats.engine.plan import PolicyState
from heartbeats.engine.sender import Result


@dataclass(frozen=True)
class BeatDone:
    """A sender thread finished a request (or skipped it)."""

    result: Result
    sent: bool = True


@dataclass(frozen=True)
class HeartbeatDone:
    """One heartbeat call renewing several switches of an account: a result per switch, and the weight
    charged for the call (given back if none of them went)."""

    results: list[Result]
    receipt: tuple
    endpoint: tuple[str, str]
    weight: int


@dataclass(frozen=True)
class DesiredChanged:
    """The watcher's fast path: only (policy id, generation, armed, desired_changed_at) of changed rows."""

    rows: list[tuple[int, int, bool, float | None]]


@dataclass(frozen=True)
class RowsChanged:
    """Whole rows of the policies people changed (edits too)."""

    states: list[PolicyState]


@dataclass(frozen=True)
class AllRows:
    """The egress's whole policy set: anything missing was deleted or moved away."""

    states: list[PolicyState]


@dataclass(frozen=True)
class AccountsChanged:
    """The egress's accounts, and the stored limits of their addresses (base URL → ratelimits.Snapshot)."""

    accounts: list
    snapshots: dict


@dataclass(frozen=True)
class ClockSynced:
    account_id: int
    error: str


@dataclass(frozen=True)
class LimitRead:
    """The weight limit an account's exchangeInfo announced."""

    endpoint: tuple[str, str]
    limit: int | None
    used: int | None


@dataclass(frozen=True)
class AddressRead:
    """The stored state of one address's limits (ratelimits.Snapshot), as every process left it."""

    base_url: str
    snapshot: object


@dataclass(frozen=True)
class Redecide:
    """A request was not sent because its decision had grown stale (see Engine._stale): its timer key."""

    key: tuple


@dataclass(frozen=True)
class Wake:
    """The lease keeper took or lost the lease: look at the engine's state now."""
