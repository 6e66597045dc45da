"""`manage.py engine_status`: every duty and its holder, the engines, the next beats, recent errors; exit
status 2 when nothing keeps the countdowns alive."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from heartbeats.desk import actions
from heartbeats.engine import Engine
from heartbeats.models import Duty, EngineLiveness
from tests.engine.conftest import armed_symbols, fast_config, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _status() -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("engine_status", stdout=out)
    except SystemExit as exit_:
        return out.getvalue(), exit_.code
    return out.getvalue(), 0


def test_it_shows_the_engine_and_the_duties(simulator, make_account, make_policy, engine_thread):
    policy = make_policy(make_account("desk"), "BTCUSDT")
    actions.arm(policy.pk, user=None, ip=None)
    engine = Engine(engine_id="status-engine", config=fast_config())
    with engine_thread(engine):
        wait_for(lambda: armed_symbols(simulator) == {"BTCUSDT"})
        wait_for(lambda: EngineLiveness.objects.filter(engine_id="status-engine", used_weight__gt=0).exists())
        text, code = _status()
    assert code == 0
    assert "engine:default: held by status-engine, last run" in text
    assert "status-engine [default] active live" in text
    assert "desk BTCUSDT: due in" in text
    assert "weight " in text and "/2400" in text
    assert "  maintenance: free" in text and "  owed-zeros: free" in text
    Duty.objects.all().delete()
    text, code = _status()
    assert code == 2  # monitoring can alarm on the exit status alone
    assert "NO ACTIVE ENGINE" in text


def test_it_says_which_duty_is_failing_and_why():
    now = timezone.now()
    Duty.objects.create(
        name="maintenance",
        holder="worker:h:1:abcdef",
        expires_at=now + timedelta(seconds=5),
        last_run_at=now - timedelta(seconds=30),
        failures=4,
        last_error="ValueError: bad row",
        last_error_at=now,
    )
    text, _code = _status()
    assert "maintenance: held by worker:h:1:abcdef" in text
    assert "FAILING (4 in a row): ValueError: bad row" in text


def test_engine_status_says_when_the_engine_cannot_read_desired_state():
    now = timezone.now()
    Duty.objects.create(name="engine:default", holder="deaf", expires_at=now + timedelta(seconds=3))
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
    text, code = _status()
    assert code == 2, "a deaf engine keeps nothing safe from a disarm"
    assert "CANNOT READ DESIRED STATE since" in text


def test_engine_status_reads_a_clean_hand_over_and_a_standby_as_such():
    now = timezone.now()
    Duty.objects.create(name="engine:default", holder="next", expires_at=now + timedelta(seconds=3))
    common = dict(egress="default", host="h", pid=1, started_at=now - timedelta(minutes=1))
    EngineLiveness.objects.create(engine_id="next", seen_at=now, holds_lease=True, **common)
    EngineLiveness.objects.create(
        engine_id="previous", seen_at=now - timedelta(seconds=30), stopping=True, **common
    )
    # A standby writes its record every few seconds: four seconds old is live.
    EngineLiveness.objects.create(engine_id="spare", seen_at=now - timedelta(seconds=4), **common)
    text, code = _status()
    assert code == 0
    assert "previous [default] stopped cleanly" in text
    assert "spare [default] standby live" in text
    assert "STALE" not in text


def test_it_sums_up_a_workers_shifts_stopped_cleanly_in_one_line():
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=9)

    def engine(engine_id, pid, started_at, seen_at, **fields):
        EngineLiveness.objects.create(
            engine_id=engine_id,
            egress="default",
            host="w1",
            pid=pid,
            started_at=started_at,
            seen_at=seen_at,
            **fields,
        )

    for i in range(8):  # one-minute shifts of worker process 42, each handed over cleanly
        engine(
            f"w1:42:{i:06x}",
            42,
            start + timedelta(minutes=i),
            start + timedelta(minutes=i, seconds=59),
            stopping=True,
        )
    engine("w1:42:live00", 42, now - timedelta(minutes=1), timezone.now(), holds_lease=True)
    engine("w1:7:single", 7, now - timedelta(minutes=3), now - timedelta(minutes=2), stopping=True)
    Duty.objects.create(
        name="engine:default", holder="w1:42:live00", expires_at=timezone.now() + timedelta(seconds=5)
    )

    text, _code = _status()
    first, last = start, start + timedelta(minutes=7, seconds=59)
    assert f"  worker w1:42 [default] — 8 shifts {first:%H:%M}–{last:%H:%M}, stopped cleanly\n" in text
    assert "w1:42:000000" not in text and "w1:42:000007" not in text
    assert "w1:42:live00 [default] active live" in text
    assert "w1:7:single [default] stopped cleanly" in text  # a lone shift keeps its own line
