"""Policies and their accounts as the live pages read them: the columns they show and the stored facts
`CountdownPolicy.status()` reads, loaded as plain rows.

The board's JSON is polled every second by every open board. At a thousand policies, building a model
instance per row (and one per account) costs more than everything else a poll does, so these light objects
stand in for them. They borrow the models' own methods (`status()`, `late_after`, `in_disarm_all_scope`,
`base_url`), so there is still one place each of those is computed. Account secrets are never selected.
"""

from collections import namedtuple

from heartbeats.models import CountdownPolicy, ExchangeAccount

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


class AccountFacts:
    __slots__ = ACCOUNT_FIELDS
    base_url = ExchangeAccount.base_url

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

    @property
    def pk(self):
        return self.id

    def __str__(self):
        return f"{self.account.label} {self.symbol}"


def load_policies() -> list[PolicyFacts]:
    """Every policy with its account, in no particular order (the pages sort rows themselves). Two queries:
    joining the account's columns onto every policy row costs more than reading the accounts apart."""
    accounts = {
        values[0]: AccountFacts(values)
        for values in ExchangeAccount.objects.order_by().values_list(*ACCOUNT_FIELDS)
    }
    make = PolicyFacts._make
    return [
        make((*values, accounts[values[1]]))
        for values in CountdownPolicy.objects.order_by().values_list(*POLICY_FIELDS)
        if values[1] in accounts  # a policy of an account added between the two reads: next time
    ]
