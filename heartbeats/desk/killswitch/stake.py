"""Orders at stake: each armed policy's symbol's open orders (and conditional orders), read from the exchange
within the weight budget, so the board shows what a lapse would cancel, and a lapse is confirmed by the
exchange's own answer (the orders are gone after an expiry). An Options policy's are its underlying's open
orders (every option on it; options have no conditional orders). A switch that covers a whole account (OKX,
Kraken Futures) has every open order of the account at stake (OKX: plain and algo; a tag's switch, the orders
placed with its tag): the account is read whole, once for all its switches (account_wide).

One process at a time reads (the "stake" duty, like alerting): a round every ROUND_EVERY seconds reads
each armed policy at most every STAKE_EVERY seconds, and at once the policies whose orders something has just
changed: a Cancel orders now answered, an arm or a disarm, a countdown that ran out (`_changed_since`). It
reads only from what an address has left this minute after the policies' heartbeats and the reserve kept for
Disarm all (budget.py): reading orders never earns a 429. Network I/O happens outside any transaction; each
reading is one UPDATE. A figure older than STALE_AFTER is shown "as of" its reading (presenters).
"""

import contextlib
import logging
import time
from collections import namedtuple
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from heartbeats.desk.killswitch import account_wide
from heartbeats.domain import budget, ratelimits
from heartbeats.domain.policy_facts import load_policies
from heartbeats.engine import fallback
from heartbeats.engine.config import EngineConfig
from heartbeats.exchange import venues
from heartbeats.exchange.client import has_algo_service
from heartbeats.exchange.errors import NoAlgoServiceError
from heartbeats.exchange.options import underlying_of
from heartbeats.models import CountdownPolicy, ExchangeAccount, Status
from heartbeats.models.bulk import update_row
from heartbeats.models.orders import CancelState, OrderCancel, OrdersAtStake

log = logging.getLogger(__name__)

STAKE_EVERY = 60.0
# Rounds are at least this far apart: a change (an arm, a disarm, a Cancel orders press) wakes the duty
# (heartbeats.engine.wakeup) and is read within the board's refresh (live.js polls every second).
ROUND_EVERY = 1.0
# A round that found nothing due rests until something can fall due, but looks again (three small queries)
# at least this often: an engine's first arm with a shortened countdown can bring an expiry forward
# without any change people made waking the duty.
REST_AT_MOST = 5.0
# With nothing armed and no countdown left to run out, nothing can fall due until people arm something,
# and that news wakes the duty: it looks again this rarely (the supervisor's backstop).
REST_WHEN_NOTHING_ARMED = 60.0
# A figure older than this is shown with the time of its reading.
STALE_AFTER = timedelta(seconds=5)
# After a countdown ran out, its orders are read again until this long past the conservative expiry: the
# exchange started the countdown a little after we sent it, so its orders go a little later.
EXPIRY_SLACK = timedelta(seconds=3)
# GET order (weight 1): the exchange's record of an order gone, for when it went.
QUERY_WEIGHT = 1
# Per policy and reading: GET openOrders of its symbol or underlying (its venue's open_orders_weight: 1 for a
# symbol, 40 for an underlying) and, where the venue keeps them apart, GET openAlgoOrders?symbol (1).
ALGO_WEIGHT = 1
# The same for a whole account (no symbol): the venue's account_open_orders_weight (40) and 40 for the algo
# orders. Chosen from ACCOUNT_WIDE_FROM symbols due on an account (more weight, but two requests instead of
# dozens, each costing the worker a millisecond or two of CPU, and only ever spent from what the address has
# spare), or as soon as it weighs no more than reading them one by one (Options: an underlying's orders weigh
# as much as the whole account's).
WHOLE_ACCOUNT_ALGO_WEIGHT = 40
ACCOUNT_WIDE_FROM = 5
# A whole account's algo orders (OKX: six listings, one per algo order type, against one for the plain
# orders) are listed again this often, and at once whenever something changed the account's orders (an arm,
# a disarm, a Cancel orders now, a lapse); the readings between reuse the last listing. A lapse leaves algo
# orders in place: what they count is told, not what the switch cancels.
ALGO_EVERY = 300.0


def weight_per_reading(account) -> int:
    """What one symbol's (or underlying's) reading sends: its open orders, as its venue weighs them, and its
    algo orders where the venue may keep them apart (USD-M; COIN-M unless it answered lately that it has no
    Algo Service: its conditional orders are among the open orders then; never Options). A COIN-M 404 is
    counted too, though Binance may not weigh it."""
    algo = ALGO_WEIGHT if has_algo_service(account.base_url, account.venue) else 0
    return venues.venue(account.venue).open_orders_weight + algo


