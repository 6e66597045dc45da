"""Countdown Guard's data, one module per subject; Django finds every model of the app through this package.

Stored facts live here; the one computed view of a policy is `CountdownPolicy.status()`, which every consumer
(views, JSON, admin, engine, commands) calls instead of re-deriving it.
"""

from heartbeats.models.accounts import (
    BASE_URLS,
    SECRET_FIELDS,
    AccountQuerySet,
    Environment,
    ExchangeAccount,
    KeyType,
    Venue,
)
from heartbeats.models.alerts import (
    AlertChannel,
    AlertCondition,
    AlertEvent,
    Delivery,
    Notification,
    NotificationKind,
)
from heartbeats.models.changes import ChangeCount
from heartbeats.models.devices import AuthenticatorApp
from heartbeats.models.duties import Duty
from heartbeats.models.engines import AddressLimits, EngineLiveness
from heartbeats.models.operations import (
    GENERATION_EFFECTS,
    Action,
    AppendOnlyError,
    Effect,
    Operation,
    OperationTarget,
)
from heartbeats.models.orders import CancelState, OrderCancel, OrderKind, OrdersAtStake
from heartbeats.models.policies import (
    DESIRED_FIELDS,
    ENGINE_FACTS,
    STATUS_RISK,
    Beat,
    BeatKind,
    CountdownPolicy,
    Outcome,
    PolicyQuerySet,
    PolicyStatus,
    Status,
)
from heartbeats.models.strategies import HoldReason, PingKind, Strategy, StrategyPing
from heartbeats.models.throttles import Throttle
from heartbeats.models.tokens import ApiToken
from heartbeats.models.windows import MaintenanceWindow, WindowState

__all__ = [
    "BASE_URLS",
    "DESIRED_FIELDS",
    "ENGINE_FACTS",
    "GENERATION_EFFECTS",
    "SECRET_FIELDS",
    "STATUS_RISK",
    "AccountQuerySet",
    "ChangeCount",
    "Action",
    "AddressLimits",
    "AlertChannel",
    "AlertCondition",
    "AlertEvent",
    "ApiToken",
    "AppendOnlyError",
    "AuthenticatorApp",
    "Beat",
    "BeatKind",
    "CancelState",
    "CountdownPolicy",
    "Delivery",
    "Duty",
    "Effect",
    "EngineLiveness",
    "Environment",
    "ExchangeAccount",
    "HoldReason",
    "KeyType",
    "MaintenanceWindow",
    "Notification",
    "NotificationKind",
    "Operation",
    "OperationTarget",
    "OrderCancel",
    "OrderKind",
    "OrdersAtStake",
    "Outcome",
    "PingKind",
    "PolicyQuerySet",
    "PolicyStatus",
    "Status",
    "Strategy",
    "StrategyPing",
    "Throttle",
    "Venue",
    "WindowState",
]
