"""Durations as people read them: "57 ms", "4.2 s", "1 min 22 s", "2 h 5 min" -- never "82080 ms".

The one place a duration is worded for a person: pages (the `duration` template filter), the admin and alert
texts all call `duration()`. Countdowns ticking on the board keep their clock face
(presenters.format_remaining).
"""

MINUS = "−"


def duration(ms: float | int | None, *, empty: str = "—") -> str:
    """`ms` milliseconds in the largest units that keep it exact enough to act on; negative ones (early)
    with a minus sign."""
    if ms is None:
        return empty
    sign = MINUS if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f} ms"
    if ms < 10_000:
        return f"{sign}{f'{ms / 1000:.1f}'.removesuffix('.0')} s"
    seconds = int(round(ms / 1000))
    if seconds < 60:
        return f"{sign}{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{sign}{minutes} min {secs} s" if secs else f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours} h {minutes} min" if minutes else f"{sign}{hours} h"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
