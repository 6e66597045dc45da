"""The worker, stopped and then killed, as one engine incident at a time, told by the web.

Runs the whole product with bin/demo (simulator, worker, gunicorn, the demo strategy), adds a webhook channel
through the pages as the demo's key admin, then:
1. stops the worker's whole process group with SIGSTOP for 40 s: the webhook hears "Engine down" and its
   recovery, and nothing else: not the policies that went late because of it (the engine's alert names what
   depends on it; late ones are listed inside it, never told on their own), and not late alerts after the
   worker came back and caught up;
2. kills it with SIGKILL: with no engine and no worker left to say so, the web process takes the alerting
   duty over and sends the engine-down alert itself, within CG_ALERT_ENGINE_DOWN_SECONDS (plus the duty's
   hand-over).
"""

import contextlib
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest
import requests

from heartbeats.desk.alerts.runner import EVALUATE_EVERY
from tests.alerts.conftest import receiver  # noqa: F401  (the webhook receiver fixture)
from tests.ops.conftest import clean_env, free_port
from tests.ops.demo_run import START_TIMEOUT, demo_running, descendants, running, sign_in
from tests.waiting import wait_for

ENGINE_DOWN_SECONDS = 10
TOKEN = "0psT0kenNeverShown77"
PAUSE_S = 40
AFTER_S = 20  # watched after the worker resumed: longer than a late policy's own hold plus the group wait


