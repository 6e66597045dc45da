"""Settings for the test suite: the embedded defaults, with state kept apart from the demo's var/."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("CG_DEV", "1")
os.environ.setdefault("CG_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
# Metric counter files of one test process, apart from every other run's and the demo's. Each pytest-xdist
# worker makes its own (it inherits the controller's environment, so a directory already named there is not
# its own); the processes a test starts inherit their worker's.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if "CG_METRICS_DIR" not in os.environ or os.environ.get("CG_TEST_METRICS_FOR") != _worker:
    os.environ["CG_METRICS_DIR"] = tempfile.mkdtemp(prefix=f"cg-test-metrics-{_worker or 'main'}-")
    os.environ["CG_TEST_METRICS_FOR"] = _worker
    atexit.register(shutil.rmtree, os.environ["CG_METRICS_DIR"], ignore_errors=True)

from dashboard.settings import *  # noqa: E402,F403
from dashboard.settings import DATABASES, VAR_DIR  # noqa: E402

# One test database file per test run, so concurrent runs never share one; a file (not :memory:) so engine
# threads and worker processes started by a test can open the same database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users for tests only

# CG_TEST_DATABASE_URL runs the suite against another server (CI: PostgreSQL).
_test_db = os.environ.get("CG_TEST_DATABASE_URL")
if _test_db:
    import dj_database_url

    DATABASES["default"] = dj_database_url.parse(_test_db)

# Orders at stake are read by a worker duty only in the tests that turn it on.
STAKE_READING = False
# A busy test machine may deschedule a thread inside a short write for longer than production's half
# second: a disarm goes around held locks only in the tests about it (tests/engine/test_held_locks.py).
DISARM_LOCK_WAIT = 3.0
# whitenoise serves the apps' static files (settings: WHITENOISE_USE_FINDERS) by looking one up when it is
# asked for, not by listing them all whenever its middleware is loaded: every test client loads it afresh,
# and the listing cost some 30 ms of CPU each time, a quarter of the time of the tests that use a client.
WHITENOISE_AUTOREFRESH = True
