"""Fixtures shared by every test area. Each area (tests/<area>/) keeps its own conftest for the rest."""

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM would refuse to run there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


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
