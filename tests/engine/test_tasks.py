"""The queue side: Schedules after migrate, the keeper restarting a broken chain, pruning, engine_status."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task

from heartbeats import tasks
from heartbeats.engine import Engine, chain
from heartbeats.models import Beat, EngineLease, EngineLiveness
from tests.engine.conftest import armed_symbols, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_creates_the_keeper_and_pruning_schedules_after_migrate():
    Schedule.objects.all().delete()
    call_command("migrate", verbosity=0)
    schedules = {s.name: s for s in Schedule.objects.all()}
    keeper = schedules[chain.KEEPER_SCHEDULE]
    assert (keeper.func, keeper.schedule_type, keeper.minutes) == (
        "heartbeats.tasks.keeper",
        Schedule.MINUTES,
        1,
    )
    assert schedules[chain.PRUNE_SCHEDULE].func == "heartbeats.tasks.prune"


def test_it_starts_one_shift_when_no_engine_is_alive():
    cache.delete("countdown-guard:shift-started:default")
    OrmQ.objects.all().delete()
    assert tasks.keeper() == "started shifts for default"
    assert tasks.keeper() == "all engines alive"  # already enqueued: not twice
    assert OrmQ.objects.filter(key=chain.queue_name("default")).count() == 1


def test_it_leaves_a_live_engine_alone(simulator, make_account, make_policy, engine_thread):
    cache.delete("countdown-guard:shift-started:default")
    make_policy(make_account())
    OrmQ.objects.all().delete()
    engine = Engine(config=fast_config())
    with engine_thread(engine):
        wait_for(lambda: engine.is_active)
        wait_for(lambda: EngineLiveness.objects.filter(holds_lease=True).exists())
        assert not chain.ensure_chain("default")
    assert OrmQ.objects.count() == 0


def test_it_queues_shifts_of_other_egress_identities_on_their_own_queue():
    cache.delete("countdown-guard:shift-started:eu-2")
    OrmQ.objects.all().delete()
    assert chain.ensure_chain("eu-2")
    assert list(OrmQ.objects.values_list("key", flat=True)) == ["countdown-guard-eu-2"]


def test_it_prunes_old_beats_and_task_results(make_account, make_policy, settings):
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
    summary = tasks.prune()
    assert "2 beats" in summary and "1 task" in summary
    assert list(Beat.objects.values_list("sent_at", flat=True)) == [now - timedelta(days=1)]
    assert list(Task.objects.values_list("id", flat=True)) == ["t1"]


def test_it_shows_the_engine_status(simulator, make_account, make_policy, engine_thread):
    from heartbeats.desk import actions

    policy = make_policy(make_account("desk"), "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    engine = Engine(engine_id="status-engine", config=fast_config())
    with engine_thread(engine):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"})
        wait_for(lambda: EngineLiveness.objects.filter(engine_id="status-engine", used_weight__gt=0).exists())
        out = StringIO()
        call_command("engine_status", stdout=out)
    text = out.getvalue()
    assert "default: held by status-engine" in text
    assert "status-engine [default] active live" in text
    assert "desk BTCUSDT: due in" in text
    assert "weight " in text and "/2400" in text
    EngineLease.objects.all().delete()
    out = StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("engine_status", stdout=out)
    assert stopped.value.code == 2  # monitoring can alarm on the exit status alone
    assert "NO ACTIVE ENGINE" in out.getvalue()


def test_it_does_not_wait_for_the_record_of_a_killed_local_engine_to_go_stale():
    """A worker reincarnated after SIGKILL starts a shift at once: the dead engine's record is still fresh."""
    import os
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    now = timezone.now()
    for engine_id, pid in (("dead", gone.pid), ("alive", os.getpid())):
        EngineLiveness.objects.create(
            engine_id=engine_id,
            egress="eu-3",
            host=socket.gethostname(),
            pid=pid,
            started_at=now,
            seen_at=now,
        )
    cache.delete("countdown-guard:shift-started:eu-3")
    OrmQ.objects.all().delete()
    assert not chain.ensure_chain("eu-3")
    EngineLiveness.objects.filter(engine_id="alive").delete()
    assert chain.ensure_chain("eu-3")


def test_engine_status_says_when_the_engine_cannot_read_desired_state():
    now = timezone.now()
    EngineLease.objects.create(egress="default", holder="deaf", expires_at=now + timedelta(seconds=3))
    EngineLiveness.objects.create(
        engine_id="deaf",
        egress="default",
        host="h",
        pid=1,
        started_at=now,
        seen_at=now,
        holds_lease=True,
        desired_read_at=now - timedelta(seconds=30),
    )
    out = StringIO()
    with pytest.raises(SystemExit) as stopped:
        call_command("engine_status", stdout=out)
    assert stopped.value.code == 2, "a deaf engine keeps nothing safe from a disarm"
    assert "CANNOT READ DESIRED STATE since" in out.getvalue()


def test_engine_status_reads_a_clean_hand_over_as_one():
    now = timezone.now()
    EngineLease.objects.create(egress="default", holder="next", expires_at=now + timedelta(seconds=3))
    common = dict(egress="default", host="h", pid=1, started_at=now - timedelta(minutes=1))
    EngineLiveness.objects.create(engine_id="next", seen_at=now, holds_lease=True, **common)
    EngineLiveness.objects.create(
        engine_id="previous", seen_at=now - timedelta(seconds=30), stopping=True, **common
    )
    out = StringIO()
    call_command("engine_status", stdout=out)
    text = out.getvalue()
    assert "previous [default] stopped cleanly" in text
    assert "STALE" not in text
