"""A process paused (SIGSTOP, a VM stall) between deciding a request and sending it does not send it on
resuming: other processes may have spent the address's weight meanwhile, so the decision is made again."""

import time

import pytest

from heartbeats.engine import Engine
from heartbeats.engine.events import BeatDone, Redecide
from heartbeats.engine.plan import ARM
from heartbeats.engine.sender import Job
from heartbeats.engine.watcher import load_accounts
from heartbeats.models import Outcome
from tests.engine.conftest import fast_config

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def engine(simulator, make_account):
    account = make_account()
    engine = Engine(config=fast_config())
    engine.clients.update(load_accounts("default"))
    entry = engine.clients.get(account.pk)
    yield engine, entry
    engine.clients.close()


def test_a_heartbeat_decided_before_a_pause_is_decided_again(simulator, engine):
    engine, entry = engine
    job = Job(1, entry.account_id, "BTCUSDT", ARM, 6000, 1, time.time())
    engine._send(job, entry.client, decided=time.monotonic() - 3)
    event = engine.inbox.get_nowait()
    assert isinstance(event, BeatDone) and event.result.redecide
    assert event.result.outcome == Outcome.SKIPPED
    assert simulator.exchange.requests_log() == []


def test_a_clock_sync_decided_before_a_pause_is_decided_again(simulator, engine):
    engine, entry = engine
    engine._sync(entry, decided=time.monotonic() - 3)
    assert engine.inbox.get_nowait() == Redecide(("sync", entry.account_id))
    engine._read_limit(entry, decided=time.monotonic() - 3)
    assert engine.inbox.get_nowait() == Redecide(("info", entry.account_id))
    assert simulator.exchange.requests_log() == []
    engine._sync(entry, decided=time.monotonic())
    assert engine.inbox.get_nowait().error == ""
    assert [r["path"] for r in simulator.exchange.requests_log()] == ["/fapi/v1/time"]
