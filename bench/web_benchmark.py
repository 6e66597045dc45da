"""Benchmark of the board's server side (not a test; prints figures).

    .venv/bin/python bench/web_benchmark.py [--requests 30] [--size 1000x20] [--size 500x10] [--no-history]

For each size (policies × egress identities) it fills the run's fresh database (emptied between sizes): two
accounts per identity, policies in a realistic mix of statuses (most armed, some late, uncertain, failing,
expired, disarmed), a live engine per identity, the exchange's weight limit in the cache, and every armed
policy's orders at stake as the guard reads them once a minute (CG_ORDERS_AT_STAKE, on by default; the expired
ones' orders found gone); then, without and with an hour of beat history (one beat per armed policy and
interval, one in fifty failed, and one countdown that ran out), it times GET / (as a viewer, and as an
operator whose rows carry buttons) and GET /status.json through Django's test client: median and p95 of the
server time over the requests, the first request after filling (a web process reads the hour's beats once),
the bytes of the answer and the queries one request makes. Targets (issue 10) are printed next to each figure,
and with them what else was keeping the machine busy.

Another script can import `measure(policies, identities, history)`: it sets Django up on a fresh database of
its own if the calling process has not.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACCOUNTS_PER_IDENTITY = 2
INTERVAL_S = 30
COUNTDOWN_MS = 120_000
TARGETS = {
    "/": {"median_ms": 50, "kilobytes": 300},
    "/status.json": {"median_ms": 20},
}
# Status mix, one in every len(MIX) policies: mostly armed, a little of every kind of trouble.
MIX = ["armed"] * 14 + ["late", "uncertain", "failing", "expired", "disarmed", "disarmed"]


def setup_django(var_dir: Path, database_url: str | None = None) -> None:
    """Django for this process on a fresh database (SQLite in `var_dir` unless `database_url`), migrated."""
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "CG_DEV": "1",
            "CG_VAR_DIR": str(var_dir),
            "CG_DATABASE_URL": database_url or f"sqlite:///{var_dir / 'web-bench.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "CG_LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def _ensure_django() -> None:
    from django.conf import settings

    if not settings.configured:
        setup_django(Path(tempfile.mkdtemp(prefix="cg-web-bench-")))


def _facts(state: str, now, interval_s: int) -> dict:
    """Stored facts that make CountdownPolicy.status() say `state`."""
    from heartbeats.models import Outcome

    armed = {
        "armed": True,
        "generation": 1,
        "last_arm_generation": 1,
        "last_arm_countdown_ms": COUNTDOWN_MS,
        "last_arm_sent_at": now - timedelta(seconds=5),
        "last_attempt_at": now - timedelta(seconds=5),
        "last_outcome": Outcome.CONFIRMED,
        "next_due_at": now + timedelta(seconds=interval_s - 5),
    }
    return {
        "armed": armed,
        "late": {**armed, "last_arm_sent_at": now - timedelta(seconds=interval_s * 1.5 + 10)},
        "expired": {**armed, "last_arm_sent_at": now - timedelta(milliseconds=COUNTDOWN_MS + 1000)},
        "failing": {
            **armed,
            "generation": 2,
            "fatal_generation": 2,
            "last_outcome": Outcome.FATAL,
            "last_error": "-2015 Invalid API-key, IP, or permissions for action.",
        },
        "uncertain": {**armed, "generation": 2, "last_outcome": Outcome.UNCERTAIN},
        "disarmed": {},
    }[state]


def fill(policies: int, identities: int, *, history: bool) -> dict:
    """Empty the desk's tables and fill them; returns the users to sign in as."""
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.utils import timezone

    from heartbeats.domain import roles
    from heartbeats.domain.symbols import ExchangeFacts, _cache_key
    from heartbeats.models import (
        AddressLimits,
        Beat,
        CountdownPolicy,
        Duty,
        EngineLiveness,
        Environment,
        ExchangeAccount,
        Operation,
    )

    Beat.objects.all().delete()
    Operation.objects.all().delete()  # append-only for people; the benchmark starts each size afresh
    CountdownPolicy.objects.all().delete()
    ExchangeAccount.objects.all().delete()
    EngineLiveness.objects.all().delete()
    Duty.objects.all().delete()
    AddressLimits.objects.all().delete()
    cache.clear()

    now = timezone.now()
    base_url = "http://127.0.0.1:8800"
    accounts = []
    for i in range(identities * ACCOUNTS_PER_IDENTITY):
        accounts.append(
            ExchangeAccount.objects.create(
                label=f"desk-{i:03d}",
                venue="usdm" if i % 2 == 0 else "coinm",
                environment=Environment.CUSTOM,
                custom_base_url=base_url,
                key_type="hmac",
                api_key=secrets.token_hex(32),
                secret=secrets.token_hex(32),
                egress=f"ip-{i // ACCOUNTS_PER_IDENTITY:02d}",
            )
        )
    for venue in ("usdm", "coinm"):
        cache.set(
            _cache_key(base_url, venue),
            ExchangeFacts(base_url, venue, frozenset(), weight_limit=2400, fetched_at=time.time()),
            3600,
        )
    rows = []
    for n in range(policies):
        state = MIX[n % len(MIX)]
        rows.append(
            CountdownPolicy(
                account=accounts[n % len(accounts)],
                symbol=f"S{n:04d}USDT",
                countdown_ms=COUNTDOWN_MS,
                interval_s=INTERVAL_S,
                **_facts(state, now, INTERVAL_S),
            )
        )
    CountdownPolicy.objects.bulk_create(rows, batch_size=500)
    _orders_at_stake(now)
    for i in range(identities):
        EngineLiveness.objects.create(
            engine_id=f"bench-engine-{i}",
            egress=f"ip-{i:02d}",
            host="bench",
            pid=1,
            started_at=now - timedelta(minutes=5),
            # Fresh for the whole run: the board's figures are then those of a healthy desk.
            seen_at=now + timedelta(hours=1),
            holds_lease=True,
            clock_offset_ms=3,
            used_weight=400,
            weight_limit=2400,
            desired_read_at=now + timedelta(hours=1),
        )
    if history:
        _beat_history(now)
    User = get_user_model()
    User.objects.filter(username__in=["bench-viewer", "bench-operator"]).delete()
    viewer = User.objects.create_user("bench-viewer", password=secrets.token_hex(16))
    operator = User.objects.create_user("bench-operator", password=secrets.token_hex(16))
    roles.grant(viewer, roles.VIEWER)
    roles.grant(operator, roles.OPERATOR)
    if connection.vendor == "postgresql":
        # The planner's statistics, as a database in use has them: on tables just filled it has none, and may
        # read every beat where an index would do.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"viewer": viewer, "operator": operator}


