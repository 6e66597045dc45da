"""Fixtures shared by every test area. Each area (tests/<area>/) keeps its own conftest for the rest."""

import contextlib
import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM would refuse to run there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _no_fallback_sweeps(settings):
    """The web's fallback sweeper thread lives as long as the test process: it sweeps only in the tests
    that turn it on (settings.FALLBACK_SWEEP = True), never behind another test's back."""
    settings.FALLBACK_SWEEP = False


@pytest.fixture
def simulator():
    """A fresh exchange simulator on a free loopback port, stopped after the test."""
    from heartbeats.simulator import Simulator

    sim = Simulator(host="127.0.0.1", port=0)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


# Tests that run the product in processes of their own (the fault suite, bin/demo, gunicorn) wait longest on
# real clocks; they never touch the test database, so they may start first without changing pytest-django's
# order for the rest (database tests before transactional ones, Django's rule). With each worker taking the
# next test as it finishes one (bin/test), a run then never ends on a long test begun last while the other
# workers stand idle.
FIRST = ("faults", "ops")
DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.hookimpl(trylast=True)  # after pytest-django's own ordering
def pytest_collection_modifyitems(config, items):
    def first(item):
        area = item.path.relative_to(config.rootpath).parts[1]
        uses_db = item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames)
        return area in FIRST and not uses_db

    items.sort(key=lambda item: not first(item))  # stable: the rest keeps its order


def pytest_sessionfinish(session):
    """pytest-django has dropped this process's SQLite test database by now, but threads that still hold it
    leave its -wal and -shm files behind: removed too, or each run would add a pair per worker."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    name = database.get("TEST", {}).get("NAME")
    if database["ENGINE"] != "django.db.backends.sqlite3" or not name or os.path.exists(name):
        return
    for leftover in (f"{name}-wal", f"{name}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
