"""Benchmark of strategy pings against the heartbeats beside them (not a test; prints figures).

    .venv/bin/python bench/ping_benchmark.py [--policies N] [--strategies 20] [--rates 0,3000,10000]
                                             [--window 90] [--interval 30] [--database URL]

"Pings are cheap and safe: thousands per minute must not touch the beat lateness." What runs, on one machine
as a small deployment would: the simulator in its own process (50 ± 20 ms before every request), the real
engine (`manage.py qcluster`, as bench/engine_benchmark.py runs it) beating as many armed policies as one
egress identity's weight budget admits at a 30 s interval (58; countdown 45 s), and the dashboard under
gunicorn with deploy/gunicorn.conf.py as shipped (2 workers × 8 threads). Every policy belongs to one of
`--strategies` strategies (grace one hour, each pinged once before arming, so none is held whatever the load).
Then, one window after the other, a load generator in this process sends pings at each rate (per minute,
spread evenly over every strategy's ping URL and over four loopback source addresses, open loop: a slow answer
does not slow the schedule) through the real HTTP path, and the beats the engine sent in the window give the
lateness (Beat.sent_at − Beat.due_at) with and without that load.

On SQLite (the default) every ping is a write: one INSERT of the recent-pings row and one UPDATE of the
strategy, in one transaction, on the same database file the engine writes its beats to.
"""

import argparse
import contextlib
import http.client
import itertools
import math
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_benchmark as eb  # noqa: E402  (the sibling benchmark's Django, simulator and cluster helpers)

EGRESS, SOURCE = "pings", "127.0.0.2"  # the engine's identity and its own source address
PINGER_SOURCES = [f"127.0.4.{n}" for n in range(1, 5)]  # the strategies' hosts, as the web sees them
PINGER_THREADS = 24


