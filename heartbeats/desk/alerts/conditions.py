"""What is wrong right now, read from the board's own snapshot (presenters.snapshot(), where every status is
computed): one Condition per problem, each with what happened, since when and what to do.

Pure: no writes, no network. The ledger (ledger.py) turns changes in this list into notifications.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from heartbeats.desk.presenters import CLOCK_OFFSET_WARN_MS, Snapshot
from heartbeats.formats.durations import duration
from heartbeats.models import Status
from heartbeats.models.alerts import AlertEvent

# The share of an address's weight limit measured in a minute from which the budget counts as near its limit.
WEIGHT_NEAR = 0.8

POLICY_EVENTS = {
    Status.LATE: AlertEvent.POLICY_LATE,
    Status.UNCERTAIN: AlertEvent.POLICY_UNCERTAIN,
    Status.FAILING: AlertEvent.POLICY_FAILING,
    Status.EXPIRED: AlertEvent.COUNTDOWN_EXPIRED,
}

WHAT_TO_DO = {
    AlertEvent.POLICY_LATE: "Heartbeats are late but the countdown is still running. Check that the engine "
    "is up (Engine banner on the board) and that the network reaches the exchange; watch the time left.",
    AlertEvent.POLICY_UNCERTAIN: "The engine does not know whether the exchange took the last heartbeat and "
    "is retrying. If it lasts, check the network path to the exchange.",
    AlertEvent.POLICY_FAILING: "The exchange refused it and the engine stopped trying. Fix the cause (key, "
    "permissions, symbol), then arm the policy again from the board.",
    AlertEvent.COUNTDOWN_EXPIRED: "The exchange cancelled the open orders the switch covers (a symbol's, an "
    "underlying's options, or on OKX and Kraken Futures the whole account's). Check the desk's "
    "positions; while the policy stays armed the engine arms it again at its next heartbeat.",
    AlertEvent.ENGINE_DOWN: "No heartbeats are sent: armed countdowns run out and the exchange cancels their "
    "orders. Check the worker (deploy/systemd countdown-guard-worker, `manage.py engine_status`).",
    AlertEvent.RATE_LIMITED: "The exchange answered 429: every request from this address waits until then. "
    "Look for other software sending from the same address.",
    AlertEvent.BANNED: "The exchange answered 418 (banned for repeated 429s): nothing can be sent from this "
    "address until then, so armed countdowns will run out. Move the desk to another egress if it lasts.",
    AlertEvent.CLOCK_SKEW: "The host clock differs from the exchange's. The engine corrects for it, but fix "
    "the host's time sync (chrony/NTP) before requests get refused.",
    AlertEvent.STRATEGY_HELD: "The trading system has not pinged within its grace (or not yet at all, or it "
    "reported a failure): its countdowns are no longer beaten and the exchange cancels their orders at "
    "expiry. Check the strategy; once it pings again, heartbeats resume by themselves or after an "
    "operator's release, as the strategy is set up.",
    AlertEvent.WEIGHT_NEAR_LIMIT: "Requests from this address are close to the exchange's weight limit; past "
    "it the exchange answers 429. Lengthen heartbeat intervals or move accounts to another egress.",
    AlertEvent.DUTY_FAILING: "A background job of the guard keeps failing; it is retried with backoff, and "
    "no other job (above all, no heartbeat) waits for it. Read its error on the Duties page and in the log "
    "of the process holding it, and fix the cause.",
}


@dataclass(frozen=True)
class Condition:
    key: str
    event: str
    title: str
    detail: str
    since: datetime
    account_ids: tuple[int, ...] = ()
    policy_id: int | None = None
    # How long it must last before anyone is told: a one-second blip is not worth a page at night.
    hold: timedelta = field(default=timedelta(0))
    # Its incident: conditions with one cause share it and are told in one message (ledger.py); empty: its
    # own key.
    group: str = ""
    # Keys of conditions that would explain this one (the engine that sends its beats is down): while one of
    # them is present, this one is listed in that one's message instead of being told on its own.
    explained_by: tuple[str, ...] = ()
    # What to do, when the cause calls for other advice than the event's usual one.
    advice: str = ""
    # What a message about several conditions of the incident names each by ("desk-a BTCUSDT").
    name: str = ""

    @property
    def incident(self) -> str:
        return self.group or self.key

    @property
    def what_to_do(self) -> str:
        return self.advice or WHAT_TO_DO.get(self.event, "")

    @property
    def body(self) -> str:
        when = timezone.localtime(self.since).strftime("%Y-%m-%d %H:%M:%S %Z")
        return f"{self.detail}\nSince: {when}\nWhat to do: {self.what_to_do}".rstrip()


def current(snap: Snapshot) -> list[Condition]:
    """Every problem the snapshot shows, policies first."""
    return (
        _policy_conditions(snap)
        + _strategy_conditions(snap)
        + _egress_conditions(snap)
        + _duty_conditions(snap)
    )


def _duty_conditions(snap: Snapshot) -> list[Condition]:
    """A duty whose runs keep failing (heartbeats.duties): one condition per duty, while it fails."""
    return [
        Condition(
            key=f"duty:{d['name']}",
            event=AlertEvent.DUTY_FAILING,
            title=f"Duty failing: {d['name']}",
            detail=f"{d['failures']} runs in a row failed on {d['host'] or 'an unknown host'}: {d['error']}",
            since=d["since"] or snap.now,
        )
        for d in snap.duty_failures
    ]


def _strategy_conditions(snap: Snapshot) -> list[Condition]:
    """A strategy holding back the heartbeats of armed policies."""
    hold = timedelta(seconds=settings.ALERT_HOLD_SECONDS)
    held = {}
    for row in snap.rows:
        if row.strategy and row.strategy["held"] and row.policy.armed:
            held.setdefault(row.strategy["id"], (row.strategy, []))[1].append(row.policy)
    found = []
    for strategy_id, (state, policies) in held.items():
        names = ", ".join(f"{p.account.label} {p.switch_title}" for p in policies[:10])
        more = f" and {len(policies) - 10} more" if len(policies) > 10 else ""
        found.append(
            Condition(
                key=f"strategy:{strategy_id}",
                event=AlertEvent.STRATEGY_HELD,
                title=f"Strategy {state['name']} {state['state']}: heartbeats held back",
                detail=f"{state['reason']} Policies: {names}{more}.",
                since=snap.now,
                account_ids=tuple(sorted({p.account_id for p in policies})),
                # A strategy that has not pinged yet is most often one starting beside the guard: told only
                # if its first ping does not come within the hold. Silent and failed are told at once.
                hold=hold if state["state"] == "waiting" else timedelta(0),
            )
        )
    return found


# What a strategy holding beats back, or the engine of an egress being down, deaf, banned or paused explains:
# its policies' beats are late or of unknown outcome because of it, and are listed in its message. An expiry
# or a refusal is told whatever its cause: orders are gone, or a key needs fixing.
EXPLAINED_BY_THE_CAUSE = {AlertEvent.POLICY_LATE, AlertEvent.POLICY_UNCERTAIN}
ENGINE_CAUSES = (AlertEvent.ENGINE_DOWN, AlertEvent.BANNED, AlertEvent.RATE_LIMITED)

HELD_EXPIRY_ADVICE = (
    "Its strategy holds heartbeats back, so the exchange cancelled the open orders the switch covers, as "
    "intended. "
    "Check the strategy; heartbeats resume once it pings again (or after an operator's release, as the "
    "strategy is set up)."
)


def _policy_conditions(snap: Snapshot) -> list[Condition]:
    hold = timedelta(seconds=settings.ALERT_HOLD_SECONDS)
    found = []
    for row in snap.rows:
        event = POLICY_EVENTS.get(row.status.state)
        if event is None:
            continue
        policy, status = row.policy, row.status
        account, egress = policy.account, policy.account.egress
        since = snap.now
        if event == AlertEvent.COUNTDOWN_EXPIRED and status.expires_at:
            since = status.expires_at
        elif event == AlertEvent.POLICY_LATE and policy.last_arm_sent_at:
            since = policy.last_arm_sent_at + policy.late_after
        held = bool(row.strategy and row.strategy["held"])
        explained_by: tuple[str, ...] = ()
        if event in EXPLAINED_BY_THE_CAUSE:
            if held:
                # Beats held back on purpose: the strategy's own alert says so, and names this policy.
                explained_by = (f"strategy:{row.strategy['id']}",)
            explained_by += tuple(f"{cause}:{egress}" for cause in ENGINE_CAUSES)
        if event == AlertEvent.POLICY_FAILING:
            # The same refusal on one account (a revoked key) is one incident, however many symbols it has.
            group = f"{event}:{account.pk}:{status.detail}"
        elif event == AlertEvent.COUNTDOWN_EXPIRED:
            group = f"{event}:{account.pk}"
        else:
            group = f"{event}:{egress}"
        found.append(
            Condition(
                key=f"policy:{policy.id}",
                event=event,
                title=f"{AlertEvent(event).label}: {policy.account.label} {policy.switch_title}",
                detail=status.detail,
                since=min(since, snap.now),
                account_ids=(policy.account_id,),
                policy_id=policy.id,
                # Failures and expiries are told at once; late and unknown often clear by themselves.
                hold=hold if event in (AlertEvent.POLICY_LATE, AlertEvent.POLICY_UNCERTAIN) else timedelta(0),
                group=group[:250],
                explained_by=explained_by,
                advice=HELD_EXPIRY_ADVICE if held and event == AlertEvent.COUNTDOWN_EXPIRED else "",
                name=f"{account.label} {policy.switch_title}",
            )
        )
    return found


def _egress_conditions(snap: Snapshot) -> list[Condition]:
    hold = timedelta(seconds=settings.ALERT_HOLD_SECONDS)
    accounts = {}
    for row in snap.rows:
        if row.policy.account.enabled:
            accounts.setdefault(row.policy.account.egress, set()).add(row.policy.account_id)
    found = []
    for e in snap.egresses:
        ids = tuple(sorted(accounts.get(e.egress, ())))
        where = f" (egress {e.egress})" if e.egress != "default" else ""

        def add(kind, title, detail, since, hold=timedelta(0), egress=e.egress, ids=ids):
            found.append(
                Condition(f"{kind}:{egress}", kind, title, detail, min(since, snap.now), ids, None, hold)
            )

        if not e.alive:
            if e.deaf_since:
                detail = (
                    "The engine cannot read the database, so it cannot see a disarm; the web sends disarms."
                )
                add(AlertEvent.ENGINE_DOWN, f"Engine cannot read the database{where}", detail, e.deaf_since)
            else:
                seen = e.seen_at
                detail = (
                    f"No engine has been alive since {timezone.localtime(seen):%H:%M:%S}."
                    if seen
                    else "No engine has ever run for these accounts."
                ) + _at_stake(snap, e.egress)
                add(
                    AlertEvent.ENGINE_DOWN,
                    f"Engine down{where}",
                    detail,
                    seen or snap.now,
                    hold=timedelta(seconds=settings.ALERT_ENGINE_DOWN_SECONDS),
                )
        if e.banned_until and e.banned_until > snap.now:
            until = timezone.localtime(e.banned_until)
            add(
                AlertEvent.BANNED,
                f"Banned by the exchange{where} until {until:%H:%M:%S}",
                _until(until),
                snap.now,
            )
        elif e.rate_limited_until and e.rate_limited_until > snap.now:
            until = timezone.localtime(e.rate_limited_until)
            add(
                AlertEvent.RATE_LIMITED,
                f"Rate limited{where} until {until:%H:%M:%S}",
                _until(until),
                snap.now,
            )
        if e.clock_offset_ms is not None and abs(e.clock_offset_ms) > CLOCK_OFFSET_WARN_MS:
            offset = ("+" if e.clock_offset_ms > 0 else "") + duration(e.clock_offset_ms)
            detail = f"This host's clock is {offset} off the exchange's."
            add(AlertEvent.CLOCK_SKEW, f"Clock skew{where}: {offset}", detail, snap.now, hold)
        near = e.limit and e.measured is not None and e.measured >= WEIGHT_NEAR * e.limit
        over = e.available is not None and e.available < 0
        if near or over:
            detail = (
                f"Measured {e.measured} of {e.limit} weight this minute."
                if near
                else f"The armed policies need {e.projected} of {e.limit} weight a minute (plus {e.reserve} "
                "kept for disarms)."
            )
            add(AlertEvent.WEIGHT_NEAR_LIMIT, f"Weight budget near its limit{where}", detail, snap.now, hold)
    return found


def _at_stake(snap: Snapshot, egress: str) -> str:
    """What an engine being down leaves to run out: its armed policies and the first countdown to end."""
    armed = [
        r
        for r in snap.rows
        if r.policy.armed and r.policy.account.enabled and r.policy.account.egress == egress
    ]
    if not armed:
        return ""
    text = f" {len(armed)} armed {'policy' if len(armed) == 1 else 'policies'} depend on it"
    ending = [r for r in armed if r.status.expires_at and r.status.expires_at > snap.now]
    if ending:
        first = min(ending, key=lambda r: r.status.expires_at)
        text += (
            f"; the first countdown runs out at {timezone.localtime(first.status.expires_at):%H:%M:%S} "
            f"({first.policy.account.label} {first.policy.switch_title})"
        )
    return text + "."


def _until(until: datetime) -> str:
    return f"Nothing is sent from this address until {until:%Y-%m-%d %H:%M:%S %Z}."
