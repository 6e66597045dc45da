"""Benchmark of the heartbeat engine against the exchange simulator (not a test; prints figures).

    .venv/bin/python bench/engine_benchmark.py [--interval 30] [--countdown 45] [--intervals 2]

What runs: the simulator in its own process with 50 ± 20 ms injected before every request; for each size, the
real engine (`manage.py qcluster`, one cluster per egress identity) on a fresh identity (its own loopback
source address, so its own weight budget and minute), and in the same window a naive sequential loop over the
same policies (same symbols, its own keys and address), the baseline. Then "Disarm all" for the size's
policies, timed from the call to the last acknowledgement, against the naive loop disarming one after the
other.

Choices: interval 30 s (Binance's example) and countdown 45 s rather than 120 s, so that a beat more than
15 s late would show as an expiry inside the window; each size is observed for two intervals. Sizes: 10, the
largest count one identity's budget admits at this interval (heartbeats.domain.budget: beats + clock syncs +
the disarm-all reserve within REQUEST_WEIGHT 2400/min), and 100, which no single identity admits at any
interval under that budget, served by two identities (two engines, as two worker hosts with distinct addresses
would).
"""

import argparse
import contextlib
import math
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HMAC_SECRET = secrets.token_hex(32)
POLICIES_PER_ACCOUNT = 25
TICKS = os.sysconf("SC_CLK_TCK")


def setup_django(var_dir: Path, database_url: str | None = None, **extra_env: str) -> dict:
    """Django for this process on a fresh database (SQLite in `var_dir` unless `database_url`), migrated,
    and the environment the worker (and web) processes get: the same database and generated secrets."""
    var_dir.mkdir(parents=True, exist_ok=True)
    # The database in a directory of its own, as bin/demo keeps its logs apart (var/demo/): the engine's
    # watcher hears every write in the database's directory, and the benchmarks' logs would wake it.
    (var_dir / "db").mkdir(exist_ok=True)
    env = {
        "CG_DEV": "1",
        "CG_VAR_DIR": str(var_dir),
        "CG_DATABASE_URL": database_url or f"sqlite:///{var_dir / 'db' / 'bench.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
        "CG_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    from django.conf import settings

    env["CG_SECRET_KEY"] = settings.SECRET_KEY
    env["CG_ENCRYPTION_KEYS"] = ",".join(settings.ENCRYPTION_KEYS)
    return env


class SimulatorProcess:
    def __init__(self, latency_ms: float, jitter_ms: float, log: Path, command: list[str] | None = None):
        import requests

        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            (command or [sys.executable, "-m", "simulator", "--port", "0"])
            + ["--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        line = self.proc.stdout.readline()
        match = re.search(r"(http://[\d.]+:\d+)", line)
        if not match:
            raise SystemExit(f"the simulator did not start: {line!r}")
        self.url = match.group(1)
        self.http = requests.Session()

    def control(self, method: str, path: str, **body):
        reply = self.http.request(method, f"{self.url}/_sim/{path}", json=body or None, timeout=30)
        reply.raise_for_status()
        return reply.json()

    def add_account(self, api_key: str) -> None:
        self.control("POST", "accounts", api_key=api_key, key_type="hmac", secret=HMAC_SECRET)

    def requests_log(self, since_id: int = 0, path: str = "/fapi/v1/countdownCancelAll") -> list[dict]:
        reply = self.http.get(
            f"{self.url}/_sim/requests", params={"path": path, "since_id": since_id}, timeout=30
        )
        reply.raise_for_status()
        data = reply.json()
        return data["requests"] if isinstance(data, dict) else data

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)
        self._log.close()


def group_cpu(pgid: int) -> float:
    """User + system CPU seconds of every process in a process group (from /proc)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


class Cluster:
    """`manage.py qcluster` serving one egress identity."""

    def __init__(self, env: dict, egress: str, source: str, log: Path):
        env = {**os.environ, **env, "CG_ENGINE_EGRESS": egress, "CG_ENGINE_SOURCE_ADDRESS": source}
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of every process in the cluster's process group."""
        return group_cpu(self.proc.pid)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)  # every process stops its duties: the lease is released
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()


