"""Fault suite: the real worker (and web) against the exchange simulator under injected faults (not a test;
prints a table).

    .venv/bin/python bench/fault_suite.py                       # every scenario, on SQLite
    .venv/bin/python bench/fault_suite.py --short               # only the quick ones (each well under 30 s)
    .venv/bin/python bench/fault_suite.py --scenario stale-edit --scenario weight
    .venv/bin/python bench/fault_suite.py --database postgres://user:pw@127.0.0.1:5432/db
    .venv/bin/python bench/fault_suite.py --list

Each scenario runs in a process of its own, with its own database (a fresh SQLite file, or a fresh database
on the PostgreSQL server given, created and dropped by the suite; the role needs CREATEDB), simulator
(`python -m simulator`), worker (`manage.py qcluster`, CG_DEV=1) and, where it needs one, web
(gunicorn with deploy/gunicorn.conf.py). It arms a few policies (two resting orders each on the simulator),
injects its fault, acts as people would meanwhile (disarms, Disarm all, admin edits), and is judged by the
simulator's ground truth only (the options rows, group 12, do the same on Binance Options accounts: a
switch per underlying guarding option orders of it, configured once and renewed by one heartbeat per
account; groups 13 and 14 on OKX and Kraken Futures accounts, one account-wide switch each; truth.py says
how their requests count):

  missed countdowns         countdowns that ran out (cancelling orders) while their policy was desired armed
  re-arms after a disarm    disarms undone: an arm accepted after the disarm's first `0` and not undone by
                            another `0` before its countdown ran out, or an arm signed after the disarm was
                            committed, or a countdown still running at the end although its policy was
                            disarmed (counted once per disarm)
  unexpected cancellations  countdowns that ran out on a policy desired disarmed
  time to recover           seconds from the end of the fault until every policy's simulator state (countdown
                            running or not) matched its desired state for good
  disarm → first `0`        worst time from a disarm being asked for to its first `0` accepted
  429/418                   answers of the simulator's own rate limiter (injected ones not counted; Kraken's
                            HTTP 200 "apiLimitExceeded" counted too)

Target: zeros everywhere. Logs of every process stay in the work folder printed at the start.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from faults.catalog import SPECS  # noqa: E402
from faults.runner import child_main, clean, run_in_child, table  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SPECS),
        metavar="NAME",
        help="repeatable (the same NAME twice runs it twice); see --list",
    )
    parser.add_argument("--short", action="store_true", help="only the quick scenarios")
    parser.add_argument("--database", default="sqlite", help="'sqlite' (default) or a postgres:// URL")
    parser.add_argument("--workdir", type=Path, help="where the logs go (default: a new temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--slack",
        type=float,
        default=1.0,
        help="multiply the scenarios' own time bounds (a take-over, an answer) by this, on a busy machine",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        child_main(args.child, args.database, args.workdir, args.result)
        return 0
    if args.list:
        for spec in SPECS.values():
            flags = ", ".join(
                f for f in ("short" if spec.short else "", "web" if spec.web else "", spec.only or "") if f
            )
            print(f"{spec.name:<26} {spec.title}{f'  ({flags})' if flags else ''}")
        return 0
    names = args.scenario or [n for n, s in SPECS.items() if s.short or not args.short]
    if args.short and args.scenario:
        names = [n for n in names if SPECS[n].short]
    os.environ["FAULT_SUITE_SLACK"] = str(args.slack)  # the scenarios' processes read it
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cg-faults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = "sqlite" if args.database == "sqlite" else args.database
    where = "SQLite" if database == "sqlite" else "PostgreSQL"
    print(f"Fault suite: {len(names)} scenarios on {where}; logs in {workdir}", flush=True)
    results = []
    started = time.time()
    try:
        for number, name in enumerate(names, 1):
            print(f"[{number}/{len(names)}] {name}: {SPECS[name].title}", flush=True)
            # A scenario named several times runs that many times, each in a folder (and database) of its own.
            folder = workdir / (name if names.count(name) == 1 else f"{name}-{number}")
            result = run_in_child(Path(__file__).resolve(), name, database, folder)
            results.append(result)
            verdict = "clean" if clean(result) else "NOT CLEAN"
            if not result.get("applicable", True):
                verdict = "n/a"
            print(f"    -> {verdict} ({result.get('seconds', '?')} s)", flush=True)
    except KeyboardInterrupt:
        print("\nInterrupted: the table shows the scenarios that finished.", file=sys.stderr)
    report(results, where, time.time() - started)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results and all(clean(r) for r in results) else 1


def report(results: list[dict], where: str, seconds: float) -> None:
    print()
    print(f"Fault suite on {where} ({seconds:.0f} s):")
    print()
    print(table(results))
    print()
    for r in results:
        lines = ([f"error: {r['error']}"] if r.get("error") else []) + r.get("notes", [])
        lines += r.get("details", [])
        if lines:
            print(f"{r['title']}:")
            for line in lines:
                print(f"  - {line}")


if __name__ == "__main__":
    # Ctrl-C and SIGTERM stop the run and every process it started (a shell may start us ignoring SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
