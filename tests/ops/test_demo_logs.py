"""No secret in any log line at any level: the whole demo (simulator, worker, web with its access log) runs at
DEBUG, is pinged, scraped with a token in the query string and called through the API, and every line it
printed is searched for the ping key, the tokens, the exchange keys, the passwords and the server's keys."""

import json
import re
import subprocess
import sys
import time

import requests

from tests.ops.conftest import ROOT, clean_env, free_port
from tests.ops.demo_run import demo_running, sign_in

METRICS_TOKEN = "metricsTokenForTheLogTest0123456789"


def _issue_api_token(env) -> str:
    script = (
        "from heartbeats.models import ApiToken\n"
        "print(ApiToken.issue(name='log probe', role='viewer', allowed_addresses=[], created_by=None)[1])"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**env, "CG_DEV": "1", "CG_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _secrets(var) -> dict[str, str]:
    demo = var / "demo"
    found = {
        "ping key": (demo / "strategy-ping-url").read_text().strip().rsplit("/ping/", 1)[1],
        "secret key": (var / "secret.key").read_text().strip(),
        "encryption key": (var / "encryption.key").read_text().strip(),
    }
    for user, password in json.loads((demo / "passwords.json").read_text()).items():
        found[f"password of {user}"] = password
    for entry in json.loads((demo / "simulator-accounts.json").read_text()):
        found[f"API key of {entry['label']}"] = entry["api_key"]
        material = entry.get("secret") or entry.get("private_key")
        # A PEM's body lines: any one of them printed would be a leak.
        lines = [line for line in material.splitlines() if line and not line.startswith("-----")]
        for n, line in enumerate(lines or [material]):
            found[f"key material of {entry['label']} ({n})"] = line
        if entry.get("passphrase"):
            found[f"passphrase of {entry['label']}"] = entry["passphrase"]
    return found


def test_a_demo_run_at_debug_logs_no_secret(tmp_path):
    port, sim_port = free_port(), free_port()
    var = tmp_path / "var"
    env = clean_env(
        CG_VAR_DIR=str(var),
        CG_PORT=str(port),
        CG_SIM_PORT=str(sim_port),
        CG_LOG_LEVEL="DEBUG",
        CG_ACCESS_LOG="-",
        CG_METRICS_TOKEN=METRICS_TOKEN,
    )
    with demo_running(env) as demo:
        output = demo.output
        base = f"http://127.0.0.1:{port}"
        secrets = _secrets(var)
        # Every venue's key material is looked for: OKX's passphrase and Kraken Futures' base64 secret too.
        assert {"passphrase of OKX desk", "key material of Kraken Futures desk (0)"} <= set(secrets)
        api_token = _issue_api_token(env)
        secrets["API token"] = api_token
        secrets["metrics token"] = METRICS_TOKEN

        ping_url = (var / "demo" / "strategy-ping-url").read_text().strip()
        for method in (requests.get, requests.post):
            assert method(ping_url, timeout=10).text.strip() in ("OK", "HELD", "RESUMED")
        assert requests.get(f"{base}/ping/NoSuchKeyButLongEnough123", timeout=10).status_code == 404
        # A token in a query string is not how either is sent, but someone will try: logged, never in clear.
        requests.get(f"{base}/metrics", params={"token": METRICS_TOKEN}, timeout=10)
        scrape = requests.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
        )
        assert scrape.status_code == 200
        assert (
            requests.get(f"{base}/api/v1/status", params={"token": api_token}, timeout=10).status_code == 401
        )
        status = requests.get(
            f"{base}/api/v1/status", headers={"Authorization": f"Bearer {api_token}"}, timeout=10
        )
        assert status.status_code == 200
        passwords = json.loads((var / "demo" / "passwords.json").read_text())
        viewer = sign_in(base, "viewer", passwords["viewer"])
        assert viewer.get(f"{base}/strategies/", timeout=10).status_code == 200
        time.sleep(3)  # a few heartbeats and pings at DEBUG

        assert demo.interrupt() == 130

    logged = [line for line in output.lines if line.startswith(("[sim] ", "[worker] ", "[web] "))]
    leaks = [
        f"{what}: {line}" for line in logged for what, secret in secrets.items() if secret and secret in line
    ]
    assert leaks == [], "\n".join(leaks[:20])
    # The run really was at DEBUG and logged the requests that carry secrets.
    assert any("DEBUG" in line for line in logged if line.startswith("[worker] "))
    assert any(re.search(r"\[DEBUG\] (GET|POST) /ping/<redacted>", line) for line in logged)
    assert any("/metrics?token=<redacted>" in line for line in logged)
    assert any("/api/v1/status?token=<redacted>" in line for line in logged)
