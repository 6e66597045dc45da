"""The simulator starts with one command, prints its URL, loads accounts from a file and stops cleanly."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .conftest import KEYS, Trader

ROOT = Path(__file__).resolve().parents[2]


class _Remote:
    """Enough of a Simulator for Trader: a URL and an exchange it doesn't need."""

    def __init__(self, url):
        self.url = url


def _start(args, tmp_path):
    accounts = [
        {"api_key": "hmac-key-0001", "key_type": "hmac", "secret": KEYS["hmac"]},
        {"api_key": "ed-key-0002", "key_type": "ed25519", "private_key": KEYS["ed25519"]},
    ]
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(accounts))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*args, "--host", "127.0.0.1", "--port", "0", "--weight-limit", "500", "--accounts", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    return proc, line


def test_it_runs_from_the_command_line_and_stops_on_sigterm(tmp_path):
    proc, line = _start([sys.executable, "-m", "simulator"], tmp_path)
    try:
        assert "http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("http://", 1)[1].split()[0]
        remote = _Remote(f"http://{url}")
        info = requests.get(f"{remote.url}/fapi/v1/exchangeInfo", timeout=5).json()
        assert info["rateLimits"][0]["limit"] == 500
        for key_type, api_key in (("hmac", "hmac-key-0001"), ("ed25519", "ed-key-0002")):
            trader = Trader(remote, key_type, api_key=api_key)
            assert trader.countdown("BTCUSDT", 60000).status_code == 200

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert time.monotonic() - started < 3
        assert proc.stderr.read() == ""  # quiet: no request lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_it_imports_without_django():
    code = (
        "import sys, simulator, simulator.cli; "
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_accounts_file_takes_okx_and_kraken_futures_keys_as_the_control_api_does(tmp_path):
    from simulator import Simulator
    from simulator.cli import load_accounts

    kraken_secret = base64.b64encode(b"k" * 64).decode()
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps(
            [
                {"api_key": "hmac-key-0001", "key_type": "hmac", "secret": KEYS["hmac"]},
                {"venue": "okx", "api_key": "okx-key", "key_type": "hmac", "secret": "s", "passphrase": "p"},
                {
                    "venue": "kraken_futures",
                    "api_key": "kraken-key",
                    "key_type": "hmac",
                    "secret": kraken_secret,
                },
            ]
        )
    )
    sim = Simulator(host="127.0.0.1", port=0)
    assert load_accounts(sim, path) == 3
    assert sim.exchange.account("hmac-key-0001") is not None
    assert sim.exchange.okx.account("okx-key").passphrase == "p"
    assert sim.exchange.account("kraken-key") is not None
    assert sim.exchange.okx.account("kraken-key") is None

    path.write_text(json.dumps([{"venue": "okx", "api_key": "okx-key", "secret": "s"}]))
    with pytest.raises(ValueError, match="account #0: an OKX key needs api_key, secret and passphrase"):
        load_accounts(sim, path)