def weight_of_whole_account(account) -> int:
    """What reading every open (and algo) order of the account at once sends."""
    algo = WHOLE_ACCOUNT_ALGO_WEIGHT if has_algo_service(account.base_url, account.venue) else 0
    return venues.venue(account.venue).account_open_orders_weight + algo


def _whole_account(account, due: int) -> bool:
    """Whether `due` policies of the account are read at once rather than one by one (always where a switch
    covers the whole account: one reading serves them all)."""
    if account_wide.covers_account(account):
        return True
    if due < 2:
        return False
    return due >= ACCOUNT_WIDE_FROM or weight_of_whole_account(account) <= due * weight_per_reading(account)


def weight_of_reading(account, due: int) -> int:
    """What reading `due` policies of the account sends, the way a round reads them."""
    if _whole_account(account, due):
        return weight_of_whole_account(account)
    return due * weight_per_reading(account)


def weight_per_minute(policies) -> int:
    """What reading every armed policy's orders costs an address a minute at most (the budget page's line)."""
    per_account = {}
    for p in policies:
        if p.armed:
            per_account.setdefault(p.account_id, (p.account, []))[1].append(p)
    reading = sum(weight_of_reading(account, len(armed)) for account, armed in per_account.values())
    return int(reading * 60 / STAKE_EVERY)


def stake_round() -> float:
    """The orders-at-stake duty's step: one round, then the seconds until the next one."""
    refresh_round()
    until = _quiet.resting_until()
    if until is None:
        return ROUND_EVERY
    rest = REST_WHEN_NOTHING_ARMED if _quiet.nothing_at_stake else REST_AT_MOST
    return min(rest, max(ROUND_EVERY, (until - timezone.now()).total_seconds()))


def refresh_round(now=None, *, only=None) -> int:
    """One round: read the due policies, those something just changed first, address by address, within
    each address's spare weight; with `only` (policy ids), those at once, e.g. the moment a Cancel orders
    now has its answers. Returns how many were read.

    It runs every second, so it decides on plain rows (policy_facts, as the board does) and loads an
    account's keys only when one of its policies is due."""
    now = now or timezone.now()
    if only is None:
        token = _changes()
        if _quiet.holds(token, now):
            return 0
    policies = sorted((p for p in load_policies() if p.account.enabled), key=lambda p: p.pk)
    readings = {
        row[0]: _Reading(*row[1:])
        for row in OrdersAtStake.objects.order_by().values_list(
            "policy_id", "checked_at", "orders", "order_id"
        )
    }
    if only is not None:
        urgent, routine = set(only), set()
    else:
        cancelled = _cancelled_since(now - timedelta(seconds=STAKE_EVERY))
        urgent = {p.pk for p in policies if _changed_since(p, readings.get(p.pk), cancelled, now)}
        due_before = now - timedelta(seconds=STAKE_EVERY)
        routine = {
            p.pk
            for p in policies
            if p.armed and (getattr(readings.get(p.pk), "checked_at", None) or due_before) <= due_before
        }
        # Armed policies read more than half a period ago join one that is due: readings fall into step, one
        # account-wide reading a minute (two requests) rather than one per symbol spread over the minute, and
        # one round a minute for the desk's accounts rather than one per account (each round reads the
        # desk's policies and keys: on a desk of many accounts, most of the duty's CPU).
        if routine:
            half_due = now - timedelta(seconds=STAKE_EVERY / 2)
            routine |= {
                p.pk
                for p in policies
                if p.armed and (getattr(readings.get(p.pk), "checked_at", None) or half_due) <= half_due
            }
    due = [p for p in policies if p.pk in urgent or p.pk in routine]
    next_due = None
    if only is None:
        next_due = _next_due(policies, readings, {p.pk for p in due}, now)
        if next_due is False:
            _quiet.until(token, now + timedelta(seconds=REST_WHEN_NOTHING_ARMED), nothing=True)
        else:
            _quiet.until(token, next_due)
    if not due:
        return 0
    oldest = now - timedelta(days=1)
    due.sort(key=lambda p: (p.pk not in urgent, getattr(readings.get(p.pk), "checked_at", None) or oldest))
    keys = ExchangeAccount.objects.in_bulk({p.account_id for p in due})
    by_address = {}
    for p in due:
        by_address.setdefault((p.account.egress, p.account.limit_address), {}).setdefault(
            p.account_id, []
        ).append(p)
    done: set[int] = set()
    for (egress, base_url), accounts in by_address.items():
        # Kept free: what Disarm all of every policy here needs, plus a minute of their heartbeats.
        on_egress = [p for p in policies if p.account.egress == egress]
        allowance = _Allowance(
            budget.spare_weight(egress, base_url, budget.Purpose.READ, policies=on_egress).weight
        )
        for account_id, mine in accounts.items():
            account = keys.get(account_id)
            if account is None:  # deleted since the first read
                continue
            per_symbol = weight_per_reading(account)
            if _whole_account(account, len(mine)) and allowance.take(weight_of_whole_account(account)):
                asked = {p.pk for p in mine}
                shown = [
                    p
                    for p in policies
                    if p.account_id == account_id and (p.armed or p.pk in readings or p.pk in asked)
                ]
                fresh = any(p.pk in urgent for p in mine)
                _read(account, shown, readings, allowance, symbol=None, fresh_algo=fresh)
                done.update(p.pk for p in mine)
                continue
            for policy in mine:
                if not allowance.take(per_symbol):
                    break
                _read(account, [policy], readings, allowance, symbol=policy.symbol)
                done.add(policy.pk)
    if len(done) < len(due):
        if only is None and next_due is not None:
            # The weight ran out before all of them: it comes back when the exchange's minute turns. A round
            # every second meanwhile would read every policy again and find no weight (on a busy desk, most
            # of the duty's CPU); news (an arm, a disarm, a Cancel orders now) still wakes it at once.
            turns = _minute_turns(now)
            _quiet.until(token, turns if next_due is False else min(next_due, turns))
        else:
            _quiet.forget()  # look again next second
    return len(done)


