"""bin/demo from start to Ctrl-C: one command sets everything up, runs the simulator, the worker and the web
server, serves the board to a demo sign-in, keeps the demo countdowns armed, and stops every process."""

import re

import pytest
import requests

from tests.ops.conftest import clean_env, free_port
from tests.ops.demo_run import START_TIMEOUT, demo_running, running, sign_in
from tests.waiting import wait_for


@pytest.mark.timeout(START_TIMEOUT + 90)
def test_it_runs_the_whole_product_and_stops_everything_on_ctrl_c(tmp_path):
    port, sim_port = free_port(), free_port()
    env = clean_env(CG_VAR_DIR=str(tmp_path / "var"), CG_PORT=str(port), CG_SIM_PORT=str(sim_port))
    with demo_running(env) as demo:
        output = demo.output
        base, sim = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
        assert f"Dashboard   {base}/" in output.text
        passwords = dict(re.findall(r"^\s+(viewer|operator|keyadmin|admin)\s+(\S+)\s", output.text, re.M))
        assert set(passwords) == {"viewer", "operator", "keyadmin", "admin"}

        viewer = sign_in(base, "viewer", passwords["viewer"])
        board = viewer.get(f"{base}/", timeout=10)
        assert board.status_code == 200
        assert "BTCUSDT" in board.text
        assert len(viewer.get(f"{base}/status.json", timeout=10).json()["policies"]) == 14

        # The worker's engine arms every demo countdown on the simulator, which holds the resting orders:
        # twelve futures symbols, and the options desk's two underlyings with bids on their options.
        def all_armed():
            state = requests.get(f"{sim}/_sim/state", timeout=5).json()
            futures = len(state["countdowns"]) >= 12
            options = {c["underlying"] for c in state["option_countdowns"]} == {"BTCUSDT", "ETHUSDT"}
            return state if futures and options else None

        state = wait_for(
            all_armed, timeout=30, every=0.2, message="the fourteen demo countdowns on the simulator"
        )
        assert len(state["open_orders"]) == 28
        option_orders = [o["symbol"] for o in state["open_orders"] if "-" in o["symbol"]]
        assert {s.split("-")[0] for s in option_orders} == {"BTC", "ETH"}
        for prefix in ("[sim] ", "[worker] ", "[web] "):
            assert any(line.startswith(prefix) for line in output.lines), prefix

        assert demo.interrupt() == 130
        wait_for(
            lambda: not [pid for pid in demo.started if running(pid)],
            timeout=2,
            message="every process gone",
        )
        output.wait_for_end(timeout=5)
        assert "Stopped." in output.text
        assert "killing them" not in output.text, "a process ignored SIGTERM"
