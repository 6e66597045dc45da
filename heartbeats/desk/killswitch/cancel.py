"""Cancel orders now: the kill switch. For one policy, an account, a strategy or everything, cancel every open
order of each symbol (DELETE allOpenOrders) and every conditional order kept apart too (DELETE
algoOpenOrders: since December 2025 Binance keeps USD-M STOP / TAKE_PROFIT / TRAILING orders in its Algo
Service, which the plain endpoints no longer see; COIN-M's move there as announced, and are plain orders,
cancelled with the others, until then), optionally disarming the countdowns first. An Options policy covers
an underlying: every open order of it goes with one DELETE allOpenOrdersByUnderlying (options have no
conditional orders). A switch that covers a whole account (OKX, Kraken Futures) has every open order of the
account cancelled, or on OKX those of its tag, each family its own way (account_wide), one row per kind.

The requests go out on a tracked thread of the process that pressed (heartbeats.domain.work): should that
process die first, its rows are marked "unknown" by the `unfinished-work` duty, never left pending.

One audited operation (`Action.CANCEL_ORDERS`); one OrderCancel row per request, written as each answer
comes in, which the operation's page shows live. Every symbol and account goes at once (one thread per
request), each account's clock measured once; nothing is sent from an address the exchange has paused or
banned, and a request is never sent twice. Network I/O happens after the operation is committed, never
inside a transaction.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from heartbeats.desk import actions
from heartbeats.desk.killswitch import account_wide, stake
from heartbeats.domain import audit, budget, ratelimits
from heartbeats.domain.clients import client_for
from heartbeats.domain.validation import plain_reason
from heartbeats.domain.work import lease_name, work
from heartbeats.engine.config import EngineConfig
from heartbeats.exchange import venues
from heartbeats.exchange.client import has_algo_service
from heartbeats.exchange.errors import NoAlgoServiceError, RateLimitedError
from heartbeats.models import Action, CountdownPolicy, Duty, Effect, Operation
from heartbeats.models.orders import CancelState, OrderCancel, OrderKind, OrdersAtStake

log = logging.getLogger(__name__)

# One request per symbol and kind at once, up to this many in flight.
MAX_PARALLEL = 64
# A clock measurement per account weighs 1, and DELETE algoOpenOrders of a symbol 1; cancelling the open
# orders of what a switch covers weighs what its venue says (venues.Venue.cancel_all_weight).
CLOCK_WEIGHT = ALGO_CANCEL_WEIGHT = 1
# What each request found is the guard's own last reading of that symbol's orders (orders at stake: at most
# a minute old, a second after any change the guard makes), never a listing sent before the cancel: Binance's
# answer to a cancel gives no count, and a listing first would make every cancel wait a round trip more.
FOUND_FRESH = timedelta(seconds=120)


def kinds_for(account) -> list[str]:
    # From the venue's facts: USD-M keeps conditional orders in its Algo Service; COIN-M too once it moves
    # them there, which is asked unless it answered lately that it has none (its conditional orders are then
    # among the open orders); Options has none. An account-wide switch: as its family cancels them.
    if account_wide.covers_account(account):
        return list(account_wide.family(account.venue).kinds)
    algo = has_algo_service(account.base_url, account.venue)
    return [OrderKind.ORDERS, OrderKind.ALGO] if algo else [OrderKind.ORDERS]


def request_weight(account, kind: str) -> int:
    """What one cancel request of `kind` for the account weighs against its address's limits."""
    return ALGO_CANCEL_WEIGHT if kind == OrderKind.ALGO else venues.venue(account.venue).cancel_all_weight


def unit_weight(account, unit: list) -> int:
    """What the requests of one unit (`_units`) weigh: an account-wide switch's press, every kind at once,
    weighs its venue's cancel_all_weight."""
    if account_wide.covers_account(account):
        return venues.venue(account.venue).cancel_all_weight
    return sum(request_weight(account, row.kind) for row in unit)


