"""Reading desired state from the database: the full policy set of an egress, and a watcher that polls only
the rows people changed (`updated_at` / `desired_changed_at`) so the engine reacts to a disarm within a
poll interval. Everything it finds is handed to the engine's loop through its inbox."""

import logging
import threading
import time
from datetime import timedelta

from django.db import DatabaseError, connections
from django.db.models import Count, Max
from django.utils import timezone

from heartbeats.crypto import SecretDecryptionError
from heartbeats.engine.plan import PolicyState, epoch
from heartbeats.engine.polling import changed_since
from heartbeats.engine.polling import epoch as text_epoch
from heartbeats.models import CountdownPolicy, ExchangeAccount

log = logging.getLogger(__name__)

_FIELDS = (
    "id",
    "account_id",
    "symbol",
    "countdown_ms",
    "interval_s",
    "armed",
    "generation",
    "desired_changed_at",
    "updated_at",
    "last_arm_sent_at",
    "last_arm_countdown_ms",
    "last_arm_generation",
    "disarm_acked_at",
    "disarm_acked_generation",
    "final_disarm_generation",
    "fatal_generation",
    "next_due_at",
)
_TIMES = {"desired_changed_at", "updated_at", "last_arm_sent_at", "disarm_acked_at", "next_due_at"}
# Rows changed this close to the previous poll are read again: clocks of the web and engine hosts differ a
# little, and a transaction may commit a change stamped slightly earlier.
_OVERLAP = timedelta(seconds=2)


def state_from_row(row: dict) -> PolicyState:
    values = {k: (epoch(row[k]) if k in _TIMES else row[k]) for k in _FIELDS}
    values["enabled"] = row["account__enabled"]
    return PolicyState(**values)


def _rows(egress: str, ids=None) -> list[dict]:
    rows = CountdownPolicy.objects.filter(account__egress=egress)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return list(rows.values(*_FIELDS, "account__enabled"))


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


def accounts_version(egress: str):
    row = ExchangeAccount.objects.filter(egress=egress).aggregate(
        changed=Max("updated_at"), count=Count("id")
    )
    return (row["changed"], row["count"])


class Watcher(threading.Thread):
    """Posts ("changed", [PolicyState]), ("all", [PolicyState]) and ("accounts", [ExchangeAccount])."""

    def __init__(self, egress: str, inbox, config, accounts_seen=None):
        super().__init__(name=f"engine-watcher-{egress}", daemon=True)
        self.egress = egress
        self.inbox = inbox
        self.config = config
        self._stop = threading.Event()
        self._seen: dict[int, tuple] = {}
        self._accounts_seen = accounts_seen
        self.last_error = ""

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        cfg = self.config
        watermark = timezone.now() - _OVERLAP
        next_full = time.monotonic() + cfg.full_reload_every
        next_accounts = time.monotonic() + cfg.accounts_poll_every
        try:
            while not self._stop.wait(cfg.poll_every):
                try:
                    started = timezone.now()
                    fresh = [row for row in changed_since(self.egress, watermark) if self._is_new(row)]
                    watermark = started - _OVERLAP
                    if fresh:
                        # Arm/disarm go to the loop at once; the whole rows (edits too) follow.
                        self.inbox.put(("desired", [(r[0], r[1], r[2], text_epoch(r[4])) for r in fresh]))
                        rows = _rows(self.egress, ids=[row[0] for row in fresh])
                        self.inbox.put(("changed", [state_from_row(r) for r in rows]))
                    now = time.monotonic()
                    if now >= next_accounts:
                        next_accounts = now + cfg.accounts_poll_every
                        version = accounts_version(self.egress)
                        if version != self._accounts_seen:
                            self._accounts_seen = version
                            self.inbox.put(("accounts", load_accounts(self.egress)))
                            next_full = now
                    if now >= next_full:
                        next_full = now + cfg.full_reload_every
                        rows = _rows(self.egress)
                        self.inbox.put(("all", [state_from_row(r) for r in rows]))
                    self.last_error = ""
                except DatabaseError as exc:
                    # The engine keeps beating from what it knows; this poll is simply tried again.
                    if not self.last_error:
                        log.warning("reading policy changes failed (%s); retrying", exc)
                    self.last_error = f"Database reads failing: {exc}"[:300]
        finally:
            connections.close_all()

    def _is_new(self, signature: tuple) -> bool:
        """Whether people changed this policy since it was last handed to the engine (a row of
        polling.changed_since is its signature)."""
        if self._seen.get(signature[0]) == signature:
            return False
        self._seen[signature[0]] = signature
        return True
