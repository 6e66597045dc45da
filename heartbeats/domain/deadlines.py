"""How long a duty sleeps before a deadline that is a wall-clock time (a maintenance window's start or end, a
strategy's grace running out): the one rule, for every duty that has one."""

from datetime import datetime

from django.utils import timezone

# While a deadline is ahead, the duty looks this often (one small query): a clock stepped forward (NTP) is
# then caught within it, where a sleep measured on the monotonic clock would run past the deadline.
LOOK_EVERY = 1.0


def sleep_before(upcoming: datetime | None, rest: float) -> float:
    """Seconds to sleep before looking again: `rest` with no deadline ahead (news of a change wakes the duty
    sooner, heartbeats.engine.wakeup), else until `upcoming`, at most LOOK_EVERY."""
    if upcoming is None:
        return rest
    return min(LOOK_EVERY, max(0.0, (upcoming - timezone.now()).total_seconds()))