def cancel_orders(
    policy_ids, *, user=None, username: str | None = None, ip=None, reason: str, disarm: bool = False
) -> Operation:
    """Record the operation (and the disarm, if asked: a separate Disarm selected operation first, so no
    heartbeat re-arms a countdown whose orders are being pulled) and return it; the requests go out on
    threads of their own (`wait(operation)` to block until they are all answered)."""

    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Give a reason for cancelling the orders: it is kept in the audit trail.")
    plain_reason(reason)
    ids = sorted({int(pk) for pk in policy_ids})
    if not ids:
        raise ValueError("Choose at least one policy whose orders to cancel.")
    policies = list(
        CountdownPolicy.objects.with_account().filter(pk__in=ids).order_by("account__label", "symbol")
    )
    missing = sorted(set(ids) - {p.pk for p in policies})
    if missing:
        raise ValueError(
            f"Policies {', '.join(map(str, missing[:10]))} no longer exist. Nothing was cancelled."
        )
    if disarm:
        actions.set_selected(ids, armed=False, user=user, ip=ip, reason=reason, username=username)
    with transaction.atomic():
        if disarm:  # their generations as the disarm left them
            policies = list(
                CountdownPolicy.objects.with_account().filter(pk__in=ids).order_by("account__label", "symbol")
            )
        operation = audit.record(
            Action.CANCEL_ORDERS,
            user=user,
            ip=ip,
            username=username,
            reason=reason,
            changes={"policies": len(policies), "disarmed_too": disarm},
            targets=[audit.target(p, Effect.ORDERS_CANCELLED) for p in policies],
        )
        OrderCancel.objects.bulk_create(
            OrderCancel(
                operation=operation, policy=p, account_label=p.account.label, symbol=p.symbol, kind=kind
            )
            for p in policies
            for kind in kinds_for(p.account)
        )
    log.warning(
        "cancel orders now (#%d) by %s: %d policies", operation.pk, operation.username or "-", len(policies)
    )
    # Tracked, under a lease: a process that stops waits for it; one that dies leaves rows that the
    # `unfinished-work` duty finishes with the truth (finish_abandoned).
    work.start(_work_name(operation.pk), _send_logged, operation.pk, leased=True)
    return operation


def cancel_in_background(policy_ids, *, username: str, reason: str) -> None:
    """For a strategy's /fail or silence: nobody is waiting on a page."""
    try:
        cancel_orders(policy_ids, username=username, reason=reason)
    except Exception as exc:  # a deleted policy, a database hiccup: say so, the exchange's expiry still acts
        log.error(
            "could not cancel orders for %s (%s): the countdowns' expiry still cancels them", username, exc
        )


def wait(operation: Operation, timeout: float = 30.0) -> list[OrderCancel]:
    work.join(_work_name(operation.pk), timeout)
    return list(_with_venue(OrderCancel.objects.filter(operation=operation)))


def _work_name(operation_id: int) -> str:
    return f"cancel:{operation_id}"


# A request left pending this long with no live process sending it was abandoned.
ABANDONED_AFTER = timedelta(seconds=15)


def finish_abandoned(now=None) -> int:
    """The `unfinished-work` duty's step: requests still pending whose sending process stopped (its lease
    on the work ran out, or it never took one) are marked unknown, saying so; nothing is sent again (the
    orders may have been cancelled, or new ones placed since). Returns how many."""
    now = now or timezone.now()
    operations = set(
        OrderCancel.objects.filter(state=CancelState.PENDING, operation__at__lt=now - ABANDONED_AFTER)
        .values_list("operation_id", flat=True)
        .distinct()
    )
    if not operations:
        return 0
    names = {lease_name(_work_name(pk)): pk for pk in operations}
    live = Duty.objects.filter(name__in=list(names), expires_at__gt=Now()).exclude(holder="")
    stopped = set(operations) - {names[name] for name in live.values_list("name", flat=True)}
    finished = OrderCancel.objects.filter(operation_id__in=stopped, state=CancelState.PENDING).update(
        state=CancelState.UNKNOWN,
        error="Not known: the process sending it stopped before the exchange answered. "
        "Look at the orders, and press again if some are left.",
        finished_at=now,
    )
    if finished:
        log.error(
            "cancel orders now: %d requests of operations %s abandoned by a stopped process",
            finished,
            sorted(stopped),
        )
    return finished