def _group(pgid: int) -> set[int]:
    """Every live process in process group `pgid`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            found.add(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _query(db: Path, sql: str, *params):
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        return conn.execute(sql, params).fetchall()


def _add_channel(base: str, session: requests.Session, url: str) -> None:
    form = session.get(f"{base}/alerts/channels/new/", timeout=10)
    assert form.status_code == 200, form.status_code
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    saved = session.post(
        f"{base}/alerts/channels/new/",
        data={
            "csrfmiddlewaretoken": csrf,
            "name": "ops webhook",
            "new_url": url,
            "enabled": "on",
            "repeat_minutes": "30",
        },
        headers={"Referer": f"{base}/alerts/channels/new/"},
        timeout=10,
    )
    assert saved.url == f"{base}/alerts/", saved.text[-2000:]
    assert "ops webhook" in saved.text
    assert TOKEN not in saved.text


@pytest.mark.timeout(START_TIMEOUT + PAUSE_S + AFTER_S + 120)
def test_a_stopped_worker_is_one_alert_and_a_killed_one_is_told_by_the_web(tmp_path, receiver):  # noqa: F811
    port, sim_port = free_port(), free_port()
    var = tmp_path / "var"
    env = clean_env(
        CG_VAR_DIR=str(var),
        CG_PORT=str(port),
        CG_SIM_PORT=str(sim_port),
        CG_ALERT_ENGINE_DOWN_SECONDS=str(ENGINE_DOWN_SECONDS),
    )
    with demo_running(env) as demo:
        output = demo.output
        base = f"http://127.0.0.1:{port}"
        db = var / "db.sqlite3"
        worker_pgid = int(re.search(r"kill -STOP -- -(\d+)", output.text).group(1))
        passwords = dict(re.findall(r"^\s+(viewer|operator|keyadmin|admin)\s+(\S+)\s", output.text, re.M))

        keyadmin = sign_in(base, "keyadmin", passwords["keyadmin"])
        _add_channel(base, keyadmin, receiver.url(token=TOKEN))
        # The engine runs and no engine-down condition is open before the kill.
        wait_for(
            lambda: keyadmin.get(f"{base}/status.json", timeout=10).json()["engine"]["alive"],
            timeout=30,
            every=0.2,
            message="a live engine",
        )
        assert not [t for t in receiver.titles() if t.startswith("Engine down")]
        # The web's alerting may have looked before the worker's first shift began ("no engine has ever
        # run"); once it has looked with the engine alive, no engine-down condition is open, and the one the
        # kill opens starts from the engine's last sign of life.
        wait_for(
            lambda: (
                not _query(
                    db, "SELECT id FROM heartbeats_alertcondition WHERE event = 'engine_down' AND active"
                )
            ),
            timeout=EVALUATE_EVERY + 10,
            every=0.2,
            message="the alerting to see the engine alive",
        )

        _pause_the_worker(base, keyadmin, worker_pgid, receiver)
        receiver.messages.clear()

        # Alerting runs (in the worker or the web, whichever took the duty first) before the kill.
        before = wait_for(
            lambda: _query(db, "SELECT holder FROM heartbeats_duty WHERE name = 'alerts' AND holder != ''"),
            timeout=15,
            every=0.2,
            message="a process holding the alerting duty",
        )
        print(f"alerting duty before the kill: {before[0][0]}")
        worker = _group(worker_pgid)
        assert worker_pgid in worker and "qcluster" in _cmdline(worker_pgid), _cmdline(worker_pgid)
        os.killpg(worker_pgid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(
            lambda: not [p for p in worker if running(p)], timeout=5, message="the worker's processes to die"
        )

        limit = ENGINE_DOWN_SECONDS + 15
        with receiver.arrived:
            got = receiver.arrived.wait_for(
                lambda: any(t.startswith("Engine down") for t in receiver.titles()),
                timeout=limit,
            )
        delay = time.monotonic() - killed
        print(f"engine-down alert received {delay:.1f} s after the worker was killed")
        assert got, f"no engine-down alert within {limit} s; received {receiver.titles()}"
        alert = next(m for m in receiver.messages if m["title"].startswith("Engine down"))
        assert alert["title"] == "Engine down"
        assert alert["type"] == "failure"
        assert "No engine has been alive since" in alert["message"]
        # Not before the set time, give or take the engine's last liveness write (each second) before it.
        assert ENGINE_DOWN_SECONDS - 2 <= delay <= limit

        # Sent by the web: the process holding the alerting duty is a gunicorn worker of this demo.
        ((holder,),) = _query(db, "SELECT holder FROM heartbeats_duty WHERE name = 'alerts'")
        role, host, pid, token = holder.split(":")
        assert role == "web", holder
        pid = int(pid)
        print(f"alerting duty after the kill: {holder}; worker pids were {sorted(worker)}")
        assert pid not in worker, (holder, worker)
        assert pid in descendants(demo.process.pid) and running(pid), holder
        assert "gunicorn" in _cmdline(pid), _cmdline(pid)
        # Marked sent once the webhook's answer is in, a moment after the message arrived.
        notes = "SELECT kind, status, channel_name FROM heartbeats_notification WHERE title = 'Engine down'"
        wait_for(
            lambda: ("alert", "sent", "ops webhook") in _query(db, notes),
            timeout=10,
            every=0.2,
            message="the alert recorded as sent",
        )
        assert TOKEN not in keyadmin.get(f"{base}/alerts/", timeout=10).text

        assert demo.interrupt() == 130
        wait_for(lambda: not [p for p in demo.started if running(p)], timeout=2, message="every process gone")
        output.wait_for_end(timeout=5)
        assert "Stopped." in output.text
        assert "The worker exited" in output.text


def _pause_the_worker(base, session, worker_pgid, receiver) -> None:  # noqa: F811
    """SIGSTOP for PAUSE_S, then SIGCONT: one incident, two messages."""

    def board():
        return session.get(f"{base}/status.json", timeout=10).json()

    # Every armed policy beaten on time before the pause: what goes late is the pause's doing.
    wait_for(
        lambda: all(p["status"] in ("armed", "disarmed") for p in board()["policies"]),
        timeout=40,
        every=0.5,
        message="every demo policy on time",
    )
    receiver.messages.clear()
    os.killpg(worker_pgid, signal.SIGSTOP)
    paused = time.monotonic()
    try:
        late = wait_for(
            lambda: [p for p in board()["policies"] if p["status"] == "late"],
            timeout=PAUSE_S,
            every=0.5,
            message="policies going late while the worker is stopped",
        )
        print(f"late during the pause: {len(late)} policies")
        # The rest of the pause: the scenario under test, not a wait for something.
        time.sleep(max(0.0, PAUSE_S - (time.monotonic() - paused)))
    finally:
        os.killpg(worker_pgid, signal.SIGCONT)
    resumed = time.monotonic()
    wait_for(
        lambda: any(t.startswith("Recovered: Engine down") for t in receiver.titles()),
        timeout=30,
        every=0.2,
        message=f"the engine's recovery; heard {receiver.titles()}",
    )
    # Listening for the late alerts that must not come.
    time.sleep(max(0.0, AFTER_S - (time.monotonic() - resumed)))
    titles = receiver.titles()
    print(f"messages for one {PAUSE_S}-s pause: {titles}")
    assert titles == ["Engine down", "Recovered: Engine down"], titles
    # Told at ENGINE_DOWN_SECONDS, before any policy was late: it names what depends on it.
    assert re.search(
        r"\d+ armed policies depend on it; the first countdown runs out at", receiver.messages[0]["message"]
    )
    assert all(p["status"] in ("armed", "disarmed") for p in board()["policies"])
