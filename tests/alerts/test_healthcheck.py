"""The outbound ping for an outside monitor: sent only while every armed policy is confirmed and an engine
is alive, so the monitor notices a sick or dead guard by the silence."""

import pytest

from heartbeats.desk.alerts import monitor_ping
from tests.web.conftest import make_account, make_engine, make_policy

pytestmark = pytest.mark.django_db


def ping_url(receiver):
    return f"http://127.0.0.1:{receiver.port}/ping/abc"


def test_a_healthy_guard_pings(receiver):
    account = make_account()
    make_policy(account, "BTCUSDT", "armed")
    make_policy(account, "ETHUSDT", "disarmed")
    make_engine()
    assert monitor_ping.ping_if_healthy(ping_url(receiver))
    assert receiver.paths == ["/ping/abc"]


@pytest.mark.parametrize("state", ["late", "failing", "expired", "uncertain", "arming"])
def test_an_armed_policy_not_confirmed_withholds_the_ping(receiver, state):
    account = make_account()
    make_policy(account, "BTCUSDT", "armed")
    make_policy(account, "ETHUSDT", state)
    make_engine()
    assert not monitor_ping.ping_if_healthy(ping_url(receiver))
    assert receiver.paths == []


def test_no_live_engine_withholds_the_ping(receiver):
    make_policy(make_account(), "BTCUSDT", "armed")
    make_engine(seen_ago=30)
    ok, why = monitor_ping.healthy()
    assert not ok and "no live engine" in why
    assert not monitor_ping.ping_if_healthy(ping_url(receiver))


def test_a_monitor_that_does_not_answer_is_reported_not_raised(receiver):
    make_policy(make_account(), "BTCUSDT", "armed")
    make_engine()
    receiver.status = 503
    assert not monitor_ping.ping_if_healthy(ping_url(receiver))
    assert not monitor_ping.ping_if_healthy("http://127.0.0.1:9/ping")