def results(operation: Operation) -> list[OrderCancel]:
    rows = OrderCancel.objects.filter(operation=operation).order_by("account_label", "symbol", "kind")
    return list(_with_venue(rows))


def _with_venue(rows):
    # Each row's venue, for its words (a symbol or an underlying); None once its policy is deleted.
    return rows.annotate(venue=F("policy__account__venue"))


# An account-wide switch's scope, by whether it is the account's ("") or one tag's.
ACCOUNT_NOUNS = {True: "account", False: "tag"}


def covered(switches) -> str:
    """What a press covers, one venue key (or a (venue key, symbol) pair) per switch, in the venues' words:
    "3 symbols", "1 underlying", "2 symbols and 1 account", "1 tag" (an OKX tag's switch; a key no longer
    known counts as a symbol)."""
    counts = {venues.SYMBOL: 0, venues.UNDERLYING: 0, "account": 0, "tag": 0}
    for item in switches:
        key, symbol = item if isinstance(item, tuple) else (item, "")
        known = venues.VENUES.get(key)
        noun = known.covers if known else venues.SYMBOL
        counts[ACCOUNT_NOUNS[not symbol] if noun == venues.ACCOUNT else noun] += 1
    words = [f"{n} {noun}{'s' if n != 1 else ''}" for noun, n in counts.items() if n]
    return _and(words) or "0 symbols"


