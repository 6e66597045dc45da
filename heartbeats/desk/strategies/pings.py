"""What a ping does, and the strategy's life cycle: made with a secret ping URL, held and released.

A ping is cheap: one lookup by the key's SHA-256 (an index probe; the key itself is never compared or
stored), then one short transaction -- the shared rate limit's counter (heartbeats.domain.throttle), one
UPDATE of the strategy's row and one small INSERT for the recent-pings list -- and no session. Its answer says
what happened ("OK", "HELD", "RESUMED", "FAILED", or TOO_MANY) in one line, for a cron log.
"""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from heartbeats.desk.strategies.silence import cancel_for, held_targets
from heartbeats.domain import audit, throttle
from heartbeats.domain.validation import plain_reason
from heartbeats.formats.durations import duration
from heartbeats.models import Action, Effect
from heartbeats.models.strategies import HoldReason, PingKind, Strategy, StrategyPing

log = logging.getLogger(__name__)

KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
# Pings older than this are pruned every minute (the pages list the latest ones): at 10,000 pings a minute
# the table stays near 100,000 rows.
PINGS_KEPT_FOR = timedelta(minutes=10)
# A strategy pings every few seconds: more than this a second, for one URL or from one address, is a flood
# (counted across every web process: heartbeats.domain.throttle).
PER_KEY_PER_SECOND = 20
PER_ADDRESS_PER_SECOND = 100
TOO_MANY = "TOO MANY"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(24)


def usable_key(key: str) -> bool:
    return 16 <= len(key) <= 64 and set(key) <= KEY_CHARS


def record(key: str, ip: str | None, *, fail: bool = False) -> str | None:
    """Take one ping (or a /fail); the one-word outcome, None when no strategy has this key, or TOO_MANY
    (nothing recorded) when this URL or this address pings faster than its limit."""
    hashed = digest(key)
    row = (
        Strategy.objects.filter(ping_key_hash=hashed)
        .values(
            "pk", "name", "last_ping_at", "grace_s", "held_reason", "rearm_on_return", "cancel_when_silent"
        )
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    pk, name, last, grace, held = (
        row["pk"],
        row["name"],
        row["last_ping_at"],
        row["grace_s"],
        row["held_reason"],
    )
    pinged = {"last_ping_at": now, "last_ping_ip": ip, "ping_count": F("ping_count") + 1}
    silence = last is not None and now - last > timedelta(seconds=grace)
    with transaction.atomic():
        # Counted for known URLs only: an unknown key costs one indexed read and writes nothing.
        if not throttle.allow(
            (f"ping-url:{hashed}", PER_KEY_PER_SECOND), (f"ping-address:{ip or '-'}", PER_ADDRESS_PER_SECOND)
        ):
            return TOO_MANY
        StrategyPing.objects.create(
            strategy_id=pk, at=now, ip=ip, kind=PingKind.FAIL if fail else PingKind.PING
        )
        if fail:
            Strategy.objects.filter(pk=pk).update(**pinged, held_reason=HoldReason.FAILED, held_since=now)
            if held != HoldReason.FAILED:
                _audit(Action.STRATEGY_FAILED, pk, name, ip, "the strategy reported a failure (/fail)")
            outcome = "FAILED"
        elif held or silence:
            if row["rearm_on_return"]:
                Strategy.objects.filter(pk=pk).update(**pinged, held_reason="", held_since=None)
                _audit(Action.STRATEGY_RESUMED, pk, name, ip, "a ping after silence: heartbeats resume")
                outcome = "RESUMED"
            else:
                if not held:  # the silence was not latched yet: it is now, an operator releases it
                    Strategy.objects.filter(pk=pk).update(
                        held_reason=HoldReason.SILENT, held_since=last + timedelta(seconds=grace)
                    )
                    _audit(
                        Action.STRATEGY_SILENT,
                        pk,
                        name,
                        ip,
                        f"no ping for {duration(grace * 1000)} before this one",
                    )
                Strategy.objects.filter(pk=pk).update(**pinged)
                outcome = "HELD"
        else:
            Strategy.objects.filter(pk=pk).update(**pinged)
            outcome = "OK"
    if fail and held != HoldReason.FAILED:
        log.warning(
            "strategy %s reported a failure: heartbeats held back, its orders are being cancelled", name
        )
        cancel_for(Strategy.objects.get(pk=pk), why=f"strategy {name} reported a failure (/fail)")
    elif silence and not held and row["cancel_when_silent"]:
        # The silence ended before the latch saw it (latch_silences), so its at-once cancel is owed here.
        cancel_for(
            Strategy.objects.get(pk=pk),
            why=f"strategy {name} went silent for more than {duration(grace * 1000)}",
        )
    return outcome


def _audit(action: str, pk: int, name: str, ip, what: str) -> None:
    audit.record(
        action,
        user=None,
        ip=ip,
        username=f"strategy {name}"[:150],
        reason=f"strategy {name}: {what}",
        targets=held_targets(pk, Effect.RELEASED if action == Action.STRATEGY_RESUMED else Effect.HELD),
    )


def release(strategy: Strategy, *, user, ip, reason: str) -> None:
    """An operator lets a held strategy's policies be beaten again once it pings: a ping within the grace
    counts, an older one does not (the strategy must ping again). Decided on the row as stored, locked:
    a ping, a /fail or the latch may have committed since `strategy` was loaded."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Give a reason for releasing the strategy: it is kept in the audit trail.")
    plain_reason(reason)
    with transaction.atomic():
        stored = Strategy.objects.select_for_update().filter(pk=strategy.pk).first()
        if stored is None:
            raise ValueError(f"Strategy {strategy.name} was deleted meanwhile.")
        now = timezone.now()
        fresh = stored.last_ping_at is not None and now - stored.last_ping_at <= timedelta(
            seconds=stored.grace_s
        )
        Strategy.objects.filter(pk=stored.pk).update(
            held_reason="", held_since=None, last_ping_at=stored.last_ping_at if fresh else None
        )
        audit.record(
            Action.STRATEGY_RELEASE,
            user=user,
            ip=ip,
            reason=reason,
            changes={"strategy": stored.name, "held": [stored.held_reason, ""]},
            targets=held_targets(stored.pk, Effect.RELEASED),
        )


def prune(now=None) -> int:
    now = now or timezone.now()
    return StrategyPing.objects.filter(at__lt=now - PINGS_KEPT_FOR).delete()[0]