def _minute_turns(now) -> datetime:
    """A little after the exchange's weight minute turns (weight counted per minute: ratelimits)."""
    minute_ms = ratelimits.MINUTE_MS
    turns_ms = (ratelimits.exchange_minute(now.timestamp()) + 1) * minute_ms
    return datetime.fromtimestamp(turns_ms / 1000, UTC) + timedelta(seconds=ROUND_EVERY)


class _Quiet:
    """Until when nothing can fall due, as long as nothing changes: a round costs three small queries then,
    not a read of every policy (the duty rests until then, looking again at least every REST_AT_MOST). What
    changes it: a desired state, a policy added or removed, a countdown's length, an account edited or
    disabled, a Cancel orders now answered (`_changes`). A beat only ever moves an expiry later, so the
    moments computed at the last round stay early enough."""

    def __init__(self):
        self._token = None
        self._until = None
        self.nothing_at_stake = False  # nothing armed, no countdown left to run out

    def holds(self, token, now) -> bool:
        return token == self._token and self._until is not None and now < self._until

    def until(self, token, moment, *, nothing: bool = False) -> None:
        self._token, self._until, self.nothing_at_stake = token, moment, nothing

    def forget(self) -> None:
        self._token = self._until = None
        self.nothing_at_stake = False

    def resting_until(self):
        return self._until


_quiet = _Quiet()


def _changes() -> tuple:
    # A countdown changed in length moves an expiry (earlier, too): the sum of the lengths last sent says so.
    policies = CountdownPolicy.objects.aggregate(
        n=Count("pk"), changed=Max("desired_changed_at"), lengths=Sum("last_arm_countdown_ms")
    )
    accounts = ExchangeAccount.objects.aggregate(
        n=Count("pk", filter=Q(enabled=True)), edited=Max("updated_at")
    )
    cancelled = OrderCancel.objects.aggregate(last=Max("finished_at"))["last"]
    return (*policies.values(), *accounts.values(), cancelled)


def _next_due(policies, readings, read_now: set[int], now) -> datetime | None | bool:
    """When the next round could find something due, unless something changes first (None: next second;
    False: never, nothing is armed or running out)."""
    moments = []
    for p in policies:
        if p.armed:
            reading = readings.get(p.pk)
            checked = now if p.pk in read_now else getattr(reading, "checked_at", None) or now
            moments.append(checked + timedelta(seconds=STAKE_EVERY))
        if p.last_arm_sent_at is not None and p.last_arm_countdown_ms:
            expiry = p.last_arm_sent_at + timedelta(milliseconds=p.last_arm_countdown_ms)
            if expiry <= now < expiry + EXPIRY_SLACK:
                return None  # ran out just now: its orders are read again every second for a moment
            if expiry > now:
                moments.append(expiry)  # may run out then (a beat usually pushes it later first)
    return min(moments, default=False)


