"""The exchange's limits on one source address, shared by every process that sends from it.

Binance counts request weight per address and per minute of its own clock, answers 429 when the minute is
spent and bans (418) an address that keeps sending after a 429, for minutes at first and up to days for
repeat offenders. So the used weight, the pause and the ban are state of the address (an AddressLimits row),
not of an engine or a process: the engine's meters start from it and write to it, and every other request
(the web's fallback disarms, key checks, symbol lists) asks `refusal()` first and reports with `observe()`.

Every write is one conditional UPDATE that only moves a value forward, so processes never undo each other.
"""

import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from heartbeats.exchange.errors import RateLimitedError
from heartbeats.models import AddressLimits
from heartbeats.models.bulk import insert_many

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
# Binance's documented REQUEST_WEIGHT per minute, when neither the exchange nor an engine has said otherwise.
FALLBACK_WEIGHT_LIMIT = 2400


def exchange_minute(now: float, offset_ms: int = 0) -> int:
    return int((now * 1000 + offset_ms) // MINUTE_MS)


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    if value.tzinfo is None:  # SQLite's columns read without the ORM: UTC, naive
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass(frozen=True)
class Snapshot:
    minute: int
    used_weight: int
    weight_limit: int | None
    paused_until: float  # epoch seconds, 0 when none
    banned_until: float

    def used_in(self, minute: int) -> int:
        return self.used_weight if self.minute == minute else 0


def ensure_row(egress: str, base_url: str) -> None:
    # An insert that does nothing when the row exists (made earlier, or by another process meanwhile): no read
    # first, and no error to recover from inside the caller's transaction.
    row = AddressLimits(egress=egress, base_url=base_url[:200], updated_at=timezone.now())
    insert_many([row], ignore_conflicts=True)


@functools.cache
def _statements(vendor: str) -> dict[str, str]:
    """The statements an engine runs every second while it sends, built once: the ORM takes longer to build
    each than the database to run it. Every write only moves a value forward."""
    q = connection.ops.quote_name
    c = lambda n: q(AddressLimits._meta.get_field(n).column)  # noqa: E731
    table, row = q(AddressLimits._meta.db_table), f"{c('egress')} = %s AND {c('base_url')} = %s"
    wanted = ", ".join(
        c(n) for n in ("minute", "used_weight", "weight_limit", "paused_until", "banned_until")
    )

    def later(name):  # a pause or a ban only ever gets longer
        return f"UPDATE {table} SET {c(name)} = %s WHERE {row} AND ({c(name)} IS NULL OR {c(name)} < %s)"  # noqa: S608

    return {
        "read": f"SELECT {wanted} FROM {table} WHERE {row} ORDER BY {c('id')} LIMIT 1",  # noqa: S608
        # A later minute's weight replaces the stored one; the same minute's only raises it.
        "used": (
            f"UPDATE {table} SET {c('minute')} = %s, {c('used_weight')} = %s WHERE {row}"  # noqa: S608
            f" AND ({c('minute')} < %s OR ({c('minute')} = %s AND {c('used_weight')} < %s))"
        ),
        "limit": (
            f"UPDATE {table} SET {c('weight_limit')} = %s WHERE {row}"  # noqa: S608
            f" AND ({c('weight_limit')} IS NULL OR {c('weight_limit')} <> %s)"
        ),
        "paused_until": later("paused_until"),
        "banned_until": later("banned_until"),
    }


@functools.cache
def _read_many_statement(vendor: str, count: int) -> str:
    q = connection.ops.quote_name
    c = lambda n: q(AddressLimits._meta.get_field(n).column)  # noqa: E731
    wanted = ", ".join(
        c(n) for n in ("base_url", "minute", "used_weight", "weight_limit", "paused_until", "banned_until")
    )
    marks = ", ".join(["%s"] * count)
    return (
        f"SELECT {wanted} FROM {q(AddressLimits._meta.db_table)}"  # noqa: S608
        f" WHERE {c('egress')} = %s AND {c('base_url')} IN ({marks}) ORDER BY {c('id')}"
    )


def read(egress: str, base_url: str) -> Snapshot | None:
    # Every second by each engine and before every request another process makes: a statement built once.
    with connection.cursor() as cursor:
        cursor.execute(_statements(connection.vendor)["read"], [egress, base_url[:200]])
        row = cursor.fetchone()
    if row is None:
        return None
    minute, used, limit, paused, banned = row
    return Snapshot(minute, used, limit, _epoch(paused), _epoch(banned))


def read_many(egress: str, base_urls) -> dict[str, Snapshot]:
    """`read` for several addresses of one egress in one query (an engine's every address, each second)."""
    wanted = {url[:200]: url for url in base_urls}
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_read_many_statement(connection.vendor, len(wanted)), [egress, *wanted])
        rows = cursor.fetchall()
    found = {}
    for base_url, minute, used, limit, paused, banned in rows:
        url = wanted.get(base_url)
        if url is not None and url not in found:  # the first row, as read() takes it
            found[url] = Snapshot(minute, used, limit, _epoch(paused), _epoch(banned))
    return found