class NaiveLoop(threading.Thread):
    """The baseline: one thread, one policy after the other, each beat sent when due."""

    def __init__(
        self, url: str, source: str, policies: list[tuple[str, str]], interval: float, countdown: int
    ):
        super().__init__(daemon=True)
        from heartbeats.exchange.client import FuturesClient
        from heartbeats.exchange.signing import load_signer

        self.clients = {}
        for api_key, _ in policies:
            if api_key not in self.clients:
                client = FuturesClient(
                    url, "usdm", api_key, load_signer("hmac", HMAC_SECRET), source_address=source
                )
                client.sync_time()
                self.clients[api_key] = client
        self.policies = policies
        self.interval = interval
        self.countdown = countdown
        self.stop_event = threading.Event()
        self.lateness: list[tuple[float, float]] = []  # (sent at, sent − due)
        self.cpu = 0.0
        self.sent = 0
        self.disarm_seconds = None

    def run(self) -> None:
        started = time.thread_time()
        due = dict.fromkeys(self.policies, time.time())
        first = set(self.policies)
        while not self.stop_event.is_set():
            for policy in self.policies:
                if time.time() < due[policy] or self.stop_event.is_set():
                    continue
                api_key, symbol = policy
                ack = self.clients[api_key].countdown(symbol, self.countdown)
                if policy not in first:
                    self.lateness.append((ack.sent_at, ack.sent_at - due[policy]))
                first.discard(policy)
                due[policy] = ack.sent_at + self.interval
                self.sent += 1
            self.stop_event.wait(max(0.0, min(due.values()) - time.time()))
        self.cpu = time.thread_time() - started

    def concurrent_zeros(self, source: str) -> float:
        """The floor for any sender in one Python process: every `0` at once, one thread each, through the
        same exchange client the engine uses, from another address. A first round opens the keep-alive
        connections; the second is timed."""
        from heartbeats.exchange.client import FuturesClient
        from heartbeats.exchange.signing import load_signer

        url = next(iter(self.clients.values())).base_url
        clients = {}
        for api_key in self.clients:
            signer = load_signer("hmac", HMAC_SECRET)
            client = FuturesClient(url, "usdm", api_key, signer, source_address=source, pool_maxsize=256)
            client.sync_time()
            clients[api_key] = client

        def burst() -> float:
            threads = [
                threading.Thread(target=clients[api_key].countdown, args=(symbol, 0))
                for api_key, symbol in self.policies
            ]
            started = time.time()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return time.time() - started

        burst()
        time.sleep(0.5)
        return burst()

    def disarm_all(self) -> float:
        started = time.time()
        for api_key, symbol in self.policies:
            self.clients[api_key].countdown(symbol, 0)
        self.disarm_seconds = time.time() - started
        return self.disarm_seconds