# The last reading of a policy, as the round needs it.
_Reading = namedtuple("_Reading", ("checked_at", "orders", "order_id"))


class _Allowance:
    """What a round may still spend from one address this minute."""

    def __init__(self, weight: int):
        self.weight = weight

    def take(self, weight: int) -> bool:
        if weight > self.weight:
            return False
        self.weight -= weight
        return True


def _cancelled_since(since) -> dict[int, datetime]:
    """Policy id -> when a Cancel orders now last finished cancelling its symbol's orders, since `since`."""
    rows = (
        OrderCancel.objects.filter(finished_at__gte=since, state=CancelState.DONE, policy__isnull=False)
        .values("policy_id")
        .annotate(last=Max("finished_at"))
    )
    return {r["policy_id"]: r["last"] for r in rows}


def _changed_since(policy, reading, cancelled: dict, now) -> bool:
    """Whether something changed this policy's orders, or may have, since its last reading: a Cancel orders
    now answered, an arm or a disarm, or its countdown ran out (the one status function says so)."""
    checked = reading.checked_at if reading is not None else None
    if checked is None:
        return False  # never read: an armed one is due anyway, a disarmed one has nothing to show
    if policy.desired_changed_at is not None and policy.desired_changed_at > checked:
        return True
    if cancelled.get(policy.pk) is not None and cancelled[policy.pk] > checked:
        return True
    if policy.last_arm_sent_at is None or not policy.last_arm_countdown_ms:
        return False  # never armed on the exchange: nothing ran out
    expiry = policy.last_arm_sent_at + timedelta(milliseconds=policy.last_arm_countdown_ms)
    if expiry > now or expiry + EXPIRY_SLACK <= checked:
        return False  # still running, or read since it ran out: the cheap test every policy takes each second
    status = policy.status(now)
    return (
        status.state == Status.EXPIRED
        and status.expires_at is not None
        and checked < status.expires_at + EXPIRY_SLACK
    )


class _AlgoListings:
    """The last algo listing of each whole account this process read (account id -> (when, orders)): reused
    within ALGO_EVERY unless the reading must be fresh. Kept in memory: another process starts afresh."""

    def __init__(self):
        self._kept: dict[int, tuple[float, list[dict] | None]] = {}

    def get(self, account_id: int, fresh: bool) -> list[dict] | None | bool:
        """The kept listing, or False when it must be read."""
        kept = self._kept.get(account_id)
        if fresh or kept is None or time.monotonic() - kept[0] >= ALGO_EVERY:
            return False
        return kept[1]

    def keep(self, account_id: int, orders: list[dict] | None) -> None:
        self._kept[account_id] = (time.monotonic(), orders)

    def forget(self) -> None:
        self._kept.clear()


_algo_listings = _AlgoListings()


def _read(
    account, policies, readings: dict, allowance: _Allowance, *, symbol: str | None, fresh_algo=True
) -> None:
    """Read the open orders (and algo orders) of one symbol (or underlying), or of the whole account, and
    store them for `policies`. When a policy's orders went with its countdown, ask the exchange when
    (`_gone_at`)."""
    values = {"checked_at": timezone.now(), "error": ""}
    orders = algo = None
    client = None
    error = None
    by_underlying = venues.venue(account.venue).covers == venues.UNDERLYING
    whole = account_wide.family(account.venue) if account_wide.covers_account(account) else None
    try:
        # The web's fallback sender's clients: kept between readings, so the clock is measured now and then,
        # not before every reading.
        client = fallback.client_of(account, EngineConfig.from_settings())
        if whole is not None:
            orders = whole.read_orders(client)
            algo = _algo_listings.get(account.pk, fresh_algo)
            if algo is False:
                algo = whole.read_algo(client)
                _algo_listings.keep(account.pk, algo)
        else:
            orders = client.open_orders(underlying=symbol) if by_underlying else client.open_orders(symbol)
            algo = _algo_orders(client, account, symbol)
    except Exception as exc:  # the reading is informative: say what went wrong, keep the last figures
        error = exc
        orders = algo = None
        values["error"] = f"Orders not read: {exc}"[:300]
    try:
        stored = []
        for policy in policies:
            mine = dict(values)
            if orders is not None and whole is not None:
                own = whole.own(orders, policy.symbol)
                mine.update(
                    orders=len(own),
                    order_id=None,
                    buy_notional=whole.notional(own, "BUY"),
                    sell_notional=whole.notional(own, "SELL"),
                    algo_orders=None if algo is None else len(whole.own(algo, policy.symbol)),
                )
            elif orders is not None:
                own = [o for o in orders if _covered_by(o, by_underlying, policy.symbol) == policy.symbol]
                mine.update(
                    orders=len(own),
                    order_id=_order_id(own),
                    buy_notional=_notional(own, "BUY"),
                    sell_notional=_notional(own, "SELL"),
                    algo_orders=None
                    if algo is None
                    else sum(o.get("symbol", policy.symbol) == policy.symbol for o in algo),
                )
            stored.append(
                (policy.pk, _with_gone_at(policy, mine, readings.get(policy.pk), client, allowance))
            )
        _store(stored)
    finally:
        if client is not None:
            ratelimits.observe(account.egress, account.limit_address, client, error)