class Web:
    """gunicorn with deploy/gunicorn.conf.py as shipped, on a free loopback port."""

    def __init__(self, env: dict, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.host, self.port = "127.0.0.1", port
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
            cwd=eb.ROOT,
            env={**os.environ, **env, "CG_BIND": f"127.0.0.1:{port}"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited at start-up; see {log}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
                connection.request("GET", "/login/")
                connection.getresponse().read()
                connection.close()
                return
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within 60 s; see {log}")

    def workers(self) -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    found.add(int(stat.parent.name))
        return found

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()


class Pinger:
    """Open-loop ping load: `rate` pings a minute for `seconds`, each sent at its scheduled time by one of a
    pool of threads (each with its own keep-alive connection and source address), keys taken in turn."""

    def __init__(self, web: Web, keys: list[str], rate: float, seconds: float):
        self.web, self.rate, self.seconds = web, rate, seconds
        self.keys = itertools.cycle(keys)
        self.lock = threading.Lock()
        self.latencies: list[float] = []  # ms, answered 200
        self.statuses: dict[str, int] = {}
        self.answers: dict[str, int] = {}
        self.sent = 0

    def run(self) -> float:
        """Send the load; returns the seconds it took."""
        if self.rate <= 0:
            time.sleep(self.seconds)
            return self.seconds
        period = 60.0 / self.rate
        total = int(self.seconds / period)
        slots = iter(range(total))
        started = time.monotonic() + 0.1
        threads = [
            threading.Thread(target=self._work, args=(n, slots, started, period), daemon=True)
            for n in range(PINGER_THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started

    def _work(self, n: int, slots, started: float, period: float) -> None:
        source = PINGER_SOURCES[n % len(PINGER_SOURCES)]
        connection = None
        while True:
            with self.lock:
                slot = next(slots, None)
                key = next(self.keys)
            if slot is None:
                break
            delay = started + slot * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if connection is None:
                connection = http.client.HTTPConnection(
                    self.web.host, self.web.port, timeout=10, source_address=(source, 0)
                )
            sent = time.perf_counter()
            try:
                connection.request("POST", f"/ping/{key}", body=b"")
                reply = connection.getresponse()
                body = reply.read().decode(errors="replace").strip()
                status = str(reply.status)
                if reply.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as exc:
                status, body = type(exc).__name__, ""
                connection.close()
                connection = None
            took = (time.perf_counter() - sent) * 1000
            with self.lock:
                self.sent += 1
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == "200":
                    self.latencies.append(took)
                    self.answers[body] = self.answers.get(body, 0) + 1
        if connection is not None:
            connection.close()


def make_desk(sim, policies: int, strategies: int, interval: int, countdown: int) -> tuple[list, list[str]]:
    """Accounts of 25 policies on the simulator (one symbol each), every policy held by one of the strategies
    in turn; returns the policies and the strategies' ping keys."""
    from heartbeats.desk.strategies import pings
    from heartbeats.models import CountdownPolicy, ExchangeAccount, Strategy

    symbols = [s for s in sim.http.get(f"{sim.url}/fapi/v1/exchangeInfo", timeout=10).json()["symbols"]]
    symbols = [s["symbol"] for s in symbols if s["status"] == "TRADING"][: eb.POLICIES_PER_ACCOUNT]
    keys = [pings.new_key() for _ in range(strategies)]
    held_by = [
        Strategy.objects.create(
            name=f"bench strategy {n + 1}",
            grace_s=3600,
            rearm_on_return=True,
            ping_key_hash=pings.digest(key),
            ping_key_hint=key[:6],
        )
        for n, key in enumerate(keys)
    ]
    made = []
    for start in range(0, policies, eb.POLICIES_PER_ACCOUNT):
        api_key = secrets.token_hex(32)
        sim.add_account(api_key)
        account = ExchangeAccount.objects.create(
            label=f"pings {start // eb.POLICIES_PER_ACCOUNT + 1}",
            environment="custom",
            custom_base_url=sim.url,
            key_type="hmac",
            api_key=api_key,
            secret=eb.HMAC_SECRET,
            egress=EGRESS,
        )
        for symbol in symbols[: min(eb.POLICIES_PER_ACCOUNT, policies - start)]:
            made.append(
                CountdownPolicy.objects.create(
                    account=account,
                    symbol=symbol,
                    interval_s=interval,
                    countdown_ms=countdown * 1000,
                    strategy=held_by[len(made) % strategies],
                )
            )
    return made, keys


def lateness(ids: list[int], started: float, ended: float) -> SimpleNamespace:
    """The regular beats the engine sent in [started, ended): send time − due time, ms."""
    from heartbeats.models import Beat, BeatKind, CountdownPolicy, Outcome

    arm_times = dict(CountdownPolicy.objects.filter(pk__in=ids).values_list("pk", "desired_changed_at"))
    beats = [
        b
        for b in Beat.objects.filter(
            policy_id__in=ids, kind=BeatKind.ARM, sent_at__gte=eb._dt(started), sent_at__lt=eb._dt(ended)
        ).exclude(due_at=None)
        if b.due_at > arm_times[b.policy_id]
    ]
    late = [(b.sent_at - b.due_at).total_seconds() * 1000 for b in beats]
    return SimpleNamespace(
        beats=len(beats),
        late=eb.percentiles(late),
        unconfirmed=sum(1 for b in beats if b.outcome != Outcome.CONFIRMED),
    )


def pings_recorded() -> int:
    from django.db.models import Sum

    from heartbeats.models import Strategy

    return Strategy.objects.aggregate(n=Sum("ping_count"))["n"] or 0


def run_window(parts, keys: list[str], ids: list[int], rate: float, seconds: float) -> SimpleNamespace:
    """One window of `rate` pings a minute; `parts` holds the web, the simulator and each part's process."""
    web, sim = parts.web, parts.sim
    workers_before = web.workers()
    recorded = pings_recorded()
    expired = len(sim.control("GET", "state")["cancellations"])
    pinger = Pinger(web, keys, rate, seconds)
    started = time.time()
    cpu, own = cpu_by_session(parts.leaders), time.process_time()
    took = pinger.run()
    ended = time.time()
    own = time.process_time() - own
    after = cpu_by_session(parts.leaders)
    cpu = {name: (after[name] - cpu[name]) / (ended - started) for name in after}
    beats = lateness(ids, started, ended)
    ordered = sorted(pinger.latencies)
    errors = {k: v for k, v in pinger.statuses.items() if k != "200"}
    return SimpleNamespace(
        rate=rate,
        seconds=ended - started,
        sent=pinger.sent,
        achieved=pinger.sent / took * 60 if took else 0.0,
        ping_p50=statistics.median(ordered) if ordered else math.nan,
        ping_p99=ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] if ordered else math.nan,
        errors=errors,
        answers=pinger.answers,
        recorded=pings_recorded() - recorded,
        recycled=len(web.workers() - workers_before),
        expired=len(sim.control("GET", "state")["cancellations"]) - expired,
        cpu=cpu,
        generator_cpu=own / (ended - started),
        **vars(beats),
    )


def cpu_by_session(leaders: dict[str, int]) -> dict[str, float]:
    """CPU seconds of each process group started from here (gunicorn, the worker cluster, the simulator: each
    leads a session of its own), those of its children that exited (a recycled web worker) included."""
    names = {pid: name for name, pid in leaders.items()}
    total = dict.fromkeys(leaders, 0)
    for entry in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = entry.read_text().rsplit(")", 1)[1].split()
            name = names.get(int(fields[3]))
            if name is not None:
                total[name] += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return {name: ticks / eb.TICKS for name, ticks in total.items()}


def report(rows, args) -> None:
    def ms(value):
        return f"{value:.1f}" if value == value else "-"

    print()
    print(
        f"{args.policies} policies armed at a {args.interval} s interval on {args.strategies} strategies;"
        f" {args.window} s per window; times in ms"
    )
    print()
    print(
        "pings/min  achieved  ping p50    p99  errors  beats  late p50    p99    max  unconfirmed  missed"
        "  cpu: web  worker"
    )
    for r in rows:
        errors = sum(r.errors.values())
        print(
            f"{r.rate:>9.0f} {r.achieved:>9.0f} {ms(r.ping_p50):>9} {ms(r.ping_p99):>6} {errors:>7}"
            f" {r.beats:>6} {ms(r.late[0]):>9} {ms(r.late[1]):>6} {ms(r.late[2]):>6} {r.unconfirmed:>12}"
            f" {r.expired:>7} {r.cpu['web']:>9.2f} {r.cpu['worker']:>7.2f}"
        )
    print()
    for r in rows:
        if not r.sent:
            continue
        answers = ", ".join(f"{k} {v}" for k, v in sorted(r.answers.items()))
        errors = ", ".join(f"{k} × {v}" for k, v in sorted(r.errors.items())) or "none"
        print(
            f"{r.rate:.0f}/min: {r.sent} sent ({r.sent / r.seconds:.1f}/s), answers {answers};"
            f" errors {errors};"
            f" {r.recorded} recorded; web workers recycled {r.recycled};"
            f" the simulator used {r.cpu['simulator']:.2f} cores, the load generator {r.generator_cpu:.2f}"
        )
    print()
    print("achieved: pings answered or failed per minute over the window; ping p50/p99: time to a 200")
    print("          answer, from this process (keep-alive connections); errors: anything but 200 (429s too)")
    print("late: send time − due time of the engine's regular beats sent in the window; unconfirmed: those")
    print("      beats not acknowledged; missed: countdowns the simulator let expire (must be 0)")
    print("cpu: cores used over the window by gunicorn (master and workers) and by the worker cluster")
    print("     (manage.py qcluster: the active and standby engines and django-q2's own processes)")
    print("recorded: the strategies' ping counts grew by this much (every 200 is one)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, help="default: as many as one identity's budget admits")
    parser.add_argument("--strategies", type=int, default=20)
    parser.add_argument("--rates", default="0,3000,10000", help="pings a minute, one window each")
    parser.add_argument("--window", type=int, default=90, help="seconds per window")
    parser.add_argument("--interval", type=int, default=30, help="heartbeat interval, s")
    parser.add_argument("--countdown", type=int, default=45, help="countdown, s")
    parser.add_argument("--database", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cg-ping-bench-"))
    env = eb.setup_django(tmp, args.database)
    from django.db import connection

    from heartbeats.desk import actions

    largest = eb.largest_admitted(args.interval)
    if args.policies is None:
        args.policies = largest
    elif args.policies > largest:
        raise SystemExit(f"one identity admits {largest} policies at {args.interval} s: beats would be held")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Ping benchmark: {os.cpu_count()} cores, load average {load}, {connection.vendor}")
    sim = eb.SimulatorProcess(50, 20, tmp / "simulator.log")
    cluster = web = None
    try:
        policies, keys = make_desk(sim, args.policies, args.strategies, args.interval, args.countdown)
        ids = [p.pk for p in policies]
        web = Web(env, tmp / "gunicorn.log")
        cluster = eb.Cluster(env, EGRESS, SOURCE, tmp / "qcluster.log")
        print(f"simulator {sim.url}, web http://{web.host}:{web.port}, logs in {tmp}", flush=True)
        leaders = {"web": web.proc.pid, "worker": cluster.proc.pid, "simulator": sim.proc.pid}
        parts = SimpleNamespace(web=web, sim=sim, leaders=leaders)
        deadline = time.time() + 60
        while not eb._alive(EGRESS):
            if time.time() > deadline:
                raise SystemExit(f"the engine did not start; see {tmp / 'qcluster.log'}")
            time.sleep(0.2)
        first = Pinger(web, keys, len(keys) * 60, 1.0)  # one ping each: no strategy waits for its first
        first.run()
        if pings_recorded() < len(keys):
            raise SystemExit(f"the first pings were not recorded ({first.statuses}); see {tmp}")
        for pk in ids:
            actions.arm(pk, user=None, ip=None)
        time.sleep(args.interval + 5)  # the arms, the first clock syncs and a first round of beats
        rows = []
        for rate in (float(r) for r in args.rates.split(",")):
            row = run_window(parts, keys, ids, rate, args.window)
            print(
                f"  {rate:.0f} pings/min: {row.sent} sent, ping p99 {row.ping_p99:.1f} ms,"
                f" beats late p99 {row.late[1]:.1f} ms",
                flush=True,
            )
            rows.append(row)
        report(rows, args)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nafter the run: load average {load}")
    finally:
        if cluster is not None:
            cluster.stop()
        if web is not None:
            web.stop()
        sim.stop()


if __name__ == "__main__":
    main()
