"""/metrics: who may scrape it, the state read from the database, and the events counted across processes."""

import subprocess
import sys
import time
import warnings
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from heartbeats.domain import metrics
from heartbeats.engine import fallback, records
from heartbeats.engine.plan import DISARM
from heartbeats.engine.sender import Job, Result
from heartbeats.models import Beat, Outcome
from tests.web.conftest import API_KEY, SECRET, make_account, make_engine, make_policy

TOKEN = "metricsTokenZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
OUTSIDE = "192.0.2.10"  # TEST-NET-1: in no allowlist here


def forget_children():
    """Drops this process's labelled children of the event metrics, so the next count makes new ones with
    the current ValueClass (the files written so far stay, as they would for a process that died)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not implemented in multi-process mode": files stay
        for metric in metrics.EVENT_METRICS:
            metric.clear()


@pytest.fixture(autouse=True)
def metrics_dir(tmp_path, monkeypatch):
    """Counter files of this test's own: the event metrics are made again in a fresh directory."""
    path = tmp_path / "metrics"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    forget_children()
    yield path
    forget_children()


@pytest.fixture
def open_metrics(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW = []


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}", **headers})
    assert response.status_code == 200, response.content
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def samples(families, name, suffix="") -> dict:
    """{frozen labels: value} of one family's samples named name + suffix."""
    family = families.get(name)
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in (family.samples if family else [])
        if s.name == name + suffix
    }


def beat(policy, *, kind="arm", outcome=Outcome.CONFIRMED, late=0.3):
    now = timezone.now()
    return Beat(
        policy_id=policy.pk,
        generation=1,
        kind=kind,
        countdown_ms=120_000,
        due_at=now - timedelta(seconds=late),
        sent_at=now,
        outcome=outcome,
        sender="test",
    )


class TestAccess:
    def test_it_is_off_without_token_or_allowlist_outside_dev(self, client, db, settings):
        settings.DEV, settings.METRICS_TOKEN, settings.METRICS_ALLOW = False, "", []
        response = client.get("/metrics")
        assert response.status_code == 404
        assert response.content.decode().count("\n") == 1

    def test_it_lets_loopback_in_under_dev_by_default(self, client, db, settings):
        settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", []
        assert client.get("/metrics").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403

    def test_it_refuses_without_a_token(self, client, db, open_metrics):
        response = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/plain")
        assert response.content == b"Metrics need a bearer token or an allowed address.\n"

    def test_it_refuses_a_wrong_token(self, client, db, open_metrics):
        response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, headers={"authorization": f"Bearer {TOKEN}x"})
        assert response.status_code == 403
        assert response.content == b"Wrong metrics token.\n"

    def test_it_answers_the_token_from_anywhere(self, client, db, open_metrics):
        assert "countdown_guard_engine_up" in scrape(client, REMOTE_ADDR=OUTSIDE)

    def test_it_answers_an_allowed_network_only(self, client, db, settings):
        settings.METRICS_TOKEN, settings.METRICS_ALLOW = "", ["10.0.0.0/8"]
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403

    def test_it_takes_the_address_our_proxy_saw(self, client, db, settings):
        settings.METRICS_TOKEN, settings.METRICS_ALLOW, settings.TRUSTED_PROXY_COUNT = "", ["10.0.0.0/8"], 1
        assert client.get("/metrics", headers={"x-forwarded-for": "10.1.2.3"}).status_code == 200
        # An entry the client wrote in front of the proxy's is not believed.
        spoofed = client.get("/metrics", headers={"x-forwarded-for": "10.1.2.3, 192.0.2.1"})
        assert spoofed.status_code == 403

    def test_a_signed_in_user_owing_a_second_factor_is_not_redirected(
        self, client, operator, open_metrics, settings
    ):
        settings.REQUIRE_2FA = True
        client.force_login(operator)
        assert client.get("/", REMOTE_ADDR=OUTSIDE).status_code == 302  # owed, elsewhere
        assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403
        assert scrape(client, REMOTE_ADDR=OUTSIDE)


