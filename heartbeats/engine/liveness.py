"""Engine liveness records: written about every second by each running engine, read by pages and commands."""

from datetime import datetime

from django.utils import timezone

from heartbeats.models import EngineLiveness
from heartbeats.models.bulk import update_row


def write(engine_id: str, **fields) -> None:
    fields["seen_at"] = timezone.now()
    if "last_error" in fields:
        fields["last_error"] = (fields["last_error"] or "")[:300]
    # Every second per engine: a statement built once (models/bulk.py), not by the ORM each time.
    if not update_row(EngineLiveness, engine_id, **fields):
        EngineLiveness.objects.update_or_create(engine_id=engine_id, defaults=fields)


def fresh(now: datetime | None = None, egress: str | None = None):
    """Records not yet stale, newest first."""
    now = now or timezone.now()
    rows = EngineLiveness.objects.filter(seen_at__gte=now - EngineLiveness.STALE_AFTER)
    if egress is not None:
        rows = rows.filter(egress=egress)
    return rows.order_by("-holds_lease", "egress", "-seen_at")


def engine_alive(now: datetime | None = None, egress: str | None = None) -> bool:
    """True when an engine holding the lease (of `egress`, or of any egress) reported within STALE_AFTER."""
    now = now or timezone.now()
    return any(row.is_sending(now) for row in fresh(now, egress).filter(holds_lease=True))


def sending_egresses(egresses, now: datetime | None = None) -> set[str]:
    """Which of `egresses` have an engine alive (engine_alive's rule), in one query however many there are."""
    now = now or timezone.now()
    rows = fresh(now).filter(holds_lease=True, egress__in=list(egresses))
    return {row.egress for row in rows if row.is_sending(now)}


def current_engines(now: datetime | None = None, egress: str | None = None) -> list[EngineLiveness]:
    """Engines that reported within STALE_AFTER: the active one(s) first, then standbys."""
    return list(fresh(now, egress))


def standbys(egress: str, exclude: str | None = None, now: datetime | None = None) -> list[EngineLiveness]:
    """Engines standing by for `egress`'s lease (their records are written less often than an active
    one's)."""
    now = now or timezone.now()
    rows = EngineLiveness.objects.filter(
        egress=egress,
        holds_lease=False,
        stopping=False,
        seen_at__gte=now - EngineLiveness.STANDBY_STALE_AFTER,
    )
    if exclude:
        rows = rows.exclude(engine_id=exclude)
    return list(rows.order_by("-started_at", "-engine_id"))
