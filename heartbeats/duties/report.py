"""What every duty is doing, for the duties page and `manage.py engine_status`: who holds it, since when, its
last run and its last error, from the duties' rows (one query) and the catalogue."""

from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import timezone

from heartbeats.duties.catalogue import duties
from heartbeats.duties.supervisor import LEASE_TTL
from heartbeats.models import Duty

HELD, FAILING, FREE, EXPIRED, OFF = "held", "failing", "free", "expired", "off"


@dataclass(frozen=True)
class DutyState:
    name: str
    what: str
    kinds: str  # "web, worker"
    period_s: float | None  # None: it runs all the time (an engine)
    holder: str
    acquired_at: datetime | None
    expires_at: datetime | None
    last_run_at: datetime | None
    failures: int
    last_error: str
    last_error_at: datetime | None
    state: str  # held, failing, free, expired, off (switched off by settings)

    @property
    def host(self) -> str:
        """The host of the holding process ("web:host:pid:token")."""
        parts = self.holder.split(":")
        return parts[1] if len(parts) > 2 else ""


def duty_states(now: datetime | None = None) -> list[DutyState]:
    """Every duty of the catalogue, and the engine of every egress identity that has one."""
    now = now or timezone.now()
    rows = {d.name: d for d in Duty.objects.exclude(name__startswith="send:")}
    specs = {s.name: s for s in duties()}
    for name in rows:
        if name.startswith("engine:") and name not in specs:
            egress = name.split(":", 1)[1]
            specs[name] = None, f"Heartbeats of egress “{egress}”"  # served by another host's worker
    states = []
    for name in sorted(specs, key=lambda n: (not n.startswith("engine:"), n)):
        spec = specs[name]
        what, kinds, period = (spec[1], "worker", None) if isinstance(spec, tuple) else _described(spec)
        row = rows.get(name)
        state = _state(name, what, kinds, period, row, now)
        if state.state == FREE and not isinstance(spec, tuple) and not spec.enabled():
            state = replace(state, state=OFF)
        states.append(state)
    return states


def _described(spec) -> tuple[str, str, float | None]:
    return spec.what, ", ".join(sorted(spec.kinds)), spec.period if spec.step is not None else None


def _state(name, what, kinds, period, row: Duty | None, now) -> DutyState:
    if row is None:
        return DutyState(name, what, kinds, period, "", None, None, None, 0, "", None, FREE)
    if row.holder and row.expires_at is not None and row.expires_at > now:
        state = FAILING if row.failures else HELD
    else:
        state = EXPIRED if row.holder else FREE
    return DutyState(
        name,
        what,
        kinds,
        period,
        row.holder,
        row.acquired_at,
        row.expires_at,
        row.last_run_at,
        row.failures,
        row.last_error,
        row.last_error_at,
        state,
    )


def overdue(state: DutyState, now: datetime | None = None) -> bool:
    """A periodic duty nobody holds beyond the time another process takes it over: nobody runs it."""
    now = now or timezone.now()
    if state.state not in (FREE, EXPIRED) or state.period_s is None:
        return False
    since = state.expires_at or state.last_run_at
    return since is None or (now - since).total_seconds() > 2 * LEASE_TTL