def record(
    egress: str,
    base_url: str,
    *,
    minute: int | None = None,
    used_weight: int | None = None,
    weight_limit: int | None = None,
    paused_until: float | None = None,
    banned_until: float | None = None,
) -> None:
    """Merge what one process knows into the address's row: the used weight of a later minute replaces the
    stored one, of the same minute raises it; pauses and bans only ever get longer. One transaction: an engine
    records every second while it sends, and each commit wakes every process listening to the database."""
    with transaction.atomic():
        _record(egress, base_url, minute, used_weight, weight_limit, paused_until, banned_until)


def _record(egress, base_url, minute, used_weight, weight_limit, paused_until, banned_until) -> None:
    ensure_row(egress, base_url)
    statements, row = _statements(connection.vendor), [egress, base_url[:200]]
    with connection.cursor() as cursor:
        if minute is not None and used_weight is not None:
            cursor.execute(statements["used"], [minute, used_weight, *row, minute, minute, used_weight])
        if weight_limit:
            cursor.execute(statements["limit"], [weight_limit, *row, weight_limit])
        for name, until in (("paused_until", paused_until), ("banned_until", banned_until)):
            if until:
                value = AddressLimits._meta.get_field(name).get_db_prep_save(_dt(until), connection)
                cursor.execute(statements[name], [value, *row, value])


# How long to stay quiet after a 429 or a 418 that named no Retry-After (the engine's defaults too).
RATE_LIMIT_PAUSE = 5.0
BAN_PAUSE = 120.0


def weight_left(
    snap: Snapshot | None, *, limit: int | None = None, now: float | None = None
) -> tuple[int, str]:
    """The weight this address can still spend this minute, and why that is not the whole limit: nothing
    during a ban or a 429 pause, else what is left of the minute as the exchange last reported it (a burst
    into a spent minute earns 429s, then a ban)."""
    now = now or time.time()
    limit = (snap.weight_limit if snap else None) or limit or FALLBACK_WEIGHT_LIMIT
    if snap is None:
        return limit, ""
    if snap.banned_until > now:
        return 0, f"The exchange banned this address (HTTP 418) until {_dt(snap.banned_until):%H:%M:%S} UTC."
    if snap.paused_until > now:
        return 0, f"Rate limited (HTTP 429): sends paused until {_dt(snap.paused_until):%H:%M:%S} UTC."
    used = snap.used_in(exchange_minute(now))
    why = f"This address has used {used} of its {limit} request weight this minute" if used else ""
    return max(0, limit - used), why


def refusal(egress: str, base_url: str, weight: int, *, limit: int | None = None) -> str:
    """Why one request of `weight` must not be sent from this address now ("" when it may)."""
    snap = read(egress, base_url)
    left, why = weight_left(snap, limit=limit)
    if left >= weight:
        return ""
    held = snap is not None and max(snap.banned_until, snap.paused_until) > time.time()
    return why if held else f"{why}: held until the next minute."


def learn(
    egress: str,
    base_url: str,
    *,
    used_weight: int | None = None,
    at: float | None = None,
    offset_ms: int = 0,
    weight_limit: int | None = None,
    retry_after: float | None = None,
    rate_limited: bool = False,
    banned: bool = False,
    sent_at: float | None = None,
) -> None:
    """Store what one answer said: the weight the exchange reported (at local time `at`, for a request sent
    at `sent_at`), and the pause or ban its 429/418 asked for. A count whose request left in one minute and
    came back in the next is left out: which minute it counts is not known (WeightMeter.report)."""
    now = time.time()
    fields = {}
    minute = exchange_minute(at or now, offset_ms)
    if used_weight is not None and (sent_at is None or exchange_minute(sent_at, offset_ms) == minute):
        fields.update(minute=minute, used_weight=used_weight)
    if weight_limit:
        fields["weight_limit"] = weight_limit
    if rate_limited or banned:
        pause = retry_after if retry_after is not None else (BAN_PAUSE if banned else RATE_LIMIT_PAUSE)
        fields["paused_until"] = now + pause
        if banned:
            fields["banned_until"] = now + pause
    if fields:
        record(egress, base_url, **fields)


def observe(egress: str, base_url: str, client, error=None) -> None:
    """After a request through `client` (a venue's client: exchange.factory) that raised `error` (or None)."""
    limited = isinstance(error, RateLimitedError)
    learn(
        egress,
        base_url,
        used_weight=client.used_weight,
        at=client.used_weight_at,
        sent_at=getattr(client, "used_weight_sent_at", None),
        offset_ms=client.offset_ms or 0,
        weight_limit=client.weight_limit,
        retry_after=error.retry_after if limited else None,
        rate_limited=limited,
        banned=limited and error.banned,
    )
