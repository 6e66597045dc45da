"""A worker paused for 40 s is one incident: the webhook hears "Engine down" and its recovery, and nothing
else: not the policies that went late because of it (they are named inside the engine's alert), and not late
alerts after the worker came back and caught up.

Runs the whole product with bin/demo (simulator, worker, gunicorn, the demo strategy), adds a webhook channel
through the pages as the demo's key admin, then stops the worker's whole process group with SIGSTOP."""

import os
import re
import signal
import time

import pytest

from tests.alerts.conftest import receiver  # noqa: F401  (the webhook receiver fixture)
from tests.ops.conftest import clean_env, free_port
from tests.ops.demo_run import START_TIMEOUT, demo_running, sign_in
from tests.ops.test_engine_down_alert import _add_channel
from tests.waiting import wait_for

PAUSE_S = 40
ENGINE_DOWN_SECONDS = 10
AFTER_S = 20  # watched after the worker resumed: longer than any late policy's hold plus the group wait


@pytest.mark.timeout(START_TIMEOUT + PAUSE_S + AFTER_S + 60)
def test_pausing_the_worker_for_40_s_is_one_alert_and_one_recovery(tmp_path, receiver):  # noqa: F811
    port, sim_port = free_port(), free_port()
    env = clean_env(
        CG_VAR_DIR=str(tmp_path / "var"),
        CG_PORT=str(port),
        CG_SIM_PORT=str(sim_port),
        CG_ALERT_ENGINE_DOWN_SECONDS=str(ENGINE_DOWN_SECONDS),
    )
    with demo_running(env) as demo:
        base = f"http://127.0.0.1:{port}"
        worker_pgid = int(re.search(r"kill -STOP -- -(\d+)", demo.output.text).group(1))
        passwords = dict(
            re.findall(r"^\s+(viewer|operator|keyadmin|admin)\s+(\S+)\s", demo.output.text, re.M)
        )
        keyadmin = sign_in(base, "keyadmin", passwords["keyadmin"])
        _add_channel(base, keyadmin, receiver.url())

        def board():
            return keyadmin.get(f"{base}/status.json", timeout=10).json()

        wait_for(lambda: board()["engine"]["alive"], timeout=30, every=0.2, message="a live engine")
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
        engine_alert = receiver.messages[0]["message"]
        # Told at 10 s, before any policy was late: it names what depends on it instead.
        assert re.search(r"\d+ armed policies depend on it; the first countdown runs out at", engine_alert)
        assert all(p["status"] in ("armed", "disarmed") for p in board()["policies"])
