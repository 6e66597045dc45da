"""Benchmark of Cancel orders now (the kill switch) against the simulator (not a test; prints figures).

    .venv/bin/python bench/kill_switch_benchmark.py [--symbols 50] [--accounts 1,4] [--runs 5] [--latency 50]

What runs: the simulator in its own process with 50 ms injected before every request (no jitter: the target,
"50 symbols in under a second", is stated against a 50 ms round trip). For each desk size (one USD-M account,
then several), every account has a policy on each of 50 symbols, and each symbol a resting limit order and a
conditional (STOP_MARKET) algo order, placed through the simulator's control API. Then
`heartbeats.desk.killswitch.cancel.cancel_orders` for all the desk's policies, called in this process as
the web process serving the button calls it, is timed from the call until every OrderCancel row is done (the
rows' own `finished_at`), and the simulator is asked whether any order or algo order is left. Several runs per
size: min, median and max.

The simulator lists 38 trading USD-M markets (simulator/symbols.py), fewer than 50: the benchmark's
simulator process gets made-up perpetuals (BENCH01USDT, ...) added to its market list for the rest.

Each run starts on a fresh exchange minute: the simulator is reset (accounts kept) and the address's stored
weight forgotten, as if the button were pressed once a minute; without that, presses in quick succession
would be refused by the weight budget (one press costs 1 + 2 × symbols weight per account).
"""

import argparse
import logging
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_benchmark as eb  # noqa: E402  (the sibling benchmark's Django set-up and simulator helpers)

TARGET_MS = 1000
# Run in the simulator's process: made-up USD-M perpetuals added to its markets, then its usual command line.
SIMULATOR_WITH_EXTRA_MARKETS = """
import sys
from simulator import cli, symbols
names = [f"BENCH{i:02d}" for i in range(1, int(sys.argv[1]) + 1)]
extra = [symbols.Market(name + "USDT", symbols.USDM, name, "USDT") for name in names]
symbols.USDM_MARKETS.extend(extra)
symbols.MARKETS.update((m.symbol, m) for m in extra)
cli.main(sys.argv[2:])
"""


class Simulator(eb.SimulatorProcess):
    """The benchmark simulator process (`python -m simulator --port 0`), with `extra` made-up
    USD-M perpetuals on its market list."""

    def __init__(self, latency_ms: float, extra: int, log: Path):
        command = [sys.executable, "-c", SIMULATOR_WITH_EXTRA_MARKETS, str(extra), "--port", "0"]
        super().__init__(latency_ms, 0.0, log, command=command)
        self.latency_ms = latency_ms

    def usdm_symbols(self) -> list[str]:
        info = self.http.get(f"{self.url}/fapi/v1/exchangeInfo", timeout=10).json()
        return [s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"]

    def fresh_minute(self) -> None:
        """No orders, no weight used; the accounts stay. (A reset also clears the latency: set again.)"""
        self.control("POST", "reset", keep_accounts=True)
        self.control("POST", "latency", latency_ms=self.latency_ms)

    def place(self, api_key: str, symbol: str) -> None:
        self.control("POST", "orders", api_key=api_key, symbol=symbol, side="BUY", price="1", quantity="10")
        self.control("POST", "algo_orders", api_key=api_key, symbol=symbol, triggerPrice="0.5", quantity="10")

    def left(self, api_key: str) -> tuple[int, int]:
        """(open orders, open algo orders) of the account, every symbol."""
        orders = self.control("GET", "orders", api_key=api_key)
        algo = self.control("GET", "algo_orders", api_key=api_key)
        return len(orders), len(algo)


def make_desk(sim: Simulator, symbols: list[str], accounts: int, tag: str):
    """`accounts` USD-M accounts, each its own key on the simulator, with a policy on every symbol."""
    from heartbeats.models import CountdownPolicy, ExchangeAccount

    desk = []
    for n in range(accounts):
        api_key = secrets.token_hex(32)
        sim.add_account(api_key)
        account = ExchangeAccount.objects.create(
            label=f"{tag} {n + 1}",
            venue="usdm",
            environment="custom",
            custom_base_url=sim.url,
            key_type="hmac",
            api_key=api_key,
            secret=eb.HMAC_SECRET,
        )
        policies = [
            CountdownPolicy.objects.create(account=account, symbol=s, interval_s=30, countdown_ms=45_000)
            for s in symbols
        ]
        desk.append((api_key, policies))
    return desk


def press(sim: Simulator, desk, run: int) -> SimpleNamespace:
    """One press of Cancel orders now for the whole desk, on a fresh exchange minute with every order in
    place: how long it took, what each request took, and what the simulator still holds afterwards."""
    from heartbeats.desk.killswitch import cancel
    from heartbeats.models import AddressLimits
    from heartbeats.models.orders import CancelState

    sim.fresh_minute()
    AddressLimits.objects.all().delete()  # the exchange forgot the weight; so does the guard
    for api_key, policies in desk:
        for p in policies:
            sim.place(api_key, p.symbol)
        orders, algo = sim.left(api_key)
        if (orders, algo) != (len(policies), len(policies)):
            raise SystemExit(f"set-up: {orders} orders, {algo} algo orders; {len(policies)} of each expected")
    ids = [p.pk for _, policies in desk for p in policies]

    started = time.time()
    operation = cancel.cancel_orders(ids, username="benchmark", reason=f"kill switch benchmark, run {run}")
    returned = time.time()
    cancel.wait(operation, timeout=60)
    rows = cancel.results(operation)

    done = [r for r in rows if r.state == CancelState.DONE]
    unfinished = [r for r in rows if r.finished_at is None]
    last = max((r.finished_at.timestamp() for r in rows if r.finished_at), default=math.nan)
    left = [sim.left(api_key) for api_key, _ in desk]
    return SimpleNamespace(
        total_ms=(last - started) * 1000 if not unfinished else math.nan,
        call_ms=(returned - started) * 1000,
        first_start_ms=(min(r.started_at.timestamp() for r in rows if r.started_at) - started) * 1000
        if any(r.started_at for r in rows)
        else math.nan,
        latencies=[r.latency_ms for r in rows if r.latency_ms is not None],
        requests=len(rows),
        not_done=len(rows) - len(done),
        errors=sorted({r.error for r in rows if r.error})[:3],
        orders_left=sum(o for o, _ in left),
        algo_left=sum(a for _, a in left),
    )


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}"