def _covered_by(order: dict, by_underlying: bool, default: str) -> str:
    """The symbol, or the underlying, an order belongs to; `default` when the order does not say."""
    if by_underlying:
        return underlying_of(order) or default
    return order.get("symbol", default)


def _algo_orders(client, account, symbol: str | None) -> list[dict] | None:
    """The conditional orders kept apart in the Algo Service; None where the venue has none (COIN-M until
    Binance moves them there: they are plain orders then, counted with the others; a lapse cancels them;
    Options never)."""
    if not has_algo_service(account.base_url, account.venue):
        return None
    try:
        return client.open_algo_orders(symbol)
    except NoAlgoServiceError:
        return None


def _order_id(orders) -> int | None:
    for o in orders:
        try:
            return int(o["orderId"])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _with_gone_at(policy, values: dict, row, client, allowance: _Allowance) -> dict:
    """`values`, with when the orders went if this reading found them gone after the countdown ran out (the
    exchange is asked: network I/O, so before the reading is stored)."""
    now = values["checked_at"]
    emptied = row is not None and not values["error"] and (row.orders or 0) > 0 and values.get("orders") == 0
    if emptied and (policy.status(now).state == Status.EXPIRED or _lapsed_recently(policy, now)):
        # An Options policy's symbol is an underlying: the order's own option symbol, which GET order needs,
        # is not kept, so the reading's time stands in; likewise an account-wide switch's.
        by_symbol = venues.venue(policy.account.venue).covers == venues.SYMBOL
        asked = _gone_at(client, policy.symbol, row.order_id, allowance) if by_symbol else None
        values.update(gone_at=asked or now, gone_count=row.orders)
    return values


def _store(readings: list[tuple[int, dict]]) -> None:
    """A reading's figures (policy id, values), in one transaction: an account-wide reading stores dozens,
    and each commit is heard by every listener of the desk."""
    with transaction.atomic():
        for policy_id, values in readings:
            if update_row(OrdersAtStake, policy_id, **values):
                continue
            with contextlib.suppress(IntegrityError), transaction.atomic():  # deleted since it was read
                OrdersAtStake.objects.create(policy_id=policy_id, **values)


def _gone_at(client, symbol: str, order_id: int | None, allowance: _Allowance) -> datetime | None:
    """When the exchange cancelled (or expired) an order of the last reading, from its own record of it
    (`updateTime`); None when it cannot tell or the minute's weight is spent."""
    if client is None or order_id is None or not allowance.take(QUERY_WEIGHT):
        return None
    try:
        order = client.query_order(symbol, order_id)
    except Exception as exc:  # informative only: the reading's own time stands in
        log.info("orders at stake: order %s of %s not read (%s)", order_id, symbol, exc)
        return None
    if order.get("status") not in ("CANCELED", "EXPIRED"):
        return None
    try:
        return datetime.fromtimestamp(int(order["updateTime"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError):
        return None


def _lapsed_recently(policy, now) -> bool:
    """The countdown had run out at some point since the last reading (its last arm's expiry is past)."""
    if policy.last_arm_sent_at is None or not policy.last_arm_countdown_ms:
        return False
    expiry = policy.last_arm_sent_at + timedelta(milliseconds=policy.last_arm_countdown_ms)
    return expiry <= now


def _notional(orders, side: str) -> float | None:
    total = 0.0
    for o in orders:
        if o.get("side") != side:
            continue
        try:
            # Futures say origQty, options quantity.
            left = float(o.get("origQty", o.get("quantity")) or 0) - float(o.get("executedQty") or 0)
            total += float(o.get("price") or 0) * max(0.0, left)
        except (TypeError, ValueError):
            return None
    return round(total, 2)
