"""The rate limits hold across processes: counted in the database (heartbeats.domain.throttle), so two web
workers allow 20 pings a second per URL between them, not 20 each; and the limiter never forgets the names in
use when it grows."""

import subprocess
import sys
from urllib.parse import quote

import pytest
from django.db import connection
from django.urls import reverse

from heartbeats.desk.strategies import pings
from heartbeats.domain import throttle
from heartbeats.models import Throttle
from tests.ops.conftest import ROOT
from tests.strategies.conftest import make_strategy

NOW = 1_800_000_000.25


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    monkeypatch.setattr(throttle, "_now", lambda: NOW)


def _this_database_url() -> str:
    """The test database as a CG_DATABASE_URL, for another process to open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _ping_from_another_process(key: str, times: int) -> list[str]:
    """`times` pings recorded by a separate Python process on the same database, as a second web worker."""
    script = (
        "import sys\n"
        "from heartbeats.desk.strategies import pings\n"
        "from heartbeats.domain import throttle\n"
        f"throttle._now = lambda: {NOW}\n"
        f"print(' '.join(pings.record({key!r}, '10.0.0.9') for _ in range({times})))\n"
    )
    env = {"CG_DEV": "1", "CG_DATABASE_URL": _this_database_url(), "PATH": "/usr/bin"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**env, "CG_VAR_DIR": str(ROOT / "var" / "test"), "CG_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1].split()


@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_limit_per_url(client):
    strategy, key = make_strategy()
    outcomes = _ping_from_another_process(key, 15)
    assert outcomes == ["OK"] * 15
    codes = [client.get(reverse("ping", args=[key]), REMOTE_ADDR="10.0.0.8").status_code for _ in range(10)]
    assert codes == [200] * 5 + [429] * 5  # 15 + 5 = the 20 a second one URL is allowed


@pytest.mark.django_db
def test_one_address_is_limited_across_urls(client):
    keys = [make_strategy(name=f"s{n}")[1] for n in range(6)]
    codes = [
        client.get(reverse("ping", args=[keys[n % 6]]), REMOTE_ADDR="10.0.0.7").status_code
        for n in range(pings.PER_ADDRESS_PER_SECOND + 3)
    ]
    assert codes.count(200) == pings.PER_ADDRESS_PER_SECOND and codes[-3:] == [429] * 3
    assert client.get(reverse("ping", args=[keys[0]]), REMOTE_ADDR="10.0.0.6").status_code == 200


@pytest.mark.django_db
def test_the_next_window_starts_again(monkeypatch):
    assert all(throttle.allow(("n", 3)) for _ in range(3))
    assert not throttle.allow(("n", 3))
    monkeypatch.setattr(throttle, "_now", lambda: NOW + 1)
    assert throttle.allow(("n", 3))


@pytest.mark.django_db
def test_a_growing_table_never_forgets_the_names_in_use(monkeypatch):
    assert all(throttle.allow(("hot", 5)) for _ in range(5))
    # 12,000 names from an hour ago: the per-process limiter forgot everything past 10,000.
    Throttle.objects.bulk_create(
        [Throttle(name=f"cold-{n}", slot=int(NOW) - 7200, hits=1) for n in range(12_000)]
    )
    assert not throttle.allow(("hot", 5))
    assert throttle.prune() == 12_000
    assert not throttle.allow(("hot", 5))  # still counted: pruning drops old windows only
    assert Throttle.objects.filter(name="hot").exists()
