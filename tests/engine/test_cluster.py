"""The real thing: `manage.py qcluster` as the only process, shifts handing over, and a worker killed with
SIGKILL in the middle of its shift -- its standby takes the lease over within seconds."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from heartbeats import actions
from heartbeats.models import Beat, EngineLease, EngineLiveness
from tests.engine.conftest import armed_symbols, countdown_requests, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHIFT_SECONDS = 3
LEASE_TTL = 3.0  # the production default: what the take-over bound is made of


def database_url() -> str:
    """The test database as seen inside the test (its name carries this run's pid), for the subprocess."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    auth = f"{quote(database['USER'])}:{quote(database['PASSWORD'])}@" if database["USER"] else ""
    return f"postgres://{auth}{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"


@pytest.fixture
def qcluster(tmp_path):
    """Starts `manage.py qcluster` on the test database; stops it afterwards (deploy/stop-worker), and kills
    whatever of its process group is left."""
    procs = []

    def start():
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "CG_DEV": "1",
            "CG_VAR_DIR": str(tmp_path),
            "CG_DATABASE_URL": database_url(),
            "CG_SECRET_KEY": settings.SECRET_KEY,
            "CG_ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
            "CG_ENGINE_SHIFT_SECONDS": str(SHIFT_SECONDS),
            "CG_Q_WORKERS": "3",
            "CG_LOG_LEVEL": "WARNING",
        }
        log = open(tmp_path / "qcluster.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((proc, log))
        return proc

    yield start
    for proc, log in procs:
        # Stopped as its systemd unit stops it (signalling the whole group would leave its workers running);
        # this process reaps the main one, as systemd would, so that the script sees it gone.
        stopper = subprocess.Popen([str(ROOT / "deploy" / "stop-worker"), str(proc.pid)])
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(subprocess.TimeoutExpired):
            stopper.wait(timeout=5)
        if stopper.poll() is None:
            stopper.kill()
            stopper.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        log.close()


def active_engine():
    now = timezone.now()
    for row in EngineLiveness.objects.filter(holds_lease=True, stopping=False):
        if not row.is_stale(now):
            return row
    return None


@pytest.mark.django_db(transaction=True)
def test_it_takes_over_within_seconds_when_the_active_worker_is_killed(
    simulator, make_account, make_policy, qcluster
):
    account = make_account()
    symbols = ["BTCUSDT", "ETHUSDT"]
    policies = [make_policy(account, s, interval_s=1, countdown_ms=8000) for s in symbols]
    for p in policies:
        actions.arm(p.pk, user=None, ip=None)
    cache.delete("countdown-guard:shift-started:default")
    qcluster()

    wait_for(lambda: armed_symbols(simulator) == set(symbols), timeout=25, every=0.1, message="first beats")
    # Let at least one hand-over between shifts happen first.
    first = wait_for(active_engine, timeout=5, message="an active engine")
    wait_for(
        lambda: (e := active_engine()) is not None and e.engine_id != first.engine_id,
        timeout=SHIFT_SECONDS + 5,
        every=0.05,
        message="a hand-over",
    )
    # Mid-shift: the new active engine is at work, its beats stored.
    victim = wait_for(
        lambda: (e := active_engine()) and Beat.objects.filter(sender=e.engine_id).exists() and e,
        timeout=SHIFT_SECONDS,
        every=0.05,
        message="a beat of the new shift",
    )
    before_kill = countdown_requests(simulator)[-1]["id"]
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.time()

    successor = wait_for(
        lambda: (e := active_engine()) is not None and e.engine_id != victim.engine_id and e,
        timeout=LEASE_TTL + 4,
        every=0.05,
        message="a take-over",
    )
    took_over = time.time() - killed_at
    lease = EngineLease.objects.get(egress="default")
    assert lease.holder == successor.engine_id
    resumed = wait_for(
        lambda: [
            r for r in countdown_requests(simulator, since_id=before_kill) if r["received_at"] > killed_at
        ],
        timeout=2,
        message="beats after the take-over",
    )
    # Every countdown beaten again before it could run out (8 s), and the successor's beats stored.
    wait_for(
        lambda: (
            {
                r["symbol"]
                for r in countdown_requests(simulator, since_id=before_kill)
                if r["received_at"] > killed_at and r["status"] == 200
            }
            == set(symbols)
        ),
        timeout=3,
        message="every symbol beaten by the successor",
    )
    wait_for(
        lambda: Beat.objects.filter(sender=successor.engine_id).exists(), message="the successor's beats"
    )

    assert took_over <= LEASE_TTL + 2.5
    assert resumed[0]["received_at"] - killed_at <= LEASE_TTL + 3
    assert simulator.exchange.cancellations() == [], "no countdown may run out"
    assert armed_symbols(simulator) == set(symbols)
