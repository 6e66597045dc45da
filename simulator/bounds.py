"""Checks on the numbers and texts the control interface and tests may set.

A non-finite or huge delay would overflow `time.sleep` or a timer wait inside every later request; a list
where a text belongs would fail deep inside the exchange. Each is refused up front with a clear ValueError.
"""

import math

MAX_DELAY_MS = 600_000  # latency and injected delays: 10 minutes
MAX_WAIT_SECONDS = 3_600  # hold timeouts and release waits
MAX_SKEW_MS = 10 * 365 * 86_400_000  # ten years either way


def number(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(result) or not low <= result <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return result


def integer(value, name: str, low: int, high: int) -> int:
    result = number(value, name, low, high)
    if result != int(result):
        raise ValueError(f"{name} must be a whole number")
    return int(result)


def text(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value
