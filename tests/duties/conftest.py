"""Duties run in threads of the test process against the SQLite test database file, so every test commits."""

import pytest

from heartbeats.duties import supervisor
from tests.engine.conftest import (  # noqa: F401  (the engine's fixtures, shared)
    engine_thread,
    make_account,
    make_policy,
)


@pytest.fixture
def quick_leases(monkeypatch):
    """Leases renewed every 0.2 s and taken over 0.6 s after their holder stops renewing."""
    monkeypatch.setattr(supervisor, "RENEW_EVERY", 0.2)
    monkeypatch.setattr(supervisor, "LEASE_TTL", 0.6)
    monkeypatch.setattr(supervisor, "LEASE_MARGIN", 0.1)


def database_url() -> str:
    """The test database as seen inside the test, for a subprocess."""
    from urllib.parse import quote

    from django.db import connection

    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    auth = f"{quote(database['USER'])}:{quote(database['PASSWORD'])}@" if database["USER"] else ""
    return f"postgres://{auth}{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"


@pytest.fixture
def qcluster(tmp_path):
    """`qcluster(**env)` starts `manage.py qcluster` on the test database in a process group of its own;
    every one started is stopped after the test (deploy/stop-worker, then SIGKILL)."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    root = Path(__file__).resolve().parents[2]
    procs = []

    def start(**extra):
        n = len(procs)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "CG_DEV": "1",
            "CG_VAR_DIR": str(tmp_path / f"worker-{n}"),
            "CG_DATABASE_URL": database_url(),
            "CG_SECRET_KEY": settings.SECRET_KEY,
            "CG_ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
            "CG_Q_WORKERS": "2",
            "CG_LOG_LEVEL": "WARNING",
            **{k: str(v) for k, v in extra.items()},
        }
        log = open(tmp_path / f"qcluster-{n}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((proc, log))
        return proc

    yield start
    for proc, log in procs:
        # Stopped as its systemd unit stops it (signalling the whole group leaves django-q2's processes
        # running until their timeout); this process reaps the main one, as systemd would, so that the script
        # sees it gone. A cluster stops within a few seconds, except one that lost a process to SIGKILL while
        # it waited for work (heartbeats.duties.worker: the others never read their STOP), which the script
        # would wait on for ever: its duties have stopped by then, and it is killed at once.
        stopper = subprocess.Popen([str(root / "deploy" / "stop-worker"), str(proc.pid)])
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                stopper.wait(timeout=5)
        if stopper.poll() is None:
            stopper.kill()
            stopper.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        log.close()