def _and(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def _send_logged(operation_id: int) -> None:
    try:
        _send(operation_id)
        # The board's orders at stake follow at once, not at the duty's next round.
        if settings.STAKE_READING:
            stake.refresh_round(
                only=OrderCancel.objects.filter(operation_id=operation_id).values_list("policy_id", flat=True)
            )
    except Exception:
        log.exception("cancel orders now #%d failed", operation_id)
    finally:
        connections.close_all()


def _send(operation_id: int) -> None:
    rows = list(
        OrderCancel.objects.filter(operation_id=operation_id, state=CancelState.PENDING).select_related(
            "policy__account"
        )
    )
    by_account = {}
    for row in rows:
        if row.policy is None:
            _finish(row.pk, CancelState.FAILED, error="The policy was deleted.")
            continue
        by_account.setdefault(row.policy.account_id, (row.policy.account, []))[1].append(row)
    clients = {}
    jobs = []
    for (egress, base_url), accounts in _by_address(by_account).items():
        # The exchange counts weight per address: every account of this press on it shares what is left
        # this minute, less some kept for disarms (the Disarm all reserve, but never more than a quarter of
        # the limit: on a large desk that reserve alone exceeds the limit). A request past it would earn
        # 429s, then a ban that would also stop the heartbeats; the ones that do not fit are reported.
        allowed = budget.spare_weight(egress, base_url, budget.Purpose.CANCEL)
        spare, why = allowed.weight, allowed.why
        for account, mine in accounts:
            fits, over = _fitting(account, _units(account, mine), spare - CLOCK_WEIGHT)  # its clock first
            if not fits:
                _skip(mine, why or "this address's request weight for this minute is spent")
                continue
            spare -= CLOCK_WEIGHT + sum(unit_weight(account, unit) for unit in fits)
            _skip(
                [row for unit in over for row in unit],
                "this address's request weight for this minute is spent",
            )
            try:
                options = EngineConfig.from_settings().client_options(
                    pool_maxsize=min(MAX_PARALLEL, len(fits))
                )
                clients[account.pk] = client_for(account, **options)
            except Exception as exc:  # unusable key material: say so per symbol, never the key
                for row in (row for unit in fits for row in unit):
                    _finish(
                        row.pk,
                        CancelState.FAILED,
                        error=f"The account's key cannot sign ({type(exc).__name__}).",
                    )
                continue
            jobs += fits
    if not jobs:
        return
    _attach_readings([row for unit in jobs for row in unit])
    # Each account's clock once, in parallel; then every request at once, spread over a few threads that each
    # keep one database connection for all their answers (and close it when done).
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(clients)), thread_name_prefix="cancel") as pool:
        synced = dict(zip(clients, pool.map(_sync, clients.values()), strict=True))
    ready = []
    for unit in jobs:
        error = synced[unit[0].policy.account_id]
        if error:
            for row in unit:
                _finish(row.pk, CancelState.FAILED, error=error)
        else:
            ready.append(unit)
    lanes = [ready[n :: min(MAX_PARALLEL, len(ready))] for n in range(min(MAX_PARALLEL, len(ready)))]
    limited = {}  # account id -> the 429 or 418 one of its requests met
    threads = [
        threading.Thread(
            target=_lane, args=(lane, clients, limited), name=f"cancel-{operation_id}-{n}", daemon=True
        )
        for n, lane in enumerate(lanes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for account_id, client in clients.items():
        account = by_account[account_id][0]
        # A 429 or a ban pauses the whole address (every sender asks ratelimits), so a press again at once
        # is told to wait rather than earning a ban that would stop the heartbeats too; where the exchange
        # counts each account's own requests (limit_address), that account alone.
        ratelimits.observe(account.egress, account.limit_address, client, limited.get(account_id))
        client.close()


def _units(account, rows) -> list[list]:
    """The rows in what is sent together: one row a request, but an account-wide switch's rows all go with
    one press of its family's (OKX's cancel_all() answers for plain and algo orders at once)."""
    if not account_wide.covers_account(account):
        return [[row] for row in rows]
    by_policy = {}
    for row in rows:
        by_policy.setdefault(row.policy_id, []).append(row)
    return list(by_policy.values())


def _fitting(account, units, weight: int) -> tuple[list, list]:
    """The units whose requests fit in `weight`, in order, and the others."""
    fits, over = [], []
    for unit in units:
        cost = unit_weight(account, unit)
        if cost <= weight:
            fits.append(unit)
            weight -= cost
        else:
            over.append(unit)
    return fits, over


def _by_address(by_account) -> dict:
    grouped = {}
    for account, mine in by_account.values():
        grouped.setdefault((account.egress, account.limit_address), []).append((account, mine))
    return grouped


def _skip(rows, why: str) -> None:
    for row in rows:
        _finish(
            row.pk, CancelState.SKIPPED, error=f"Not sent: {why}. Press again once the minute has turned."
        )


def _sync(client) -> str:
    try:
        client.sync_time()
        return ""
    except Exception as exc:
        return f"The exchange could not be reached to measure its clock: {exc}"[:300]
    finally:
        connections.close_all()


def _lane(units, clients, limited: dict) -> None:
    try:
        for unit in units:
            client = clients[unit[0].policy.account_id]
            if account_wide.covers_account(unit[0].policy.account):
                _cancel_account(unit, client, limited)
            else:
                _cancel_one(unit[0], client, limited)
    finally:
        connections.close_all()


def _attach_readings(rows) -> None:
    """Each row's `found_before`: the orders of its kind the guard last read on its symbol, if recently."""
    fresh = timezone.now() - FOUND_FRESH
    readings = {
        k.policy_id: k
        for k in OrdersAtStake.objects.filter(
            policy_id__in={r.policy_id for r in rows}, checked_at__gte=fresh, orders__isnull=False
        )
    }
    for row in rows:
        k = readings.get(row.policy_id)
        if k is not None:
            row.found_before = k.algo_orders if row.kind == OrderKind.ALGO else k.orders


def _cancel_one(row: OrderCancel, client, limited: dict) -> None:
    found = getattr(row, "found_before", None)
    started = time.time()
    try:
        _request(row, client)
    except NoAlgoServiceError:
        # COIN-M has no Algo Service yet (a 404, or one remembered): nothing was applied, and its conditional
        # orders are plain orders, which the symbol's other request cancels. Not a request worth showing.
        close_old_connections()
        OrderCancel.objects.filter(pk=row.pk).delete()
    except Exception as exc:
        if isinstance(exc, RateLimitedError):
            limited[row.policy.account_id] = exc
        close_old_connections()  # a database error below must not leave this lane's connection broken
        _finish(
            row.pk,
            CancelState.FAILED,
            error=str(exc)[:300],
            http_status=getattr(exc, "http_status", None),
            started=started,
            found=found,
        )
    else:
        _finish(row.pk, CancelState.DONE, http_status=200, started=started, found=found)


def _cancel_account(rows: list[OrderCancel], client, limited: dict) -> None:
    """One press of an account-wide switch: every kind of its orders at once, each row with what the
    exchange listed and cancelled. Sent once; an error, a rate limit included, fails every row of it."""
    policy = rows[0].policy
    started = time.time()
    try:
        outcome = account_wide.family(policy.account.venue).cancel(client, policy.symbol)
    except Exception as exc:
        if isinstance(exc, RateLimitedError):
            limited[policy.account_id] = exc
        close_old_connections()
        for row in rows:
            _finish(
                row.pk,
                CancelState.FAILED,
                error=str(exc)[:300],
                http_status=getattr(exc, "http_status", None),
                started=started,
                found=getattr(row, "found_before", None),
            )
        return
    for row in rows:
        got = outcome.get(row.kind)
        if got is None:  # not a kind this family answers for: nothing was sent for it
            _finish(row.pk, CancelState.FAILED, error="Not cancelled: not a kind of this venue's orders.")
            continue
        _finish(
            row.pk,
            CancelState.FAILED if got.error else CancelState.DONE,
            error=got.error[:300],
            http_status=200,
            started=started,
            found=got.found,
        )


def _request(row: OrderCancel, client) -> None:
    """The one request that cancels the row's orders; never repeated (the caller reports what it met)."""
    if row.kind == OrderKind.ALGO:
        client.cancel_all_algo_open_orders(row.symbol)
    elif venues.venue(row.policy.account.venue).covers == venues.UNDERLYING:
        # Every option of the underlying at once, market-maker-protection orders included.
        client.cancel_all_by_underlying(row.symbol)
    else:
        client.cancel_all_open_orders(row.symbol)


def _finish(
    pk: int,
    state: str,
    *,
    error: str = "",
    http_status=None,
    started: float | None = None,
    found: int | None = None,
) -> None:
    now = time.time()
    OrderCancel.objects.filter(pk=pk).update(
        found=found,
        state=state,
        error=error,
        http_status=http_status,
        started_at=datetime.fromtimestamp(started, UTC) if started else None,
        finished_at=timezone.now(),
        latency_ms=(now - started) * 1000 if started else None,
    )


def _orders(n: int, kind: str) -> str:
    noun = "open order" if kind == OrderKind.ORDERS else "conditional order"
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _requests(n: int) -> str:
    return f"{n} request{'s' if n != 1 else ''}"


def summary(cancels) -> str:
    """What a Cancel orders now found and cancelled, in one sentence: "Found 3 open orders and 1 conditional
    order on 2 symbols; cancelled all of them." ("on 1 underlying" for Options; counts per symbol are on the
    operation's page)."""
    if not cancels:
        return ""
    where = "on " + covered(
        {(c.account_label, c.symbol): (getattr(c, "venue", None), c.symbol) for c in cancels}.values()
    )
    counted = [c for c in cancels if c.found is not None]
    found = {
        kind: sum(c.found for c in counted if c.kind == kind) for kind in (OrderKind.ORDERS, OrderKind.ALGO)
    }
    kinds = [OrderKind.ORDERS] + ([OrderKind.ALGO] if any(c.kind == OrderKind.ALGO for c in cancels) else [])
    text = f"Found {' and '.join(_orders(found[k], k) for k in kinds)} {where}"
    pending = sum(c.state == CancelState.PENDING for c in cancels)
    not_done = sum(c.state not in (CancelState.DONE, CancelState.PENDING) for c in cancels)
    if pending:
        text += f"; {_requests(pending)} still out."
    elif not_done:
        text += f"; {_requests(not_done)} not done (see the errors below)."
    else:
        text += "; cancelled all of them." if sum(found.values()) else "; nothing to cancel."
    uncounted = sum(c.state == CancelState.DONE and c.found is None for c in cancels)
    if uncounted:
        text += f" {_requests(uncounted)} cancelled with no recent reading of their orders to count."
    return text
