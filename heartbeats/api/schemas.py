"""What the API accepts and answers, as the OpenAPI document shows it. The status and policy rows are the
board's own JSON (presenters.Snapshot.as_json), described there rather than copied here."""

from datetime import datetime
from typing import Annotated

from ninja import Schema
from pydantic import BeforeValidator, Field, field_validator

from heartbeats import text
from heartbeats.domain.validation import plain_id

REASON_MAX = 1000  # as the pages' forms
# Every `symbol` the API shows: what the switch covers on the policy's venue.
SYMBOL_DOC = (
    "The policy's symbol (BTCUSDT, BTCUSD_PERP); on an Options account the underlying its switch covers "
    '(BTCUSDT: every BTC option); on an OKX or Kraken Futures account "" for the whole account, or on OKX '
    'an order tag (its `covers` is then "account").'
)

SWITCH_DOC = 'What the switch covers, in words: the symbol, "whole account" or "tag mm1".'


def _plain_id(value):
    """An id is a JSON number or plain ASCII digits: pydantic alone would also take "+1", " 1 ", "1_0", 1.0
    and true."""
    number = plain_id(value) if not isinstance(value, float) else None
    if number is None:
        raise ValueError("Input should be a valid integer, in plain digits")
    return number


Id = Annotated[int, BeforeValidator(_plain_id)]


class Error(Schema):
    detail: str = Field(description="What was wrong, in a sentence.")


class ReasonIn(Schema):
    reason: str = Field(
        max_length=REASON_MAX, description="Why: kept in the audit trail with the token's name."
    )

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("Give a reason: it is kept in the audit trail under the token's name.")
        why = text.refusal(value, multiline=True)
        if why:
            raise ValueError(why)
        return value


class DisarmAllIn(ReasonIn):
    accounts: list[Id] | None = Field(
        default=None,
        description="Account ids to disarm; leave it out (or null) to disarm every account. An empty list is "
        "refused, so a script that found no accounts cannot disarm them all by mistake.",
    )


class CancelOrdersIn(ReasonIn):
    policy: Id | None = Field(default=None, description="One policy's symbol.")
    account: Id | None = Field(default=None, description="Every policy of this account.")
    strategy: Id | None = Field(default=None, description="Every policy of this strategy.")
    all: bool = Field(default=False, description="Every policy of every account.")
    disarm: bool = Field(default=False, description="Disarm the countdowns too (otherwise they stay armed).")


class OperationOut(Schema):
    id: int | None = Field(description="None while a disarm waits to be recorded (see `detail`).")
    action: str
    at: datetime
    username: str = Field(description="Who acted: api:<token name>.")
    reason: str
    policies: int = Field(description="How many policies it lists.")
    results_url: str | None = Field(
        description="GET it for the per-policy results as the exchange answers (None until recorded)."
    )
    detail: str = Field(
        "",
        description="Set when another process held the database's locks: the zeros were sent at once and "
        "the disarm is recorded as soon as the database frees.",
    )


class ResultRow(Schema):
    policy: int | None = Field(description="The policy's id; null once it is deleted.")
    account: str
    symbol: str = Field(description=SYMBOL_DOC)
    switch: str = Field("", description=SWITCH_DOC)
    generation: int
    result: str = Field(description="disarmed, armed, retrying, failed or superseded.")
    status: str
    detail: str
    error: str
    attempts: int
    last_outcome: str
    latency_ms: float | None
    sent_at: datetime | None


class TargetRow(Schema):
    policy: int | None = Field(description="The policy's id; null once it is deleted.")
    account: str
    symbol: str = Field(description=SYMBOL_DOC)
    switch: str = Field("", description=SWITCH_DOC)
    generation: int | None = Field(description="The generation the operation gave the policy or found on it.")
    changed: bool = Field(description="Whether the operation gave it that generation (an arm or a disarm).")
    effect: str = Field(
        description="What it did to the policy: armed, disarmed, unchanged, orders_cancelled, held, "
        "released, created, edited or deleted."
    )


class CancelRow(Schema):
    account: str
    symbol: str = Field(description=SYMBOL_DOC)
    switch: str = Field("", description=SWITCH_DOC)
    kind: str = Field(description="`orders` (plain open orders) or `algo` (conditional orders).")
    state: str = Field(description="pending, done, failed or skipped (not sent: the address is paused).")
    error: str
    found: int | None = Field(
        None,
        description="Orders of this kind on the symbol as the guard last read them before the press (orders "
        "at stake; all cancelled when `state` is done); null when no reading was that recent.",
    )


class OperationResultsOut(Schema):
    id: int
    action: str
    at: datetime
    username: str
    reason: str
    done: bool = Field(description="True once no result is `retrying` (nor a cancel `pending`) any more.")
    results: list[ResultRow]
    cancels: list[CancelRow] = Field(
        default_factory=list, description="Cancel orders now: each symbol's and kind's answer."
    )
    targets: list[TargetRow] = Field(
        default_factory=list, description="Every policy the operation acted on, and what it did to each."
    )