def report(rows, args) -> None:
    print()
    print(
        f"Cancel orders now: {args.symbols} symbols per account, two requests each (allOpenOrders and"
        " algoOpenOrders),"
    )
    print(f"{args.runs} runs per desk; simulated round trip {args.latency:g} ms, every request; times in ms")
    print()
    print("accounts  policies  requests  all done: min  median   max  call  request p50  p99  left  target")
    for r in rows:
        worst = max(r.totals)
        verdict = "ok" if worst < TARGET_MS and not r.not_done and not r.left else "OVER"
        if r.policies > 50:  # the target is set for 50 symbols; larger desks are shown against it
            verdict = "(reference)"
        print(
            f"{r.accounts:>8} {r.policies:>9} {r.requests:>9} {min(r.totals):>14.0f}"
            f" {statistics.median(r.totals):>7.0f} {worst:>5.0f} {statistics.median(r.calls):>5.0f}"
            f" {r.latency[0]:>12.0f} {r.latency[1]:>4.0f} {r.left:>5}  < {TARGET_MS} {verdict}"
        )
        if r.not_done:
            print(f"         {r.not_done} requests not done: {'; '.join(r.errors) or '-'}")
    print()
    print("all done: from the call to cancel_orders() to the last OrderCancel row finished (its")
    print("          finished_at), the clock measurement of each account (one round trip) included")
    print("call: until cancel_orders() returned (the operation and its rows committed; the requests go on")
    print("      threads of their own)")
    print(f"target: under {TARGET_MS} ms for one account's 50 symbols, every row done and nothing left open;")
    print("        larger desks are shown against it for reference")
    print("request: one DELETE, as the row's latency_ms records it; left: orders and algo orders still")
    print("         open on the simulator after each run, summed over the runs (must be 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=50, help="policies (symbols) per account")
    parser.add_argument("--accounts", default="1,4", help="desk sizes in accounts, comma separated")
    parser.add_argument("--runs", type=int, default=5, help="presses per desk")
    parser.add_argument("--latency", type=float, default=50, help="ms injected before every request")
    parser.add_argument("--database", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cg-kill-bench-"))
    eb.setup_django(tmp, args.database)
    from django.db import connection

    logging.getLogger("heartbeats.killswitch").setLevel(logging.ERROR)  # one warning per press otherwise

    from simulator import symbols as markets

    listed = sum(1 for m in markets.USDM_MARKETS if m.trading)
    sim = Simulator(args.latency, max(0, args.symbols - listed), tmp / "simulator.log")
    try:
        symbols = sim.usdm_symbols()
        if len(symbols) < args.symbols:
            raise SystemExit(f"the simulator lists {len(symbols)} USD-M symbols, {args.symbols} needed")
        made_up = [s for s in symbols[: args.symbols] if s.startswith("BENCH")]
        symbols = symbols[: args.symbols]
        print(f"Kill switch benchmark: {machine()}, {connection.vendor}, Python {sys.version.split()[0]}")
        print(
            f"simulator {sim.url}, {args.latency:g} ms per request; {len(symbols) - len(made_up)} of its"
            f" symbols and {len(made_up)} made up ({', '.join(made_up[:2])}, ...); logs in {tmp}"
        )
        rows = []
        for size in (int(s) for s in args.accounts.split(",")):
            desk = make_desk(sim, symbols, size, f"kill {size}")
            runs = [press(sim, desk, n) for n in range(1, args.runs + 1)]
            for n, run in enumerate(runs, 1):
                print(
                    f"  {size} account(s), run {n}: {run.total_ms:.0f} ms (call {run.call_ms:.0f} ms,"
                    f" first request started at {run.first_start_ms:.0f} ms), {run.not_done} not done,"
                    f" {run.orders_left} + {run.algo_left} orders left",
                    flush=True,
                )
            latencies = sorted(x for run in runs for x in run.latencies)
            rows.append(
                SimpleNamespace(
                    accounts=size,
                    policies=size * len(symbols),
                    requests=runs[0].requests,
                    totals=[run.total_ms for run in runs],
                    calls=[run.call_ms for run in runs],
                    latency=eb.percentiles(latencies)[:2],
                    not_done=sum(run.not_done for run in runs),
                    errors=sorted({e for run in runs for e in run.errors})[:3],
                    left=sum(run.orders_left + run.algo_left for run in runs),
                )
            )
        report(rows, args)
        print()
        print(f"after the run: {machine()}", flush=True)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
