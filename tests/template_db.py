"""The run's migrated SQLite database, for a parallel run (pytest-xdist) on SQLite.

The controller starts a process of its own that migrates it while the workers collect the tests (`start`);
each worker then copies it for its test database instead of migrating one (tests/conftest.py), and each fault
scenario starts from a copy of it (tests/faults). It holds the schema and the data migrations' rows, nothing a
test wrote. A serial run (-n 0) and PostgreSQL create their databases as before.

    python -m tests.template_db PATH     migrates a database into PATH (what `start` runs)
"""

import contextlib
import fcntl
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = "CG_TEST_DB_TEMPLATE"  # set by the controller, read by its workers and what they start
WAIT = 60  # seconds to wait for it (it takes a few, under 30 on a busy machine) before going without


def start(test_name: str) -> subprocess.Popen:
    """In the controller: names the run's database beside its test databases and starts migrating it; the
    process holds the lock until the database is ready (or it failed)."""
    template = f"{test_name}-template"  # the controller's pid is in the name: one per run
    os.environ[ENV] = template
    with open(f"{template}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.Popen(
            [sys.executable, "-m", "tests.template_db", template],
            cwd=ROOT,
            pass_fds=(lock.fileno(),),  # the lock goes with the process: released when it exits
        )


def remove(process: subprocess.Popen) -> None:
    """In the controller, at the end: the run's database, once its process has ended."""
    try:
        process.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    template = os.environ[ENV]
    for leftover in (template, f"{template}.lock", *_parts(template)):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)


def ready() -> str | None:
    """The run's migrated database once it is ready, or None (a serial run, or it could not be made)."""
    template = os.environ.get(ENV)
    if not template:
        return None
    with open(f"{template}.lock", "a") as lock:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.05)
    return template if os.path.exists(template) else None


def copy(source: str, target: str) -> None:
    """A whole SQLite database into a new file (WAL content included), replacing whatever was there."""
    for leftover in (target, f"{target}-wal", f"{target}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def _parts(template: str) -> list[str]:
    part = f"{template}.part"
    return [part, f"{part}-wal", f"{part}-shm", f"{template}.tmp"]


def _migrate(template: str) -> None:
    """Django's test database creation (migrations, cache table), into `template`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.test_settings")
    import django

    django.setup()
    from django.db import connection

    part = _parts(template)[0]
    connection.settings_dict["TEST"]["NAME"] = part
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    connection.close()
    copy(part, f"{template}.tmp")
    os.replace(f"{template}.tmp", template)
    for leftover in _parts(template):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)


if __name__ == "__main__":
    _migrate(sys.argv[1])
