"""The `prune` duty: old beats, finished queue tasks, old pings and long-gone engine records go; nothing
else does."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Task

from heartbeats.desk.pruning import prune
from heartbeats.models import Beat, EngineLiveness

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_prunes_old_beats_task_results_and_engine_records(make_account, make_policy, settings):
    settings.BEAT_RETENTION_DAYS = 7
    policy = make_policy(make_account())
    now = timezone.now()
    for age in (1, 8, 30):
        Beat.objects.create(
            policy=policy,
            generation=1,
            kind="arm",
            countdown_ms=1,
            sent_at=now - timedelta(days=age),
            outcome="confirmed",
        )
    for age in (1, 9):
        Task.objects.create(
            id=f"t{age}",
            name=f"t{age}",
            func="x",
            started=now - timedelta(days=age),
            stopped=now - timedelta(days=age),
        )
    for engine_id, age in (("recent", timedelta(minutes=5)), ("gone", timedelta(hours=2))):
        EngineLiveness.objects.create(
            engine_id=engine_id, host="h", pid=1, started_at=now - age, seen_at=now - age
        )
    assert prune(now) == {"beats": 2, "tasks": 1, "pings": 0, "throttles": 0, "engines": 1, "leases": 0}
    assert list(Beat.objects.values_list("sent_at", flat=True)) == [now - timedelta(days=1)]
    assert list(Task.objects.values_list("id", flat=True)) == ["t1"]
    assert list(EngineLiveness.objects.values_list("engine_id", flat=True)) == ["recent"]
    assert prune(now) == {"beats": 0, "tasks": 0, "pings": 0, "throttles": 0, "engines": 0, "leases": 0}
