"""Waiting in tests: polling a condition with a deadline, and allowing for a busy machine in timing checks."""

import threading
import time
from contextlib import contextmanager


def wait_for(predicate, timeout=5.0, every=0.02, message="condition"):
    """Return the first truthy value of `predicate()`, or fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


@contextmanager
def scheduling_lag(tick=0.01):
    """Measures, while the block runs, how late a thread of this process wakes up: the most a `tick` sleep of
    a thread of its own overslept. `with scheduling_lag() as lag: ...` then `lag()` in seconds.

    A check that something happened within a few milliseconds of its time allows for it: on an idle machine
    the lag is a millisecond or two and the check stays as tight as written; on one busy with other tests,
    no thread of this process can be on time, and the check still measures only what is under test."""
    stop = threading.Event()
    worst = [0.0]

    def watch():
        while not stop.is_set():
            started = time.monotonic()
            time.sleep(tick)  # the instrument: a thread asking to wake `tick` from now
            worst[0] = max(worst[0], time.monotonic() - started - tick)

    thread = threading.Thread(target=watch, name="scheduling-lag", daemon=True)
    thread.start()
    try:
        yield lambda: worst[0]
    finally:
        stop.set()
        thread.join()
