"""Orders at stake: each armed policy's symbol's open orders (and conditional orders), read from the exchange
within the weight budget, so the board shows what a lapse would cancel, and a lapse is confirmed by the
exchange's own answer (the orders are gone after an expiry).

One process at a time reads (the "stake" duty, like alerting): a round every ROUND_EVERY seconds reads the
policies whose reading is oldest, each at most every STAKE_EVERY seconds, and only from what an address has
left this minute after the policies' heartbeats and the reserve kept for Disarm all (budget.py): reading
orders never earns a 429. Network I/O happens outside any transaction; each reading is one UPDATE.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from heartbeats.domain import budget, ratelimits
from heartbeats.engine import fallback
from heartbeats.engine.config import EngineConfig
from heartbeats.models import CountdownPolicy, Status, Venue
from heartbeats.models.orders import OrdersAtStake

log = logging.getLogger(__name__)

STAKE_EVERY = 60.0
ROUND_EVERY = 10.0
# Per policy and reading: GET openOrders?symbol (1) and, on USD-M, GET openAlgoOrders?symbol (1).
WEIGHT_PER_READING = {Venue.USDM: 2, Venue.COINM: 1}
# The same for a whole account (no symbol): 40 each. Chosen from ACCOUNT_WIDE_FROM symbols due on an account:
# more weight, but two requests instead of dozens (each costs the worker a millisecond or two of CPU), and
# only ever spent from what the address has spare.
WHOLE_ACCOUNT_WEIGHT = 40
ACCOUNT_WIDE_FROM = 5


def weight_per_minute(policies) -> int:
    """What reading every armed policy's orders costs an address a minute at most (the budget page's line)."""
    per_account = {}
    for p in policies:
        if p.armed:
            per_account.setdefault(p.account_id, []).append(WEIGHT_PER_READING.get(p.account.venue, 1))
    reading = sum(
        WHOLE_ACCOUNT_WEIGHT * w[0] if len(w) >= ACCOUNT_WIDE_FROM else sum(w) for w in per_account.values()
    )
    return int(reading * 60 / STAKE_EVERY)


def refresh_round(now=None) -> int:
    """One round: read the due policies, address by address, within each address's spare weight. Returns
    how many were read."""
    now = now or timezone.now()
    due_before = now - timedelta(seconds=STAKE_EVERY)
    policies = list(
        CountdownPolicy.objects.select_related("account")
        .filter(armed=True, account__enabled=True)
        .order_by("pk")
    )
    checked = dict(OrdersAtStake.objects.values_list("policy_id", "checked_at"))
    due = [p for p in policies if checked.get(p.pk) is None or checked[p.pk] <= due_before]
    due.sort(key=lambda p: checked.get(p.pk) or now - timedelta(days=1))
    by_address = {}
    for p in due:
        by_address.setdefault((p.account.egress, p.account.base_url), {}).setdefault(p.account_id, []).append(
            p
        )
    read = 0
    for (egress, base_url), accounts in by_address.items():
        # Kept free: what Disarm all of every policy here needs, plus a minute of their heartbeats.
        on_egress = [p for p in policies if p.account.egress == egress]
        spare = budget.spare_weight(egress, base_url, budget.Purpose.READ, policies=on_egress).weight
        for mine in accounts.values():
            account = mine[0].account
            per_symbol = WEIGHT_PER_READING.get(account.venue, 1)
            whole = WHOLE_ACCOUNT_WEIGHT * per_symbol
            if len(mine) >= ACCOUNT_WIDE_FROM and spare >= whole:
                spare -= whole
                _read_account(account, [p for p in policies if p.account_id == account.pk])
                read += len(mine)
                continue
            for policy in mine:
                if spare < per_symbol:
                    break
                spare -= per_symbol
                _read(account, [policy], symbol=policy.symbol)
                read += 1
    return read


def _read_account(account, policies) -> None:
    _read(account, policies, symbol=None)


def _read(account, policies, *, symbol: str | None) -> None:
    """Read the open orders (and algo orders) of one symbol, or of the whole account, and store them for
    `policies`."""
    values = {"checked_at": timezone.now(), "error": ""}
    orders = algo = None
    client = None
    error = None
    try:
        # The web's fallback sender's clients: kept between readings, so the clock is measured now and then,
        # not before every reading.
        client = fallback.client_of(account, EngineConfig.from_settings())
        orders = client.open_orders(symbol)
        algo = client.open_algo_orders(symbol) if client.has_algo_service else None
    except Exception as exc:  # the reading is informative: say what went wrong, keep the last figures
        error = exc
        values["error"] = f"Orders not read: {exc}"[:300]
    finally:
        if client is not None:
            ratelimits.observe(account.egress, account.base_url, client, error)
    for policy in policies:
        mine = dict(values)
        if orders is not None:
            own = [o for o in orders if o.get("symbol", policy.symbol) == policy.symbol]
            mine.update(
                orders=len(own),
                buy_notional=_notional(own, "BUY"),
                sell_notional=_notional(own, "SELL"),
                algo_orders=None
                if algo is None
                else sum(o.get("symbol", policy.symbol) == policy.symbol for o in algo),
            )
        _store(policy, mine)


def _store(policy, values: dict) -> None:
    now = values["checked_at"]
    row = OrdersAtStake.objects.filter(pk=policy.pk).first()
    emptied = row is not None and not values["error"] and (row.orders or 0) > 0 and values.get("orders") == 0
    if emptied and (policy.status(now).state == Status.EXPIRED or _lapsed_recently(policy, now)):
        values.update(gone_at=now, gone_count=row.orders)
    OrdersAtStake.objects.update_or_create(policy_id=policy.pk, defaults=values)


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
            total += float(o.get("price") or 0) * max(
                0.0, float(o.get("origQty") or 0) - float(o.get("executedQty") or 0)
            )
        except (TypeError, ValueError):
            return None
    return round(total, 2)