class TestState:
    def test_it_shows_time_left_on_armed_countdowns(self, client, db, open_metrics):
        account = make_account("desk-a")
        make_policy(account, "BTCUSDT", "armed")
        make_policy(account, "SOLUSDT", "disarmed")
        left = samples(scrape(client), "countdown_guard_seconds_to_expiry")
        assert list(left) == [(("account", "desk-a"), ("symbol", "BTCUSDT"))]
        assert 110 < next(iter(left.values())) <= 115  # 120 s countdown, armed 5 s ago

    def test_it_counts_policies_by_status(self, client, desk, open_metrics):
        counts = samples(scrape(client), "countdown_guard_policies")
        assert counts[(("status", "armed"),)] == 1
        assert counts[(("status", "expired"),)] == 1
        assert sum(counts.values()) == 6

    def test_engine_up_follows_the_liveness_records(self, client, db, open_metrics):
        make_policy(make_account("desk-a"), "BTCUSDT", "armed")
        families = scrape(client)
        assert samples(families, "countdown_guard_engine_up") == {(("egress", "default"),): 0}
        assert samples(families, "countdown_guard_lease_holder") == {}
        make_engine(used_weight=120, weight_limit=2400)
        families = scrape(client)
        assert samples(families, "countdown_guard_engine_up") == {(("egress", "default"),): 1}
        assert samples(families, "countdown_guard_lease_holder") == {
            (("egress", "default"), ("host", "test-host")): 1
        }
        assert samples(families, "countdown_guard_weight_used") == {(("egress", "default"),): 120}
        assert samples(families, "countdown_guard_weight_limit")[(("egress", "default"),)] > 0

    def test_it_carries_no_secret(self, client, desk, open_metrics):
        make_engine()
        body = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).content.decode()
        assert "desk-a" in body
        for secret in (API_KEY, SECRET, TOKEN, API_KEY[-8:], SECRET[-8:]):
            assert secret not in body


class TestEvents:
    def test_a_stored_beat_is_counted_and_timed(self, client, db, open_metrics):
        policy = make_policy(make_account("desk-a"), "BTCUSDT", "armed")
        records.write_now([beat(policy, late=0.3), beat(policy, outcome=Outcome.SKIPPED)], {})
        families = scrape(client)
        beats = samples(families, "countdown_guard_beats", "_total")
        assert beats == {
            (("kind", "arm"), ("outcome", "confirmed")): 1,
            (("kind", "arm"), ("outcome", "skipped")): 1,
        }
        name = "countdown_guard_beat_lateness_seconds"
        assert samples(families, name, "_count") == {(("kind", "arm"),): 1}  # the skipped one was never sent
        assert samples(families, name, "_sum")[(("kind", "arm"),)] == pytest.approx(0.3, abs=0.01)
        buckets = {dict(k)["le"]: v for k, v in samples(families, name, "_bucket").items()}
        assert (buckets["0.25"], buckets["0.5"]) == (0, 1)

    def test_the_webs_own_disarms_are_counted(self, client, db, open_metrics):
        policy = make_policy(make_account("desk-a"), "BTCUSDT", "armed")
        job = Job(policy.pk, policy.account_id, "BTCUSDT", DISARM, 0, 2, time.time() - 0.1)
        fallback._store([Result(job, Outcome.CONFIRMED, sent_at=time.time(), received_at=time.time())])
        beats = samples(scrape(client), "countdown_guard_beats", "_total")
        assert beats == {(("kind", "disarm"), ("outcome", "confirmed")): 1}

    def test_alert_deliveries_are_counted_by_result(self, client, db, open_metrics):
        for result in ("sent", "sent", "failed"):
            metrics.count_alert_delivery(result)
        with pytest.raises(ValueError):
            metrics.count_alert_delivery("lost")
        deliveries = samples(scrape(client), "countdown_guard_alert_deliveries", "_total")
        assert deliveries == {(("result", "sent"),): 2, (("result", "failed"),): 1}

    def test_counts_of_every_process_add_up(self, client, db, open_metrics, monkeypatch, metrics_dir):
        other = values.MultiProcessValue(lambda: 4_000_001)  # another process, writing its own file
        metrics.count_alert_delivery("sent")
        forget_children()
        monkeypatch.setattr(values, "ValueClass", other)
        metrics.count_alert_delivery("sent")
        assert (metrics_dir / "counter_4000001.db").exists()
        deliveries = samples(scrape(client), "countdown_guard_alert_deliveries", "_total")
        assert deliveries == {(("result", "sent"),): 2}


class TestStaleFiles:
    def test_a_starting_cluster_forgets_dead_processes_once(self, metrics_dir):
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
        dead = metrics_dir / f"counter_{int(gone.stdout)}.db"
        mine = metrics_dir / "counter_1.db"  # pid 1 is always alive
        dead.write_bytes(b"")
        mine.write_bytes(b"")
        metrics.forget_dead_processes(once_for=42)
        assert not dead.exists()
        assert mine.exists()
        # The cluster's own workers that die later (recycled) keep their counts.
        dead.write_bytes(b"")
        metrics.forget_dead_processes(once_for=42)
        assert dead.exists()