def _orders_at_stake(now) -> None:
    """What the guard's last reading found for each armed policy, read over the last minute."""
    from heartbeats.models import CountdownPolicy, OrdersAtStake

    readings = []
    policies = CountdownPolicy.objects.order_by("id").values_list("id", "armed", "account__venue")
    for k, (pid, armed, venue) in enumerate(policies):  # in the order fill() made them
        if not armed:
            continue
        expired = MIX[k % len(MIX)] == "expired"
        readings.append(
            OrdersAtStake(
                policy_id=pid,
                orders=0 if expired else k % 4,
                algo_orders=(k % 2 if venue == "usdm" else None),
                buy_notional=0.0 if expired else 1500.0 * (k % 4),
                sell_notional=0.0,
                checked_at=now - timedelta(seconds=k % 60),
                gone_at=now - timedelta(seconds=90) if expired else None,
                gone_count=2 if expired else None,
                order_id=None if expired else 10_000_000 + k,
            )
        )
    OrdersAtStake.objects.bulk_create(readings, batch_size=500)


def _beat_history(now) -> None:
    """An hour of beats: one acknowledged arm per policy and interval, one failed attempt in fifty, and one
    policy whose engine stopped for longer than its countdown (a lapse the board must list)."""
    from heartbeats.models import Beat, CountdownPolicy, Outcome

    ids = list(CountdownPolicy.objects.filter(armed=True).values_list("id", flat=True))
    lapsed = ids[0] if ids else None
    batch = []
    for k, pid in enumerate(ids):
        for step in range(3600 // INTERVAL_S):
            sent = now - timedelta(seconds=3600 - step * INTERVAL_S - (k % INTERVAL_S))
            due = sent - timedelta(milliseconds=2)
            if pid == lapsed and 1500 <= 3600 - step * INTERVAL_S < 1800:
                continue  # 300 s without a beat, countdown 120 s: the exchange cancelled the orders
            failed = (k * 7 + step) % 50 == 0
            if pid == lapsed and 3600 - step * INTERVAL_S == 1500:
                due = sent - timedelta(seconds=300)  # the beat that resumed, due long ago
            batch.append(
                Beat(
                    policy_id=pid,
                    generation=1,
                    kind="arm",
                    countdown_ms=COUNTDOWN_MS,
                    due_at=due,
                    sent_at=sent,
                    latency_ms=50.0,
                    outcome=Outcome.TEMPORARY if failed else Outcome.CONFIRMED,
                    http_status=502 if failed else 200,
                    message="Bad gateway" if failed else "",
                    sender="bench-engine",
                )
            )
            if len(batch) >= 5000:
                Beat.objects.bulk_create(batch)
                batch = []
    Beat.objects.bulk_create(batch)


def _time(client, url: str, requests: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    response = client.get(url)  # the first after filling: the process reads the hour's beats once here
    first_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    times.sort()
    return {
        "first_ms": first_ms,
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "bytes": len(response.content),
        "queries": len(queries),
    }


def measure(policies: int, identities: int, history: bool, *, requests: int = 30) -> dict:
    """Figures of GET / (as a viewer and as an operator, whose rows carry buttons) and GET /status.json on
    a desk of this size, keyed by page."""
    _ensure_django()
    from django.test import Client

    users = fill(policies, identities, history=history)
    figures = {}
    for role, path in (("viewer", "/"), ("operator", "/"), ("viewer", "/status.json")):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(users[role])
        figures[f"{path} ({role})" if path == "/" else path] = _time(client, path, requests)
    return figures


def _busy_ticks() -> int:
    """CPU time (clock ticks) the whole machine has spent busy since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, *rest = (int(x) for x in stat.readline().split()[1:])
    return user + nice + system + sum(rest[:3])  # irq, softirq, steal


class OtherLoad:
    """How busy the rest of the machine kept its cores while this process measured: the machine's busy
    time less this process's own, over the run."""

    def __init__(self):
        self.started = (time.monotonic(), _busy_ticks(), sum(os.times()[:2]))

    def __str__(self):
        wall, busy, own = self.started
        seconds = time.monotonic() - wall
        others = (_busy_ticks() - busy) / os.sysconf("SC_CLK_TCK") - (sum(os.times()[:2]) - own)
        share = max(0.0, others) / seconds if seconds else 0.0
        return f"other processes kept {share:.2f} of {os.cpu_count()} cores busy on average during the run"


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _target(page: str, key: str) -> str:
    goal = TARGETS["/" if page.startswith("/ ") else page].get(key)
    return f"≤ {goal}" if goal is not None else ""


def print_rows(label: str, figures: dict) -> None:
    for page, f in figures.items():
        kb = f["bytes"] / 1024
        print(
            f"| {label} | {page} | {f['median_ms']:.1f} ({_target(page, 'median_ms')}) | {f['p95_ms']:.1f} "
            f"| {f['first_ms']:.0f} | {kb:.0f} ({_target(page, 'kilobytes') or '—'}) | {f['queries']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument(
        "--size",
        action="append",
        help="POLICIESxIDENTITIES, repeatable (default 1000x20 and 500x10)",
    )
    parser.add_argument("--no-history", action="store_true", help="skip the runs with an hour of beats")
    parser.add_argument("--database", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in s.lower().split("x")) for s in (args.size or ["1000x20", "500x10"])]

    setup_django(Path(tempfile.mkdtemp(prefix="cg-web-bench-")), args.database)
    from django.db import connection

    python = sys.version.split()[0]
    print(f"Web benchmark: {args.requests} requests per page, {connection.vendor}, Python {python}")
    print(machine_load())
    others = OtherLoad()
    print()
    print("| desk | page | median ms (target) | p95 ms | first ms | KB (target) | queries |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for policies, identities in sizes:
        for history in (False, True) if not args.no_history else (False,):
            label = f"{policies} / {identities}{' + 1 h of beats' if history else ''}"
            print_rows(label, measure(policies, identities, history, requests=args.requests))
    print()
    print(f"{machine_load()}; {others}")


if __name__ == "__main__":
    main()
