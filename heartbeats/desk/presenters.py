"""The live picture the board, the policy page and the JSON status view share: every policy's status (from
`CountdownPolicy.status()`, read once per request with one clock reading), the engines' liveness, and the
request-weight budget per egress identity.

It costs the same few queries whatever the number of policies, accounts or egress identities, and reads
policies as plain rows (heartbeats.domain.policy_facts): the JSON view is polled every second by every
open board.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from heartbeats.desk.killswitch.stake import STALE_AFTER as STAKE_STALE_AFTER
from heartbeats.desk.killswitch.stake import weight_per_minute as stake_weight_per_minute
from heartbeats.desk.maintenance import banners as maintenance_banners
from heartbeats.domain import budget as budgets
from heartbeats.domain import compiled
from heartbeats.domain.holds import state_of
from heartbeats.domain.lapses import WINDOW as LAPSE_WINDOW
from heartbeats.domain.lapses import Lapse, recent_lapses, running
from heartbeats.domain.policy_facts import PolicyFacts, StakeFacts, load_policies, load_stakes
from heartbeats.domain.symbols import cached_facts_many
from heartbeats.domain.validation import VENUE_NAMES
from heartbeats.exchange import venues
from heartbeats.formats.durations import duration
from heartbeats.models import (
    STATUS_RISK,
    AddressLimits,
    Duty,
    EngineLiveness,
    PolicyStatus,
    Status,
    Strategy,
)
from heartbeats.models.alerts import AlertChannel, Delivery, Notification, NotificationKind

# The statuses that need someone's attention; the board's "At risk" filter and its top tiles.
AT_RISK = (Status.EXPIRED, Status.FAILING, Status.UNCERTAIN, Status.LATE)
RISK_FILTER = "risk"
SORTS = {
    "risk": "Riskiest first",
    "account": "Account",
    "symbol": "Symbol",
    "remaining": "Least time left",
}
# Binance rejects a timestamp more than 1 s ahead of its clock; beyond that offset the host's time is wrong
# enough that people should know, even though the engine corrects for it.
CLOCK_OFFSET_WARN_MS = 1000
# Rows per board page: the page and its JSON stay small and quick at any number of policies, and the
# riskiest rows come first anyway.
PAGE_SIZE = 100


def epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def clock(moment: datetime, zone: tzinfo | None = None) -> str:
    """H:M:S in `zone` (the pages' time zone unless given), as the templates' `date:"H:i:s"` shows it. Rows
    are given the zone once per snapshot: looking it up costs more than formatting, and both add up at a
    hundred rows a poll."""
    return _clock(moment, zone or timezone.get_current_timezone())


@lru_cache(maxsize=4096)
def _clock(moment: datetime, zone: tzinfo) -> str:
    # Formatted once per moment: a reading's or an arm's time is shown on every poll until the next one.
    return f"{timezone.localtime(moment, zone):%H:%M:%S}"


def format_remaining(ms: int | None) -> str:
    """m:ss (h:mm:ss past an hour), rounded up so 0:00 means run out. The page script formats the same way."""
    if ms is None:
        return "—"
    seconds = -(-ms // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(slots=True)
class PolicyRow:
    policy: PolicyFacts
    status: PolicyStatus
    # The latest time in the last hour this policy's countdown ran out and heartbeats resumed after it.
    lapse: Lapse | None = None
    # The strategy holding this switch, as strategies.holds.state_of() shows it (None: held by no strategy).
    strategy: dict | None = None
    # The symbol's orders as the exchange last answered (killswitch.stake), or None when never read.
    stake: StakeFacts | None = None
    # The snapshot's clock reading: a figure older than stake.STALE_AFTER says when it was read.
    now: datetime | None = None
    # The pages' time zone when the snapshot was taken (clock()).
    zone: tzinfo | None = None

    @property
    def stake_text(self) -> str:
        k = self.stake
        if k is None or k.checked_at is None:
            return ""
        if k.orders is None:
            return k.error  # whole: the board wraps it rather than cut it mid-sentence
        text = f"{k.orders} order{'s' if k.orders != 1 else ''}"
        if k.algo_orders:
            text += f" + {k.algo_orders} conditional (may survive a lapse)"
        text += " at stake"
        if self.now is not None and self.now - k.checked_at > STAKE_STALE_AFTER:
            text += f" (as of {clock(k.checked_at, self.zone)})"
        return text

    @property
    def strategy_text(self) -> str:
        s = self.strategy
        if s is None:
            return ""
        if not s["held"]:
            left, last = s["grace_left_ms"], s["last_ping_ms"]
            seen = f" (last ping {datetime.fromtimestamp(last / 1000, UTC):%H:%M:%S})" if last else ""
            grace = f", {duration(-(-left // 1000) * 1000)} of grace left" if left is not None else ""
            return f"Strategy {s['name']}: live{seen}{grace}"
        return f"Strategy {s['name']}: {s['reason'].removeprefix('Held: ')} Heartbeats held back."

    @property
    def error_text(self) -> str:
        """The board's Last error: empty when the status detail already says it (a failing row's detail is its
        last error), so the row does not say it twice. The board script applies the same rule."""
        error = self.policy.last_error
        return "" if error == self.status.detail else error

    @property
    def at_risk(self) -> bool:
        return self.status.state in AT_RISK

    @property
    def venue(self) -> str:
        """The venue as the table names it (USD-M, COIN-M, Options)."""
        return VENUE_NAMES.get(self.policy.account.venue, self.policy.account.venue)

    @property
    def venue_label(self) -> str:
        """The venue in full (USD-M futures, COIN-M futures, Options)."""
        spec = venues.VENUES.get(self.policy.account.venue)
        return spec.label if spec is not None else self.policy.account.venue

    @property
    def covers(self) -> str:
        """What the switch covers: "symbol" (futures), "underlying" (Options: every option on it) or
        "account" (OKX, Kraken Futures: the whole account, or on OKX the orders of one tag)."""
        spec = venues.VENUES.get(self.policy.account.venue)
        return spec.covers if spec is not None else venues.SYMBOL

    @property
    def covers_underlying(self) -> bool:
        return self.covers == venues.UNDERLYING

    @property
    def covers_account(self) -> bool:
        return self.covers == venues.ACCOUNT

    @property
    def expires_at_ms(self) -> int | None:
        return epoch_ms(self.status.expires_at)

    @property
    def failing(self) -> bool:
        return self.status.state == Status.FAILING

    @property
    def remaining_text(self) -> str:
        return format_remaining(self.status.remaining_ms)

    @property
    def remaining_pct(self) -> float:
        if self.status.remaining_ms is None or not self.policy.countdown_ms:
            return 0.0
        return round(min(100.0, 100.0 * self.status.remaining_ms / self.policy.countdown_ms), 1)

    def as_json(self) -> dict:
        p, s = self.policy, self.status
        return {
            "id": p.pk,
            "account": p.account.label,
            "account_id": p.account_id,
            "venue": self.venue,
            # On Options the symbol is an underlying (BTCUSDT: every BTC option); on OKX and Kraken Futures
            # "" is the whole account (OKX: or an order tag); "covers" says which, "switch" says it in words.
            "symbol": p.symbol,
            "covers": self.covers,
            "switch": p.switch_name,
            "armed": p.armed,
            "status": s.state.value,
            "status_label": s.state.label,
            "risk": s.risk,
            "at_risk": self.at_risk,
            "detail": s.detail,
            "expires_at_ms": epoch_ms(s.expires_at),
            "confirmed_at_ms": epoch_ms(s.confirmed_at),
            "remaining_ms": s.remaining_ms,
            "interval_s": p.interval_s,
            "countdown_ms": p.countdown_ms,
            "last_error": p.last_error,
            "lapsed_at_ms": epoch_ms(self.lapse.expired_at) if self.lapse else None,
            "strategy": self.strategy,
            "strategy_text": self.strategy_text,
            "orders": None
            if self.stake is None
            else {
                "orders": self.stake.orders,
                "algo_orders": self.stake.algo_orders,
                "buy_notional": self.stake.buy_notional,
                "sell_notional": self.stake.sell_notional,
                "checked_at_ms": epoch_ms(self.stake.checked_at),
                "gone_at_ms": epoch_ms(self.stake.gone_at),
                "gone_count": self.stake.gone_count,
            },
            "stake_text": self.stake_text,
        }


@dataclass
class EgressState:
    """One egress identity: its engine (if any is alive), what the exchange said about it, and its budget."""

    egress: str
    alive: bool
    engine: EngineLiveness | None
    seen_at: datetime | None
    banned_until: datetime | None
    rate_limited_until: datetime | None
    clock_offset_ms: int | None
    # The live engine's last read of desired state, when it has been unable to read it for too long.
    deaf_since: datetime | None = None
    limit: int | None = None
    projected: int | None = None
    reserve: int | None = None
    available: int | None = None
    measured: int | None = None
    # At most this much a minute goes to reading orders at stake, from what is left (killswitch.stake).
    stake: int | None = None

    def percent(self, value) -> float:
        if not self.limit or value is None:
            return 0.0
        return round(min(100.0, 100.0 * value / self.limit), 1)

    @property
    def projected_pct(self):
        return self.percent(self.projected)

    @property
    def measured_pct(self):
        return self.percent(self.measured)

    @property
    def reserve_start_pct(self):
        return self.percent((self.limit or 0) - (self.reserve or 0))

    @property
    def reserve_width_pct(self):
        return round(max(0.0, 100.0 - self.reserve_start_pct), 1)

    @property
    def over_budget(self) -> bool:
        return self.available is not None and self.available < 0

    def budget_json(self) -> dict:
        return {
            "egress": self.egress,
            "stake": self.stake,
            "limit": self.limit,
            "projected": self.projected,
            "reserve": self.reserve,
            "available": self.available,
            "measured": self.measured,
        }


@dataclass
class LapseRow:
    lapse: Lapse
    policy: PolicyFacts

    def as_json(self) -> dict:
        return {
            "policy": self.policy.pk,
            "account": self.policy.account.label,
            "symbol": self.policy.symbol,
            "switch": self.policy.switch_title,
            "expired_at_ms": epoch_ms(self.lapse.expired_at),
            "resumed_at_ms": epoch_ms(self.lapse.resumed_at),
            "resumed_by": self.lapse.resumed_by or None,
        }


@dataclass
class Page:
    """One page of the board's rows; `number` is clamped to the pages there are."""

    number: int
    pages: int
    total: int
    rows: list[PolicyRow]
    size: int = PAGE_SIZE

    @property
    def first(self) -> int:
        """1-based position of the page's first row (0 when there is none)."""
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def as_json(self) -> dict:
        return {
            "number": self.number,
            "pages": self.pages,
            "total": self.total,
            "size": self.size,
            "first": self.first,
            "last": self.last,
        }


