"""Runs scenarios, each in a process of its own (its own Django set-up, database, simulator, worker and web),
and prints the table.

The parent never imports Django: it starts `fault_suite.py --child NAME ...` for each scenario, waits for it
(bounded), and reads its result. The child cleans up everything it started, also on Ctrl-C or SIGTERM.
"""

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from faults.catalog import SPECS
from faults.database import Database
from faults.world import World, log

CHILD_LIMIT = 240  # seconds a scenario may take on top of its own recovery and settling bounds


def setup_django(var_dir: Path, database_url: str, extra: dict) -> dict:
    """Django for this process on the scenario's database (migrated here), and the environment the worker
    and the web get, whose logs go to files in the scenario's folder."""
    from engine_benchmark import setup_django as setup

    env = setup(
        var_dir,
        database_url,
        PGAPPNAME="cg-fault-suite",
        **extra,
    )
    env["CG_LOG_LEVEL"] = "INFO"
    return env


def watch(world: World) -> tuple[float | None, list[str]]:
    """From the end of the fault: the time until every policy's simulator state matched its desired state for
    good (None if it did not by the end), and what was still wrong at the end. Keeps watching for at least
    `settle` seconds, so a later relapse (a re-arm after an engine hand-over) is caught."""
    from faults.truth import mismatches

    spec = world.spec
    start = world.fault_ended_at
    matched_at = None
    wrong: list[str] = []
    while True:
        now = time.time()
        try:
            wrong = mismatches(world.state(), world.policies, world.intents)
        except Exception as exc:  # noqa: BLE001 - the simulator is ours; report rather than crash
            wrong = [f"simulator unreadable: {exc}"]
        if wrong:
            matched_at = None
        elif matched_at is None:
            matched_at = now
        if now >= start + spec.settle:
            if matched_at is not None and now - matched_at >= 1.0:
                break
            if now >= start + spec.settle + spec.recover_limit:
                break
        time.sleep(0.3)
    return (None if matched_at is None else max(0.0, matched_at - start)), wrong


def run_scenario(name: str, database: str, folder: Path) -> dict:
    from faults.truth import judge

    spec = SPECS[name]
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result = {"name": name, "title": spec.title, "applicable": True, "notes": [], "details": []}
    db = Database.create(database, folder, f"{name}_{os.getpid()}")
    if spec.only and spec.only != db.vendor:
        db.drop()
        return {**result, "applicable": False, "notes": [f"{spec.only} only"]}
    world = None
    try:
        env = setup_django(folder / "var", db.url, spec.env)
        world = World(spec, folder, env, db)
        world.start_simulator()
        world.populate()
        world.start_worker()
        if spec.web:
            world.start_web()
        world.arm()
        if not world.wait_armed(world.policies, 30):
            raise RuntimeError("the policies were not armed on the simulator before the fault")
        log(f"{len(world.policies)} policies armed; fault")
        world.began_at = time.time()
        try:
            spec.run(world)
        except Exception:
            result["error"] = traceback.format_exc(limit=3).strip().splitlines()[-1]
            log(traceback.format_exc())
        finally:
            if world.worker is not None:
                world.worker.resume()
        if world.fault_ended_at is None:
            world.fault_over()
        recover, wrong = watch(world)
        state, requests = world.state(), world.requests()
        (folder / "ground-truth.json").write_text(json.dumps({"state": state, "requests": requests}))
        verdict = judge(world.policies, world.intents, state, requests, world.began_at)
        result.update(
            missed=verdict.missed,
            rearms=verdict.rearms,
            rearm_requests=verdict.rearm_requests,
            unexpected=verdict.unexpected,
            recover_s=recover,
            zero_latency_s=verdict.zero_latency,
            never_zeroed=verdict.never_zeroed,
            rate_limited=verdict.rate_limited,
            details=verdict.details + [f"at the end: {w}" for w in wrong],
        )
    except Exception:
        result["error"] = traceback.format_exc(limit=3).strip().splitlines()[-1]
        log(traceback.format_exc())
    finally:
        if world is not None:
            result["notes"] = world.notes
            world.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may not even be set up
            pass
        db.drop()
    result["seconds"] = round(time.time() - started, 1)
    return result


def child_main(name: str, database: str, folder: Path, out: Path) -> None:
    def interrupted(signum, frame):
        # Once: a second Ctrl-C (the parent passes one on) must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    result = run_scenario(name, database, folder)
    out.write_text(json.dumps(result, indent=2))


def run_in_child(script: Path, name: str, database: str, folder: Path) -> dict:
    spec = SPECS[name]
    out = folder / "result.json"
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(script), "--child", name, "--database", database]
    command += ["--workdir", str(folder), "--result", str(out)]
    child = subprocess.Popen(command)
    limit = CHILD_LIMIT + spec.recover_limit + spec.settle
    try:
        child.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        log(f"{name}: no result within {limit:g} s; stopping it")
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)  # it got its own Ctrl-C too when run from a terminal
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
        raise
    if out.exists():
        return json.loads(out.read_text())
    return {"name": name, "title": spec.title, "applicable": True, "error": "no result", "notes": []}


# ---- the table --------------------------------------------------------------------------------------------

COLUMNS = [
    "scenario",
    "missed countdowns",
    "re-arms after a disarm",
    "unexpected cancellations",
    "time to recover (s)",
    "disarm → first `0` (max s)",
    "429/418",
]


def cells(r: dict) -> list[str]:
    if not r.get("applicable", True):
        return [r["title"]] + ["n/a"] * (len(COLUMNS) - 1)
    if "missed" not in r:
        return [r["title"]] + ["error"] * (len(COLUMNS) - 1)
    recover = "not recovered" if r["recover_s"] is None else f"{r['recover_s']:.1f}"
    zero = "—" if r["zero_latency_s"] is None else f"{r['zero_latency_s']:.1f}"
    if r.get("never_zeroed"):
        zero = f"never ({r['never_zeroed']})" + ("" if r["zero_latency_s"] is None else f", {zero}")
    return [
        r["title"],
        str(r["missed"]),
        str(r["rearms"]),
        str(r["unexpected"]),
        recover,
        zero,
        str(r["rate_limited"]),
    ]


def table(results: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join(["---"] * len(COLUMNS)) + " |"]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in results]
    return "\n".join(lines)


def clean(r: dict) -> bool:
    """Zeros everywhere (not applicable counts as clean; an error does not)."""
    if not r.get("applicable", True):
        return True
    return (
        "missed" in r
        and not r.get("error")
        and r["missed"] == r["rearms"] == r["unexpected"] == r["rate_limited"] == r["never_zeroed"] == 0
        and r["recover_s"] is not None
    )
