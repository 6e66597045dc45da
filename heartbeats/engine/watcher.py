"""Reading desired state from the database: the full policy set of an egress, and a watcher that reads only
the rows people changed (`updated_at` / `desired_changed_at`), woken by the database's own news of a change
(wakeup.py), so the engine reacts to a disarm within milliseconds without querying many times a second.
Everything it finds is handed to the engine's loop through its inbox (events.py).

The watcher is how the engine sees a disarm, so it must never stay deaf: after a failed read its connection
is replaced before the next poll, and `read_at` tells everyone when it last read successfully."""

import logging
import threading
import time
from dataclasses import fields
from datetime import timedelta

from django.db import Error as DatabaseError
from django.db import connection, connections
from django.utils import timezone

from heartbeats.crypto import SecretDecryptionError
from heartbeats.domain import ratelimits
from heartbeats.engine import wakeup
from heartbeats.engine.events import AccountsChanged, AllRows, DesiredChanged, RowsChanged
from heartbeats.engine.plan import PolicyState, epoch
from heartbeats.engine.sql import accounts_version, changed_since
from heartbeats.engine.sql import epoch as text_epoch
from heartbeats.models import DESIRED_FIELDS, ENGINE_FACTS, CountdownPolicy, ExchangeAccount

log = logging.getLogger(__name__)

# The columns of a PolicyState: what people set, and the engine facts it plans from.
_STATE_FIELDS = {f.name for f in fields(PolicyState)}
_FIELDS = (
    "id",
    "account_id",
    "symbol",
    "countdown_ms",
    "interval_s",
    "updated_at",
    *DESIRED_FIELDS,
    *(name for name in ENGINE_FACTS if name in _STATE_FIELDS),
)
_TIMES = {"desired_changed_at", "updated_at", "last_arm_sent_at", "disarm_acked_at", "next_due_at"}
# Rows changed this close to the previous poll are read again: clocks of the web and engine hosts differ a
# little, and a transaction may commit a change stamped slightly earlier.
_OVERLAP = timedelta(seconds=2)


def state_values() -> tuple[str, ...]:
    """The columns state_from_row() needs, for a `.values()` query."""
    return (*_FIELDS, "account__enabled")


def state_from_row(row: dict) -> PolicyState:
    values = {k: (epoch(row[k]) if k in _TIMES else row[k]) for k in _FIELDS}
    values["enabled"] = row["account__enabled"]
    return PolicyState(**values)


def _rows(egress: str, ids=None) -> list[dict]:
    rows = CountdownPolicy.objects.filter(account__egress=egress)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return list(rows.values(*state_values()))


def load_policies(egress: str) -> list[PolicyState]:
    return [state_from_row(row) for row in _rows(egress)]


def load_accounts(egress: str) -> list[ExchangeAccount]:
    """The egress's accounts, each loaded on its own so one undecryptable key does not hide the others."""
    accounts = []
    for pk in ExchangeAccount.objects.filter(egress=egress).values_list("pk", flat=True):
        try:
            accounts.append(ExchangeAccount.objects.get(pk=pk))
        except SecretDecryptionError as exc:
            log.error("account %s: %s", pk, exc)
        except ExchangeAccount.DoesNotExist:
            pass
    return accounts


def address_snapshots(egress: str, accounts) -> dict:
    """The stored limits of every address these accounts send to (base URL → ratelimits.Snapshot)."""
    snapshots = {}
    for base_url in {account.limit_address for account in accounts}:
        snapshot = ratelimits.read(egress, base_url)
        if snapshot is not None:
            snapshots[base_url] = snapshot
    return snapshots


class Watcher(threading.Thread):
    """Posts DesiredChanged, RowsChanged, AllRows and AccountsChanged to the engine's inbox."""

    def __init__(self, egress: str, inbox, config, accounts_seen=None, read_at: float | None = None):
        super().__init__(name=f"engine-watcher-{egress}", daemon=True)
        self.egress = egress
        self.inbox = inbox
        self.config = config
        self._stop = threading.Event()
        self._seen: dict[int, tuple] = {}
        self._accounts_seen = accounts_seen
        self._changes: wakeup.ChangeFeed | None = None
        self.last_error = ""
        # Epoch seconds of the last poll that read people's changes successfully.
        self.read_at: float | None = read_at or time.time()

    def stop(self) -> None:
        self._stop.set()
        if self._changes is not None:
            self._changes.interrupt()

    def run(self) -> None:
        cfg = self.config
        changes = self._changes = wakeup.feed(wakeup.DESIRED)
        watermark = timezone.now() - _OVERLAP
        next_full = time.monotonic() + cfg.full_reload_every
        next_accounts = time.monotonic() + cfg.accounts_poll_every
        try:
            while not self._stop.is_set():
                # Woken by a change (wakeup.py), or after `poll_every` whatever happened.
                changes.wait(cfg.poll_every, self._stop)
                if self._stop.is_set():
                    break
                try:
                    started = timezone.now()
                    read = time.time()
                    fresh = [row for row in changed_since(self.egress, watermark) if self._is_new(row)]
                    watermark = started - _OVERLAP
                    if fresh:
                        # Arm/disarm go to the loop at once; the whole rows (edits too) follow.
                        self.inbox.put(DesiredChanged([(r[0], r[1], r[2], text_epoch(r[4])) for r in fresh]))
                        rows = _rows(self.egress, ids=[row[0] for row in fresh])
                        self.inbox.put(RowsChanged([state_from_row(r) for r in rows]))
                    self.read_at = read
                    now = time.monotonic()
                    if now >= next_accounts:
                        next_accounts = now + cfg.accounts_poll_every
                        version = accounts_version(self.egress)
                        if version != self._accounts_seen:
                            accounts = load_accounts(self.egress)
                            self.inbox.put(
                                AccountsChanged(accounts, address_snapshots(self.egress, accounts))
                            )
                            self._accounts_seen = version
                            next_full = now
                    if now >= next_full:
                        next_full = now + cfg.full_reload_every
                        rows = _rows(self.egress)
                        self.inbox.put(AllRows([state_from_row(r) for r in rows]))
                    if self.last_error:
                        log.warning("reading policy changes works again")
                    self.last_error = ""
                except DatabaseError as exc:
                    # Arms go on from memory only within desired_stale_after of read_at (plan.vet); this
                    # poll is tried again on a new connection.
                    if not self.last_error:
                        log.warning("reading policy changes failed (%s); reconnecting", exc)
                    self.last_error = f"Database reads failing: {exc}"[:300]
                    connection.close()
                    self._stop.wait(0.05)
        finally:
            changes.close()
            connections.close_all()

    def _is_new(self, signature: tuple) -> bool:
        """Whether people changed this policy since it was last handed to the engine (a row of
        polling.changed_since is its signature)."""
        if self._seen.get(signature[0]) == signature:
            return False
        self._seen[signature[0]] = signature
        return True