def page_of(rows: list[PolicyRow], number: int | None, size: int = PAGE_SIZE) -> Page:
    pages = max(1, -(-len(rows) // size))
    number = min(max(1, number or 1), pages)
    start = (number - 1) * size
    return Page(number, pages, len(rows), rows[start : start + size], size)


@dataclass
class Snapshot:
    now: datetime
    rows: list[PolicyRow]
    egresses: list[EgressState]
    counts: dict[str, int] = field(default_factory=dict)
    # Countdowns running out now, then those that ran out in the last hour and were beaten again, on every
    # policy whatever the filters, newest first.
    lapses: list[LapseRow] = field(default_factory=list)
    # Running maintenance windows, soonest end first, and scheduled ones, soonest start first
    # (heartbeats.desk.maintenance.banners).
    maintenance: list[dict] = field(default_factory=list)
    upcoming_maintenance: list[dict] = field(default_factory=list)
    # Alert channels whose latest delivery did not get through (failing_channels).
    alert_failures: list[dict] = field(default_factory=list)
    # Duties whose runs keep failing (heartbeats.duties), in the words of their last error.
    duty_failures: list[dict] = field(default_factory=list)

    @property
    def engine_alive(self) -> bool:
        return all(e.alive for e in self.egresses)

    @property
    def engine_seen_at(self) -> datetime | None:
        """The oldest of the egress identities' latest signs of life: the page's timer goes stale from it."""
        seen = [e.seen_at for e in self.egresses]
        if not seen or any(s is None for s in seen):
            return None
        return min(seen)

    @property
    def engine_note(self) -> str:
        """The live engines' latest trouble in their own words (held by the weight limit, database reads
        failing...), shown for a minute after it happened."""
        notes = [e.engine.last_error for e in self.egresses if e.engine and not e.engine.is_stale(self.now)]
        return next((n for n in notes if n), "")

    @property
    def deaf_since(self) -> datetime | None:
        return min((e.deaf_since for e in self.egresses if e.deaf_since), default=None)

    @property
    def banned_until(self) -> datetime | None:
        return max((e.banned_until for e in self.egresses if e.banned_until), default=None)

    @property
    def rate_limited_until(self) -> datetime | None:
        return max((e.rate_limited_until for e in self.egresses if e.rate_limited_until), default=None)

    @property
    def clock_offset_ms(self) -> int | None:
        offsets = [e.clock_offset_ms for e in self.egresses if e.clock_offset_ms is not None]
        return max(offsets, key=abs, default=None)

    @property
    def clock_off(self) -> bool:
        return self.clock_offset_ms is not None and abs(self.clock_offset_ms) > CLOCK_OFFSET_WARN_MS

    @property
    def banned(self) -> bool:
        return self.banned_until is not None and self.banned_until > self.now

    @property
    def rate_limited(self) -> bool:
        return self.rate_limited_until is not None and self.rate_limited_until > self.now

    @property
    def tiles(self) -> list[dict]:
        """Status counts, riskiest first, for the board's summary strip."""
        return [
            {"status": s.value, "label": s.label, "count": self.counts.get(s.value, 0), "risk": s in AT_RISK}
            for s in sorted(Status, key=lambda s: STATUS_RISK[s])
        ]

    @property
    def armed_count(self) -> int:
        return sum(1 for r in self.rows if r.policy.armed)

    @property
    def risk_count(self) -> int:
        return sum(1 for r in self.rows if r.at_risk)

    def engine_json(self) -> dict:
        return {
            "alive": self.engine_alive,
            "seen_at_ms": epoch_ms(self.engine_seen_at),
            "stale_after_ms": int(EngineLiveness.STALE_AFTER.total_seconds() * 1000),
            "holds_lease": all(e.engine is not None and e.engine.holds_lease for e in self.egresses),
            "deaf_since_ms": epoch_ms(self.deaf_since),
            "note": self.engine_note,
            "banned_until": epoch_ms(self.banned_until),
            "rate_limited_until": epoch_ms(self.rate_limited_until),
            "clock_offset_ms": self.clock_offset_ms,
            "clock_offset_warn_ms": CLOCK_OFFSET_WARN_MS,
            "egresses": [
                {
                    "egress": e.egress,
                    "alive": e.alive,
                    "engine_id": e.engine.engine_id if e.engine else None,
                    "seen_at_ms": epoch_ms(e.seen_at),
                    "banned_until": epoch_ms(e.banned_until),
                    "rate_limited_until": epoch_ms(e.rate_limited_until),
                    "clock_offset_ms": e.clock_offset_ms,
                }
                for e in self.egresses
            ],
        }

    def as_json(self, page: Page | None = None) -> dict:
        """Everything, or with `page` only that page's rows (and where it stands)."""
        data = {
            "server_time_ms": epoch_ms(self.now),
            "engine": self.engine_json(),
            "budget": [e.budget_json() for e in self.egresses],
            "counts": self.counts,
            "lapses": [lapse.as_json() for lapse in self.lapses],
            "maintenance": [{k: v for k, v in w.items() if k != "ends_at"} for w in self.maintenance],
            "upcoming_maintenance": [
                {k: v for k, v in w.items() if k != "starts_at"} for w in self.upcoming_maintenance
            ],
            "alert_failures": [{k: v for k, v in f.items() if k != "at"} for f in self.alert_failures],
            "duty_failures": [{k: v for k, v in f.items() if k != "since"} for f in self.duty_failures],
            "policies": [r.as_json() for r in (page.rows if page else self.rows)],
        }
        if page:
            data["page"] = page.as_json()
        return data


def _sort_key(sort: str):
    far = float("inf")
    if sort == "account":
        return lambda r: (r.policy.account.label, r.policy.symbol)
    if sort == "symbol":
        return lambda r: (r.policy.symbol, r.policy.account.label)
    if sort == "remaining":
        return lambda r: (
            r.status.remaining_ms if r.status.remaining_ms is not None else far,
            r.status.risk,
            r.policy.account.label,
            r.policy.symbol,
        )
    # Within a risk level rows keep a fixed order: sorting by time left would reshuffle them on every beat.
    return lambda r: (r.status.risk, r.policy.account.label, r.policy.symbol)


def _egress_states(now, policies_by_egress) -> list[EgressState]:
    liveness = list(EngineLiveness.objects.all())
    # What the exchange told any process about each address (the web's fallback included).
    addresses = [
        {"egress": egress, "paused_until": paused, "banned_until": banned}
        for egress, paused, banned in compiled.rows(_addresses_query)
    ]
    # Every egress identity's cached exchange info in one cache read, not one per identity.
    endpoints = {
        name: {(a.base_url, a.venue) for a in {p.account for p in mine}}
        for name, mine in policies_by_egress.items()
    }
    facts = cached_facts_many(e for mine in endpoints.values() for e in mine)
    names = sorted(set(policies_by_egress) or {row.egress for row in liveness} or {"default"})
    states = []
    for name in names:
        records = sorted(
            (row for row in liveness if row.egress == name), key=lambda row: row.seen_at, reverse=True
        )
        senders = [r for r in records if r.holds_lease and not r.stopping]
        fresh = [r for r in senders if r.is_sending(now)]
        engine = fresh[0] if fresh else (senders[0] if senders else (records[0] if records else None))
        recent = [r for r in records if not r.is_stale(now)] or records[:1]
        stored = [a for a in addresses if a["egress"] == name]
        deaf = engine is not None and engine in senders and not engine.is_stale(now) and engine.is_deaf(now)
        state = EgressState(
            egress=name,
            alive=bool(fresh),
            engine=engine,
            seen_at=engine.seen_at if engine else None,
            deaf_since=engine.desired_read_at if deaf else None,
            banned_until=max(
                [r.banned_until for r in recent if r.banned_until]
                + [a["banned_until"] for a in stored if a["banned_until"]],
                default=None,
            ),
            rate_limited_until=max(
                [r.rate_limited_until for r in recent if r.rate_limited_until]
                + [a["paused_until"] for a in stored if a["paused_until"]],
                default=None,
            ),
            clock_offset_ms=engine.clock_offset_ms if engine else None,
            measured=engine.used_weight if engine else None,
        )
        # The budget module's own figures, fed what is already loaded (budget_for would query again, per
        # identity, on every poll).
        mine = policies_by_egress.get(name, [])
        state.limit, _source = budgets.smallest_limit(
            [facts.get(e) for e in endpoints.get(name, ())], [r.weight_limit for r in records]
        )
        state.projected = budgets.projected_weight_per_minute(mine)
        state.stake = stake_weight_per_minute(mine)
        state.reserve = budgets.reserve_for(len(mine))
        state.available = state.limit - state.projected - state.reserve
        states.append(state)
    return states


def _addresses_query():
    return AddressLimits.objects.values_list("egress", "paused_until", "banned_until")


def _strategies(now) -> dict[int, dict]:
    """Every strategy's state (strategies.holds.state_of), one query."""
    return {s.pk: {"name": s.name, "id": s.pk, **state_of(s, now)} for s in Strategy.objects.all()}


def snapshot(*, account_id=None, status=None, sort="risk", policy_id=None, symbol=None) -> Snapshot:
    """Everything the live pages show, from one clock reading. Filters apply to the rows only (`symbol`: the
    symbols containing it); the engine and budget figures always cover every egress identity in use."""
    now = timezone.now()
    policies = load_policies()
    policies_by_egress = {}
    for p in policies:
        if p.account.enabled:
            policies_by_egress.setdefault(p.account.egress, []).append(p)
    by_id = {p.id: p for p in policies}
    longest = max((max(p.countdown_ms, p.last_arm_countdown_ms or 0) for p in policies), default=0)
    # In the order of `policies` (zip them): a thousand rows are walked a few times on every poll.
    statuses = [p.status(now) for p in policies]
    # Countdowns running out right now first (the status says so the moment it happens), then those that
    # ended in the last hour, as the beats tell.
    lapses = [
        LapseRow(running(p.id, s.expires_at), p)
        for p, s in zip(policies, statuses, strict=True)
        if s.state == Status.EXPIRED and s.expires_at is not None
    ]
    lapses.sort(key=lambda row: row.lapse.expired_at, reverse=True)
    lapses += [
        LapseRow(lapse, by_id[lapse.policy_id])
        for lapse in recent_lapses(now, longest)
        if lapse.policy_id in by_id  # a policy added since the first query
    ]
    latest = {}
    for row in lapses:  # a running one first, then newest first: the first one seen per policy is its latest
        latest.setdefault(row.policy.pk, row.lapse)
    strategies = _strategies(now) if any(p.strategy_id for p in policies) else {}
    stakes = load_stakes()
    # Orders found gone are shown for an hour, like the lapses found in the beats.
    stakes.update(
        {
            k.policy_id: k._replace(gone_at=None)
            for k in stakes.values()
            if k.gone_at is not None and now - k.gone_at > LAPSE_WINDOW
        }
    )
    zone = timezone.get_current_timezone()
    rows = [
        PolicyRow(p, s, latest.get(p.id), strategies.get(p.strategy_id), stakes.get(p.id), now, zone)
        for p, s in zip(policies, statuses, strict=True)
    ]
    if policy_id is not None:
        rows = [r for r in rows if r.policy.pk == policy_id]
    if account_id is not None:
        rows = [r for r in rows if r.policy.account_id == account_id]
    if symbol:
        rows = [r for r in rows if symbol.upper() in r.policy.symbol]
    tally = Counter(r.status.state for r in rows)
    counts = {s.value: tally[s] for s in sorted(Status, key=lambda s: STATUS_RISK[s])}
    if status == RISK_FILTER:
        rows = [r for r in rows if r.at_risk]
    elif status:
        rows = [r for r in rows if r.status.state == status]
    rows.sort(key=_sort_key(sort))
    windows_on, upcoming = maintenance_banners(now)
    return Snapshot(
        now=now,
        rows=rows,
        egresses=_egress_states(now, policies_by_egress),
        counts=counts,
        lapses=lapses,
        maintenance=windows_on,
        upcoming_maintenance=upcoming,
        alert_failures=failing_channels(),
        duty_failures=failing_duties(now),
    )


def failing_duties(now) -> list[dict]:
    """One query: duties held now whose last runs failed (heartbeats.duties.supervisor records them)."""
    rows = compiled.rows(_failing_duties_query)
    return [
        {
            "name": name,
            "host": holder.split(":")[1] if holder.count(":") >= 2 else "",
            "failures": failures,
            "error": error,
            "since": failing_since or error_at,
            "since_ms": epoch_ms(failing_since or error_at),
        }
        for name, holder, failures, error, failing_since, error_at, expires_at in rows
        if expires_at is not None and expires_at > now  # held now: compared here, so the SQL never changes
    ]


def _failing_duties_query():
    return (
        Duty.objects.filter(failures__gt=0)
        .exclude(holder="")
        .order_by("name")
        .values_list(
            "name", "holder", "failures", "last_error", "failing_since", "last_error_at", "expires_at"
        )
    )


def failing_channels() -> list[dict]:
    """One query: every enabled channel whose latest attempted delivery did not get through (retrying or
    given up), with when and why. A test message does not count: its sender saw the answer."""
    return [
        {
            "id": channel_id,
            "channel": channel,
            "status": status,
            "error": error,
            "at": at,
            "at_ms": int(at.timestamp() * 1000),
        }
        for channel_id, channel, status, error, at in compiled.rows(_failing_channels_query)
    ]


def _failing_channels_query():
    latest = (
        Notification.objects.filter(channel=OuterRef("pk"), last_attempt_at__isnull=False)
        .exclude(kind=NotificationKind.TEST)
        .order_by("-last_attempt_at", "-id")
        .values("id")[:1]
    )
    return (
        Notification.objects.filter(
            id__in=AlertChannel.objects.filter(enabled=True)
            .annotate(latest=Subquery(latest))
            .values("latest"),
            status__in=(Delivery.RETRYING, Delivery.FAILED),
        )
        .order_by("channel__name")
        .values_list("channel_id", "channel__name", "status", "last_error", "last_attempt_at")
    )
