"""bin/demo from start to Ctrl-C: one command sets everything up, runs the simulator, the worker and the web
server, serves the board to a demo sign-in, keeps the demo countdowns armed (Binance's, OKX's and Kraken
Futures'), and stops every process."""

import json
import re

import pytest
import requests

from tests.ops.conftest import clean_env, free_port
from tests.ops.demo_run import START_TIMEOUT, demo_running, running, sign_in
from tests.waiting import wait_for


@pytest.mark.timeout(START_TIMEOUT + 90)
def test_it_runs_the_whole_product_and_stops_everything_on_ctrl_c(tmp_path):
    port, sim_port = free_port(), free_port()
    var = tmp_path / "var"
    env = clean_env(CG_VAR_DIR=str(var), CG_PORT=str(port), CG_SIM_PORT=str(sim_port))
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
        assert "OKX desk" in board.text and "Kraken Futures desk" in board.text
        assert len(viewer.get(f"{base}/status.json", timeout=10).json()["policies"]) == 16

        keys = {
            e["label"]: e["api_key"][-4:]
            for e in json.loads((var / "demo" / "simulator-accounts.json").read_text())
        }
        okx_key, kraken_key = keys["OKX desk"], keys["Kraken Futures desk"]

        # The worker's engine arms every demo countdown on the simulator, which holds the resting orders:
        # twelve futures symbols, the options desk's two underlyings with bids on their options, and the
        # switches of the OKX and Kraken Futures accounts, each covering the whole account.
        def all_armed():
            state = requests.get(f"{sim}/_sim/state", timeout=5).json()
            binance = [c for c in state["countdowns"] if c["venue"] != "kraken_futures"]
            kraken = [
                (c["api_key_last4"], c["symbol"], c["countdown_ms"])
                for c in state["countdowns"]
                if c["venue"] == "kraken_futures"
            ]
            okx = [(s["api_key_last4"], s["tag"], s["countdown_ms"]) for s in state["okx"]["switches"]]
            options = {c["underlying"] for c in state["option_countdowns"]} == {"BTCUSDT", "ETHUSDT"}
            ready = (
                len(binance) >= 12
                and options
                and kraken == [(kraken_key, "", 60_000)]
                and okx == [(okx_key, "", 60_000)]
            )
            return state if ready else None

        state = wait_for(
            all_armed, timeout=30, every=0.2, message="the sixteen demo countdowns on the simulator"
        )
        binance_orders = [o for o in state["open_orders"] if o["api_key_last4"] != kraken_key]
        assert len(binance_orders) == 28
        option_orders = [o["symbol"] for o in binance_orders if "-" in o["symbol"]]
        assert {s.split("-")[0] for s in option_orders} == {"BTC", "ETH"}
        kraken_orders = sorted(o["symbol"] for o in state["open_orders"] if o["api_key_last4"] == kraken_key)
        assert kraken_orders == ["PF_ETHUSD", "PF_XBTUSD", "PF_XBTUSD"]
        okx_orders = sorted(o["instId"] for o in state["okx"]["open_orders"] if o["api_key_last4"] == okx_key)
        assert okx_orders == ["BTC-USDT-SWAP", "BTC-USDT-SWAP", "ETH-USDT-SWAP"]
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
