"""The alerting duty's step (heartbeats.duties runs it in whichever process holds the `alerts` duty, a web
process while any is alive): evaluate the conditions every EVALUATE_EVERY seconds, or sooner when a problem's
hold ends, and hand what is due to a small pool of senders, so a slow channel never holds up the evaluation
or the duty's lease.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections
from django.utils import timezone

from heartbeats.desk.alerts import delivery, ledger

log = logging.getLogger(__name__)

# Every evaluation reads the whole board (presenters.snapshot): a few ms of CPU at a small desk, so seconds
# apart; a problem is told within this of its hold, and lapses shorter than this are found in the beats.
EVALUATE_EVERY = 10.0
# After a round that handed notifications to the senders, deliveries are looked for again this soon.
DELIVER_EVERY = 1.0
SENDERS = 4


class Alerting:
    """One per process: `step()` is the duty's step; the senders' pool lives as long as the process."""

    def __init__(self):
        self._pool: ThreadPoolExecutor | None = None
        self._next_evaluation = 0.0

    def step(self) -> float:
        now = time.monotonic()
        if now >= self._next_evaluation:
            due_in = ledger.evaluate().next_due_s
            # Sooner when a problem's hold ends before then (at least a second apart).
            wait = EVALUATE_EVERY if due_in is None else min(EVALUATE_EVERY, max(1.0, due_in))
            self._next_evaluation = now + wait
        claimed, later = delivery.claim_due()
        for pk in claimed:
            self._senders().submit(_deliver_logged, pk)
        # A notification queued or retried wakes the duty (heartbeats.engine.wakeup); otherwise it sleeps
        # until the next evaluation or the next retry, whichever comes first.
        wait = self._next_evaluation - time.monotonic()
        if claimed:
            wait = min(wait, DELIVER_EVERY)  # their outcomes may make more due
        if later is not None:
            wait = min(wait, (later - timezone.now()).total_seconds())
        return max(0.0, wait)

    def _senders(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="alert-send")
        return self._pool


def run_once() -> None:
    """Evaluate and deliver in the calling thread (tests, and a command line)."""
    ledger.evaluate()
    for pk in delivery.due_ids():
        delivery.deliver(pk)


def _deliver_logged(pk: int) -> None:
    try:
        delivery.deliver(pk)
    except Exception as exc:  # its claim runs out and it is tried again
        log.warning("delivering notification %s failed (%s); it will be tried again", pk, exc)
        connections.close_all()
    else:
        close_old_connections()  # this pool thread's own connection, healed before its next send
