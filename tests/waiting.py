"""Polling helper for tests that wait on other threads, processes or the simulator."""

import time


def wait_for(predicate, timeout=5.0, every=0.02, message="condition"):
    """Return the first truthy value of `predicate()`, or fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
