"""Arm, disarm and disarm all stamp desired_changed_at after the policy rows are locked: a wait for the lock
must not make the stamp older than the change it records.

The lock wait is simulated: a fake clock that moves on when the locking SELECT runs (SQLite has no row locks
to wait for; the order of clock reading and locking query is what matters)."""

from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from heartbeats.desk import actions
from heartbeats.domain import desired
from heartbeats.models import CountdownPolicy

from .conftest import make_account, make_policy

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("live_engine")]

IP = "203.0.113.9"
LOCK_WAIT = timedelta(seconds=5)


@contextmanager
def slow_lock(monkeypatch):
    """The desired-state write's clock, which moves on by LOCK_WAIT while the first SELECT of policies waits
    for its lock.
    Yields the time the lock is held from."""
    start = timezone.now().replace(microsecond=0)
    clock = SimpleNamespace(now=start, waited=False)

    def wait_for_lock(execute, sql, params, many, context):
        if not clock.waited and sql.lstrip().upper().startswith("SELECT") and "countdownpolicy" in sql:
            clock.waited = True
            clock.now += LOCK_WAIT
        return execute(sql, params, many, context)

    monkeypatch.setattr(desired, "timezone", SimpleNamespace(now=lambda: clock.now))
    with connection.execute_wrapper(wait_for_lock):
        yield start + LOCK_WAIT


def stamped(policy) -> tuple:
    stored = CountdownPolicy.objects.get(pk=policy.pk)
    return stored.desired_changed_at, stored.updated_at


def test_an_arm_is_stamped_after_the_lock_is_held(cast, monkeypatch):
    policy = make_policy(make_account("desk-a"), "BTCUSDT")
    with slow_lock(monkeypatch) as locked_at:
        actions.arm(policy.pk, user=cast.operator, ip=IP)
    assert stamped(policy) == (locked_at, locked_at)


def test_a_disarm_all_is_stamped_after_the_locks_are_held(cast, monkeypatch):
    policy = make_policy(make_account("desk-a"), "BTCUSDT", armed=True, generation=1)
    with slow_lock(monkeypatch) as locked_at:
        actions.disarm_all(user=cast.operator, ip=IP, reason="drill")
    assert stamped(policy) == (locked_at, locked_at)
