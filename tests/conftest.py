"""Fixtures shared by every test area. Each area (tests/<area>/) keeps its own conftest for the rest."""

import contextlib
import os

import pytest

from tests import template_db

# Playwright's sync API runs an event loop in the test thread; Django's ORM would refuse to run there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def stake_reads_afresh():
    """The orders-at-stake round remembers, per process, until when nothing can fall due: each test starts
    without that memory (tests change policies behind the desired-state path that would tell it)."""
    from heartbeats.desk.killswitch import stake

    stake._quiet.forget()
    stake._algo_listings.forget()


@pytest.fixture(autouse=True)
def algo_service_asked_afresh():
    """The client remembers, per process, which COIN-M exchanges answered that they have no Algo Service:
    each test starts without that memory (simulators come and go, switched either way)."""
    from heartbeats.exchange import client

    client.forget_algo_service_answers()


@pytest.fixture
def run_duties():
    """`run_duties(kind, *names)` runs, in this test process, the duties `names` of a kind of process ("web"
    or "worker"; all of them when none is named) as that process's supervisor would; stopped (their leases
    released) after the test. Nothing runs in the background of a test that does not ask."""
    from heartbeats.duties.catalogue import duties
    from heartbeats.duties.supervisor import Supervisor

    started = []

    def start(kind, *names):
        chosen = [d for d in duties() if not names or d.name in names]
        missing = set(names) - {d.name for d in chosen}
        assert not missing, f"no such duty: {missing}"
        supervisor = Supervisor(kind, chosen)
        supervisor.start()
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        supervisor.stop()


@pytest.fixture
def simulator():
    """A fresh exchange simulator on a free loopback port, stopped after the test."""
    from simulator import Simulator

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


# A parallel run on SQLite migrates one database, not one per worker (tests/template_db.py).
_template = []  # the controller's process that migrates it
_copied = []  # this worker's database, when copied (pytest-django keeps it: removed at the end below)


def _sqlite_test_name():
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return None
    return database.get("TEST", {}).get("NAME")


def pytest_configure(config):
    if hasattr(config, "workerinput") or config.getoption("dist", "no") == "no":
        return
    name = _sqlite_test_name()
    if name:
        _template.append(template_db.start(name))


@pytest.fixture(scope="session")
def django_db_keepdb(request, django_db_modify_db_settings):
    """pytest-django's --reuse-db, or true once this worker has copied the run's migrated database: it is
    used as it stands, not migrated again."""
    if request.config.getvalue("reuse_db"):
        return True
    name = _sqlite_test_name()
    if not name or request.config.getvalue("create_db"):
        return False
    template = template_db.ready()
    if not template:
        return False
    template_db.copy(template, name)
    _copied.append(name)
    return True


def pytest_sessionfinish(session):
    """pytest-django has dropped this process's SQLite test database by now, but threads that still hold it
    leave its -wal and -shm files behind: removed too, or each run would add a pair per worker. A database
    copied from the run's migrated one is kept by pytest-django, so it goes too, and the controller removes
    the migrated one."""
    for process in _template:
        template_db.remove(process)
    name = _sqlite_test_name()
    if not name:
        return
    for copied in _copied:
        with contextlib.suppress(FileNotFoundError):
            os.remove(copied)
    if os.path.exists(name):
        return
    for leftover in (f"{name}-wal", f"{name}-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
