"""The one home of a beat's decisions, pure functions that every sender (the engine, the web's fallback)
asks:

- next_send(): what, if anything, to send for a policy and when, from its desired state, the facts recorded
  about the exchange and the sender's retry bookkeeping;
- merge_row() / merge_desired(): how what is read from the database joins a sender's working copy (a
  newer generation wins, facts only move forward);
- owes_disarm(): whether a disarm is still owed (the model's owes_disarm_q() is the same rule as a query);
- vet(): the last word just before signing, from a fresh read of the desired state.

A beat's path: desired state (actions) → next_send (plan) → vet (plan) → sign and send (sender) → facts
(records) → next_send again. Times are epoch seconds."""

from dataclasses import dataclass
from datetime import UTC, datetime

ARM = "arm"
DISARM = "disarm"
# The second `0`, sent once no beat signed before the disarm can still be accepted by the exchange.
FINAL = "final"

PRIORITY = {DISARM: 0, FINAL: 0, ARM: 1}


def epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def as_datetime(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


@dataclass
class PolicyState:
    """The engine's working copy of one policy. Desired fields follow the database; facts are the engine's
    own (written behind it by the writer) and only ever move forward when merged from the database."""

    id: int
    account_id: int
    symbol: str
    countdown_ms: int
    interval_s: int
    armed: bool
    generation: int
    enabled: bool = True
    desired_changed_at: float | None = None
    # When this engine first saw the current generation (its own clock): the second `0` waits from the later
    # of this and `desired_changed_at`, so a web host's clock running behind cannot make it early.
    observed_at: float | None = None
    updated_at: float | None = None
    last_arm_sent_at: float | None = None
    last_arm_countdown_ms: int | None = None
    last_arm_generation: int | None = None
    disarm_acked_at: float | None = None
    disarm_acked_generation: int | None = None
    final_disarm_generation: int | None = None
    fatal_generation: int | None = None
    next_due_at: float | None = None
    # Engine bookkeeping, never stored.
    in_flight: bool = False
    # In a heartbeat call that renews several switches at once (see next_send).
    in_heartbeat: bool = False
    # When this engine last sent a countdown request for it (a venue may limit a switch's requests a second).
    last_request_at: float = 0.0
    retry_at: float | None = None
    attempts: int = 0
    removed: bool = False
    # The last hold its strategy gave (recorded once, not at every recheck).
    held_note: str = ""
    # Venues whose switches are configured once, then renewed by heartbeats: this engine saw the exchange
    # hold this generation's configuration (a configuration it sent, or a heartbeat that renewed it).
    configured: bool = False

    @property
    def failing(self) -> bool:
        return self.fatal_generation is not None and self.fatal_generation == self.generation

    @property
    def confirmed(self) -> bool:
        """The exchange acknowledged an arm of the current generation."""
        return self.last_arm_sent_at is not None and self.last_arm_generation == self.generation


@dataclass(frozen=True)
class Send:
    kind: str
    countdown_ms: int
    due: float


def merge_desired(p: PolicyState, generation: int, armed: bool, changed_at: float | None, now: float) -> bool:
    """Take a newer generation read from the database (never an older one: a read that raced a later one
    must not undo it). Retry bookkeeping starts afresh; `now` is when this sender first saw it."""
    if generation <= p.generation:
        return False
    p.generation, p.armed = generation, armed
    if changed_at is not None:
        p.desired_changed_at = changed_at
    p.retry_at, p.attempts = None, 0
    p.observed_at = now
    p.configured = False
    return True


def merge_row(p: PolicyState, fresh: PolicyState, now: float) -> None:
    """Merge a whole row read from the database into the working copy: desired state follows it (a newer
    generation only), what people edit follows it, and facts only move forward (another sender, such as the
    web's fallback, may have recorded some)."""
    merge_desired(p, fresh.generation, fresh.armed, fresh.desired_changed_at, now)
    if fresh.generation == p.generation:
        p.armed = fresh.armed
        p.desired_changed_at = fresh.desired_changed_at
    p.account_id, p.symbol, p.enabled = fresh.account_id, fresh.symbol, fresh.enabled
    p.countdown_ms, p.interval_s, p.updated_at = fresh.countdown_ms, fresh.interval_s, fresh.updated_at
    p.removed = False
    if fresh.last_arm_sent_at is not None and (p.last_arm_sent_at or 0) < fresh.last_arm_sent_at:
        p.last_arm_sent_at = fresh.last_arm_sent_at
        p.last_arm_countdown_ms = fresh.last_arm_countdown_ms
        p.last_arm_generation = fresh.last_arm_generation
    if (fresh.disarm_acked_generation or -1) > (p.disarm_acked_generation or -1):
        p.disarm_acked_generation, p.disarm_acked_at = fresh.disarm_acked_generation, fresh.disarm_acked_at
    if (fresh.final_disarm_generation or -1) > (p.final_disarm_generation or -1):
        p.final_disarm_generation = fresh.final_disarm_generation
    if (fresh.fatal_generation or -1) > (p.fatal_generation or -1):
        p.fatal_generation = fresh.fatal_generation


def renews_by_heartbeat(p: PolicyState) -> bool:
    """On a venue whose switches are configured once and renewed together (exchange.venues): whether this arm
    may ride in the account's heartbeat, because the exchange holds this generation's configuration with this
    countdown. Otherwise the arm configures the switch: the first arm of a generation, a new countdown, after
    a takeover (what a predecessor left is unknown) or a heartbeat that did not renew it."""
    return p.configured and p.confirmed and p.last_arm_countdown_ms == p.countdown_ms


def owes_disarm(p) -> bool:
    """Disarmed, and the exchange has not acknowledged both zeros of this generation (see FINAL), unless a
    fatal error stopped it. Works on a PolicyState and on a CountdownPolicy alike."""
    if p.armed or p.generation == 0 or p.fatal_generation == p.generation:
        return False
    return p.disarm_acked_generation != p.generation or p.final_disarm_generation != p.generation


def next_send(p: PolicyState, final_delay: float) -> Send | None:
    """The next request for this policy (its due time may be in the future), or None when nothing is owed.
    Never while a request for it is in flight: one request per (account, symbol) at a time. One exception:
    a disarm does not wait for a heartbeat that renews several switches (`in_heartbeat`; a slow one would
    hold back the disarms of every switch in it), since a heartbeat renews only switches still configured
    and cannot undo the disarm's `0`, whichever reaches the exchange first."""
    if p.in_flight or p.removed or p.failing:
        return None
    if p.armed:
        if not p.enabled or p.in_heartbeat:
            return None
        if p.confirmed:
            due = p.next_due_at if p.next_due_at is not None else p.last_arm_sent_at + p.interval_s
        else:
            due = p.desired_changed_at or 0.0
        return Send(ARM, p.countdown_ms, max(due, p.retry_at or 0.0))
    if p.generation == 0:
        return None
    if p.disarm_acked_generation != p.generation:
        return Send(DISARM, 0, max(p.desired_changed_at or 0.0, p.retry_at or 0.0))
    if p.final_disarm_generation != p.generation:
        # From the latest of: the commit (web clock), when this sender first saw it (its own clock), and the
        # first zero's acknowledgement. That zero left only after its sender saw the disarm, and no sender
        # signs an arm of an older generation after seeing it (see vet), so every arm that could still be
        # accepted was signed before then: recvWindow + clock error later, none can be.
        committed = max(p.desired_changed_at or 0.0, p.observed_at or 0.0, p.disarm_acked_at or 0.0)
        return Send(FINAL, 0, max(committed + final_delay, p.retry_at or 0.0))
    return None


def vet(kind: str, generation: int, desired: tuple | None, unread_for: float, bound: float) -> str:
    """Whether a request may be signed now: "" if so, else why not. `desired` is (armed, generation[, why
    its strategy holds heartbeats back]) read from the database just now (None if it could not be read),
    `unread_for` how long ago desired state was last read at all. An arm goes out only for the policy's
    current armed generation, and not while its strategy holds it; when the database cannot be read, from
    memory only within `bound` seconds of the last read (after that the web counts this engine as deaf and
    sends the disarms itself). A zero is never harmful to send."""
    if kind != ARM:
        return ""
    if desired is None:
        if unread_for > bound:
            return f"Desired state unreadable for {unread_for:.1f} s: not arming from memory."
        return ""
    armed, current, *hold = desired
    if current < 0:
        return "The policy was deleted."
    if not armed or current != generation:
        return "Superseded before sending."
    # The policy's strategy stopped pinging (or reported a failure): no heartbeat until it is back.
    return hold[0] if hold else ""


# Uncertain outcomes are retried at once (the call is idempotent), then with short pauses so an exchange
# that times out on everything is not hammered.
_UNCERTAIN_DELAYS = (0.0, 0.0, 0.2, 0.5, 1.0, 2.0)


def uncertain_delay(attempts: int) -> float:
    return _UNCERTAIN_DELAYS[min(attempts, len(_UNCERTAIN_DELAYS)) - 1] if attempts > 0 else 0.0


def temporary_delay(attempts: int, interval_s: float) -> float:
    """Back off briefly, doubling, but never so long that the next try misses the interval."""
    return min(0.5 * 2 ** max(0, attempts - 1), max(0.5, interval_s / 4))