def largest_admitted(interval: int, limit: int = 2400) -> int:
    from heartbeats.domain.budget import projected_weight_per_minute, reserve_for

    n = 0
    while True:
        trial = n + 1
        policies = [
            SimpleNamespace(interval_s=interval, account_id=i // POLICIES_PER_ACCOUNT) for i in range(trial)
        ]
        if limit - projected_weight_per_minute(policies) - reserve_for(trial) < 0:
            return n
        n = trial


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (math.nan, math.nan, math.nan)
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return (statistics.median(ordered), p99, ordered[-1])


def run_size(size, identities, sim, env, args, symbols, tmp, round_no):
    from heartbeats.desk import actions
    from heartbeats.models import Beat, BeatKind, CountdownPolicy, ExchangeAccount, Outcome

    per = math.ceil(size / len(identities))
    groups = []
    for k, (egress, source, naive_source, floor_source) in enumerate(identities):
        count = min(per, size - k * per)
        policies, naive = [], []
        for start in range(0, count, POLICIES_PER_ACCOUNT):
            api_key, naive_key = secrets.token_hex(32), secrets.token_hex(32)
            sim.add_account(api_key)
            sim.add_account(naive_key)
            account = ExchangeAccount.objects.create(
                label=f"bench {round_no}-{egress}-{start}",
                environment="custom",
                custom_base_url=sim.url,
                key_type="hmac",
                api_key=api_key,
                secret=HMAC_SECRET,
                egress=egress,
            )
            for symbol in symbols[: min(POLICIES_PER_ACCOUNT, count - start)]:
                policies.append(
                    CountdownPolicy.objects.create(
                        account=account,
                        symbol=symbol,
                        interval_s=args.interval,
                        countdown_ms=args.countdown * 1000,
                    )
                )
                naive.append((naive_key, symbol))
        groups.append(
            SimpleNamespace(
                egress=egress,
                source=source,
                naive_source=naive_source,
                floor_source=floor_source,
                policies=policies,
                naive=naive,
            )
        )
    clusters = [Cluster(env, g.egress, g.source, tmp / f"qcluster-{round_no}-{g.egress}.log") for g in groups]
    print(f"  {size} policies on {len(groups)} identities ({', '.join(g.egress for g in groups)})")
    try:
        all_policies = [p for g in groups for p in g.policies]
        deadline = time.time() + 30
        while not all(_alive(g.egress) for g in groups):
            if time.time() > deadline:
                raise SystemExit("the engine did not start; see the qcluster logs in " + str(tmp))
            time.sleep(0.2)
        for p in all_policies:
            actions.arm(p.pk, user=None, ip=None)
        naive_loops = [
            NaiveLoop(sim.url, g.naive_source, g.naive, args.interval, args.countdown * 1000) for g in groups
        ]
        for loop in naive_loops:
            loop.start()
        first_id = _last_request_id(sim)
        time.sleep(5)  # the arms themselves, and the first clock syncs, are not part of the figures
        window_start = time.time()
        cpu_start = sum(c.cpu_seconds() for c in clusters)
        time.sleep(args.intervals * args.interval + 1)
        window_end = time.time()
        cpu_end = sum(c.cpu_seconds() for c in clusters)

        ids = [p.pk for p in all_policies]
        beats = list(
            Beat.objects.filter(
                policy_id__in=ids,
                kind=BeatKind.ARM,
                sent_at__gte=_dt(window_start),
                sent_at__lt=_dt(window_end),
            ).exclude(due_at=None)
        )
        arm_times = {p.pk: CountdownPolicy.objects.get(pk=p.pk).desired_changed_at for p in all_policies}
        regular = [b for b in beats if b.due_at > arm_times[b.policy_id]]
        lateness = [(b.sent_at - b.due_at).total_seconds() * 1000 for b in regular]
        latencies = [b.latency_ms for b in regular if b.outcome == Outcome.CONFIRMED and b.latency_ms]
        rtt = statistics.median(latencies) if latencies else math.nan

        # Disarm all: engines first (on the size's accounts), then the naive loops one after the other.
        for loop in naive_loops:
            loop.stop_event.set()
            loop.join()
        account_ids = sorted({p.account_id for p in all_policies})
        started = time.time()
        operation = actions.disarm_all(user=None, ip=None, reason="benchmark", account_ids=account_ids)
        targets = {(t.policy_id, t.generation) for t in operation.targets.all()}
        acks = first_zero_acks(ids, targets, started, timeout=10)
        done = list(acks)
        last_ack = max(acks.values()) if acks else math.nan
        disarm_wall = (last_ack - started) * 1000
        naive_disarm = max(loop.disarm_all() for loop in naive_loops) * 1000
        floor = (
            max(loop.concurrent_zeros(g.floor_source) for loop, g in zip(naive_loops, groups, strict=True))
            * 1000
        )
        time.sleep(7)  # the second zeros

        log = sim.requests_log(first_id)
        engine_sources = {g.source for g in groups}
        naive_sources = {g.naive_source for g in groups}
        engine_429 = sum(1 for r in log if r["ip"] in engine_sources and r["status"] in (429, 418))
        naive_429 = sum(1 for r in log if r["ip"] in naive_sources and r["status"] in (429, 418))
        state = sim.control("GET", "state")
        engine_keys = {p.account.api_key[-4:] for p in all_policies}
        expired = sum(1 for c in state["cancellations"] if c["api_key_last4"] in engine_keys)
        naive_expired = len(state["cancellations"]) - expired
        sent_in_window = len(beats)
        naive_late = [
            lat * 1000 for loop in naive_loops for at, lat in loop.lateness if window_start <= at < window_end
        ]
        naive_sent = sum(
            1 for loop in naive_loops for at, _ in loop.lateness if window_start <= at < window_end
        )
        naive_cpu = sum(loop.cpu for loop in naive_loops)
        naive_total = sum(loop.sent for loop in naive_loops)
        return SimpleNamespace(
            size=size,
            identities=len(groups),
            beats=len(regular),
            late=percentiles(lateness),
            naive_late=percentiles(naive_late),
            naive_beats=naive_sent,
            expired=expired,
            engine_429=engine_429,
            naive_429=naive_429,
            naive_expired=naive_expired,
            cpu_per_1000=(cpu_end - cpu_start) / max(1, sent_in_window) * 1000,
            naive_cpu_per_1000=naive_cpu / max(1, naive_total) * 1000,
            rtt=rtt,
            disarm_ms=disarm_wall,
            disarmed=len(done),
            floor_ms=floor,
            naive_disarm_ms=naive_disarm,
        )
    finally:
        for cluster in clusters:
            cluster.stop()


def first_zero_acks(ids, targets, started: float, timeout: float) -> dict[int, float]:
    """Policy id → when the exchange acknowledged its first `0` of the target generation (epoch s), for as
    many as are acknowledged within `timeout` of `started`. The figure comes from the beats' own timestamps;
    polling slowly keeps this process off the CPU."""
    from heartbeats.models import Beat, BeatKind, Outcome

    acks = {}
    while time.time() - started < timeout and len(acks) < len(ids):
        time.sleep(0.1)
        for b in Beat.objects.filter(policy_id__in=ids, kind=BeatKind.DISARM, outcome=Outcome.CONFIRMED):
            if (b.policy_id, b.generation) in targets:
                ack = b.sent_at.timestamp() + b.latency_ms / 1000
                acks[b.policy_id] = min(acks.get(b.policy_id, ack), ack)  # the first zero, not the second
    return acks


def _alive(egress: str) -> bool:
    from heartbeats.engine import engine_alive

    return engine_alive(egress=egress)


def _last_request_id(sim) -> int:
    log = sim.requests_log()
    return log[-1]["id"] if log else 0


def _dt(epoch: float):
    from heartbeats.engine.plan import as_datetime

    return as_datetime(epoch)


def report(rows, args) -> None:
    def ms(value):
        return f"{value:.1f}" if value == value else "-"  # NaN when there was nothing to measure

    print()
    print(f"interval {args.interval} s, countdown {args.countdown} s, {args.intervals} intervals per size,")
    print(f"simulated round trip {args.latency:g} ± {args.jitter:g} ms; times in ms")
    print()
    print("ENGINE (manage.py qcluster)")
    print(
        "policies identities  beats  late p50   p99    max  missed  429  cpu s/1k"
        "  disarm all  floor  RTT  target"
    )
    for r in rows:
        target = 1.5 * r.rtt + 100
        verdict = "ok" if r.disarm_ms <= target else "OVER"
        print(
            f"{r.size:>8} {r.identities:>10} {r.beats:>6}"
            f" {ms(r.late[0]):>9} {ms(r.late[1]):>6} {ms(r.late[2]):>6}"
            f" {r.expired:>7} {r.engine_429:>4} {r.cpu_per_1000:>9.1f}"
            f" {r.disarm_ms:>11.0f} {r.floor_ms:>6.0f} {r.rtt:>4.0f} {target:>7.0f} {verdict}"
        )
        if r.disarmed != r.size:
            print(f"         only {r.disarmed} of {r.size} disarms acknowledged within 10 s")
    print()
    print("NAIVE SEQUENTIAL LOOP (baseline, same policies, own keys and address)")
    print("policies  beats  late p50    p99    max  missed  429  cpu s/1k  disarm all")
    for r in rows:
        print(
            f"{r.size:>8} {r.naive_beats:>6} {ms(r.naive_late[0]):>9} {ms(r.naive_late[1]):>6}"
            f" {ms(r.naive_late[2]):>6} {r.naive_expired:>7} {r.naive_429:>4} {r.naive_cpu_per_1000:>9.1f}"
            f" {r.naive_disarm_ms:>11.0f}"
        )
    print()
    print(
        "late: send time − due time of regular beats (due: send time of the last acknowledged arm + interval)"
    )
    print("missed: countdowns the simulator let expire (must be 0); 429: 429 or 418 answers (must be 0)")
    print("cpu s/1k: CPU seconds of the whole qcluster (every process) per 1,000 beats sent in the window;")
    print("          for the naive loop, its thread's CPU time")
    print("disarm all: from the call to the last acknowledgement; target: 1.5 × RTT + 100 ms, RTT being the")
    print(
        "            median round trip of the engine's beats in the window; floor: the same zeros sent all at"
    )
    print("            once by threads of one bare process through the same exchange client (no engine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--countdown", type=int, default=45)
    parser.add_argument("--intervals", type=int, default=2, help="intervals observed per size")
    parser.add_argument("--latency", type=float, default=50)
    parser.add_argument("--jitter", type=float, default=20)
    parser.add_argument("--sizes", default="10,max,100")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    env = setup_django(tmp)
    largest = largest_admitted(args.interval)
    sizes = [largest if s == "max" else int(s) for s in args.sizes.split(",")]
    sim = SimulatorProcess(args.latency, args.jitter, tmp / "simulator.log")
    print(f"simulator {sim.url}; one identity admits {largest} policies at {args.interval} s; logs in {tmp}")
    try:
        import requests

        info = requests.get(f"{sim.url}/fapi/v1/exchangeInfo", timeout=10).json()
        symbols = [s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"][:POLICIES_PER_ACCOUNT]
        rows = []
        next_address = 1
        for round_no, size in enumerate(sizes, 1):
            count = math.ceil(size / largest)
            identities = []
            for _ in range(count):
                egress = f"bench{next_address}"
                n = next_address + 1
                identities.append((egress, f"127.0.0.{n}", f"127.0.1.{n}", f"127.0.2.{n}"))
                next_address += 1
            rows.append(run_size(size, identities, sim, env, args, symbols, tmp, round_no))
        report(rows, args)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
