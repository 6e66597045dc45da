"""Policies and their accounts as the live pages read them: the columns they show and the stored facts
`CountdownPolicy.status()` reads, loaded as plain rows; and the orders at stake beside them, likewise.

The board's JSON is polled every second by every open board. At a thousand policies, building a model
instance per row (and one per account) costs more than everything else a poll does, so these light objects
stand in for them. They borrow the models' own methods (`status()`, `late_after`, `in_disarm_all_scope`,
`base_url`), so there is still one place each of those is computed. Account secrets are never selected.

Most rows are the same from one read to the next (a beat changes a few policies a second), so each process
keeps the objects it made from the last read, keyed by the rows they were made from: a row read again
unchanged gets the same object back, and only new or changed rows go through Django's conversions of every
value (each date made time-zone aware, each flag a bool) and become new objects. On SQLite those conversions
and objects cost about as much as the read itself. Looking the whole row up (hashed and compared in C) is
what tells it is unchanged: whichever process wrote it, a changed value makes a different key.
"""

from collections import namedtuple

from django.db.models import F, Func

from heartbeats.domain import compiled
from heartbeats.models import CountdownPolicy, ExchangeAccount, OrdersAtStake

ACCOUNT_FIELDS = ("id", "label", "venue", "environment", "custom_base_url", "egress", "enabled")
POLICY_FIELDS = (
    "id",
    "account_id",
    "symbol",
    "countdown_ms",
    "interval_s",
    "armed",
    "generation",
    "last_arm_sent_at",
    "last_arm_countdown_ms",
    "last_arm_generation",
    "disarm_acked_at",
    "disarm_acked_generation",
    "last_attempt_at",
    "last_outcome",
    "last_error",
    "fatal_generation",
    "strategy_id",
    "desired_changed_at",  # orders at stake: read again after an arm or a disarm
)


# What the live pages show of a policy's orders at stake (OrdersAtStake, the policy's id first).
STAKE_FIELDS = (
    "policy_id",
    "orders",
    "algo_orders",
    "buy_notional",
    "sell_notional",
    "checked_at",
    "error",
    "gone_at",
    "gone_count",
)


class AccountFacts:
    __slots__ = ACCOUNT_FIELDS
    base_url = ExchangeAccount.base_url
    limit_address = ExchangeAccount.limit_address
    environment_name = ExchangeAccount.environment_name

    def __init__(self, values):
        for name, value in zip(ACCOUNT_FIELDS, values, strict=True):
            setattr(self, name, value)

    @property
    def pk(self):
        return self.id

    def __str__(self):
        return self.label


class PolicyFacts(namedtuple("PolicyColumns", (*POLICY_FIELDS, "account"))):
    """A policy's columns and its AccountFacts; a tuple, the cheapest object Python builds."""

    __slots__ = ()
    status = CountdownPolicy.status
    late_after = CountdownPolicy.late_after
    in_disarm_all_scope = CountdownPolicy.in_disarm_all_scope
    switch_name = CountdownPolicy.switch_name
    switch_title = CountdownPolicy.switch_title
    covered_orders = CountdownPolicy.covered_orders

    @property
    def pk(self):
        return self.id

    def __str__(self):
        return f"{self.account.label} {self.switch_title}"


def load_policies() -> list[PolicyFacts]:
    """Every policy with its account, in no particular order (the pages sort rows themselves). Two queries:
    joining the account's columns onto every policy row costs more than reading the accounts apart."""
    global _accounts_made, _policies_made
    accounts, accounts_made = _read(_accounts_query, _accounts_made, AccountFacts)
    by_id = {account.id: account for account in accounts}
    made_with, kept = _policies_made
    if made_with is not accounts_made:
        # The accounts changed (or another thread read them meanwhile): keep only the policies made with this
        # read's account objects, not older ones with other values.
        kept = {row: p for row, p in kept.items() if p is not None and by_id.get(p.account_id) is p.account}

    def make(values):
        account = by_id.get(values[1])
        # A policy of an account added between the two reads: next time.
        return None if account is None else PolicyFacts._make((*values, account))

    policies, policies_made = _read(_policies_query, kept, make)
    _accounts_made, _policies_made = accounts_made, (accounts_made, policies_made)
    return [p for p in policies if p is not None]


class StakeFacts(namedtuple("StakeColumns", STAKE_FIELDS)):
    """A policy's orders at stake as the exchange last answered (heartbeats.desk.killswitch.stake)."""

    __slots__ = ()


def load_stakes() -> dict[int, StakeFacts]:
    """Every policy's orders at stake, by policy id. One query: with the guard reading orders, nearly every
    armed policy has a row, and a model instance each would cost more than the policies themselves."""
    global _stakes_made
    stakes, _stakes_made = _read(_stakes_query, _stakes_made, StakeFacts._make)
    return {k.policy_id: k for k in stakes}


# What the last read made of each row: {the row as the database returned it: the object made from it}; the
# policies' with the accounts' dict they were made with. See the module's docstring. Replaced whole by each
# read, so threads sharing them never see one half-updated.
_accounts_made: dict = {}
_policies_made: tuple[dict, dict] = ({}, {})
_stakes_made: dict = {}


# The accounts', policies' and orders at stake's values_list() queries, compiled once per thread (compiled).
def _accounts_query():
    return ExchangeAccount.objects.order_by().values_list(*_columns(ExchangeAccount, ACCOUNT_FIELDS))


def _policies_query():
    return CountdownPolicy.objects.order_by().values_list(*_columns(CountdownPolicy, POLICY_FIELDS))


def _stakes_query():
    return OrdersAtStake.objects.order_by().values_list(*_columns(OrdersAtStake, STAKE_FIELDS))


class Stored(Func):
    """A column as the database stores it. On SQLite, a column with a declared type has the driver convert
    every value of every row (a date parsed, a flag made a bool) before the rows are compared with the last
    read's; as an expression (`+column`, which changes no value) it has no declared type, and Django's own
    conversions, applied to new rows only, do the same work."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra)


def _columns(model, names) -> list:
    """`names` for values_list(), in their order, dates and flags as Stored()."""
    converted = ("DateTimeField", "BooleanField")
    fields = [model._meta.get_field(name.removesuffix("_id")) for name in names]
    return [
        Stored(F(name), output_field=field) if field.get_internal_type() in converted else name
        for name, field in zip(names, fields, strict=True)
    ]


def _read(build, previous: dict, make) -> tuple[list, dict]:
    """`make(values)` for each row of the values_list() query `build()` makes (one that selects the id), and
    what the next read takes from: a row read again unchanged is not converted again. When every row is,
    `previous` itself comes back, so its identity says that nothing changed."""
    rows, compiler = compiled.fetch(build)
    objects = list(map(previous.get, rows))  # None: a new or changed row (or one make() turned down)
    if len(rows) == len(previous) and None not in objects:
        return objects, previous
    new = [row for row, made in zip(rows, objects, strict=True) if made is None]
    fresh = dict(zip(new, map(make, compiled.convert(new, compiler)), strict=True))
    objects = [fresh[row] if made is None else made for row, made in zip(rows, objects, strict=True)]
    # In the database's order, as values_list() gives them.
    return objects, dict(zip(rows, objects, strict=True))
