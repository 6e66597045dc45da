"""Fixtures shared by every test area. Each area (tests/<area>/) keeps its own conftest for the rest."""

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
    from simulator import Simulator

    sim = Simulator(host="127.0.0.1", port=0)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
