"""bin/strategy-ping, the demo's strategy: seed_demo writes its ping URL, the script pings it every 5 s
against a live dashboard, stops cleanly on Ctrl-C and reports a failure with --fail; the demo's banner names
the policy it holds."""

import io
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from heartbeats.desk.strategies import pings
from heartbeats.management.commands import seed_demo
from heartbeats.models import CountdownPolicy, Strategy
from heartbeats.models.strategies import HoldReason
from tests.ops.conftest import ROOT, clean_env

SCRIPT = ROOT / "bin" / "strategy-ping"


class Lines:
    """A process's output lines, read in a thread, so the test can wait for them with a deadline."""

    def __init__(self, process):
        self.process = process
        self.seen: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("not printed in time; output so far:\n" + "\n".join(self.seen))
            try:
                self.seen.append(self._queue.get(timeout=left))
            except queue.Empty:
                continue
        return self.seen


def answers(lines: list[str], word: str) -> int:
    return sum(1 for line in lines if line.split()[-1:] == [word])


@pytest.fixture
def strategy_url(live_server, tmp_path):
    """A strategy like the demo's, its ping URL in a CG_VAR_DIR of its own."""
    key = pings.new_key()
    strategy = Strategy.objects.create(
        name="demo-mm",
        grace_s=20,
        rearm_on_return=True,
        ping_key_hash=pings.digest(key),
        ping_key_hint=key[:6],
    )
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "strategy-ping-url").write_text(f"{live_server.url}/ping/{key}\n")
    return strategy, clean_env(CG_VAR_DIR=str(tmp_path))


@pytest.mark.django_db(transaction=True)
def test_it_pings_every_five_seconds_stops_on_ctrl_c_and_reports_a_failure(strategy_url):
    strategy, env = strategy_url
    process = subprocess.Popen(
        [str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = Lines(process).wait_for(lambda seen: answers(seen, "OK") >= 2, timeout=12)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in "\n".join(lines)
    strategy.refresh_from_db()
    assert strategy.ping_count >= 2 and not strategy.held_reason

    # Standard library only: it runs without any site-packages (-S), as under a system python3.
    failed = subprocess.run(
        [sys.executable, "-S", str(SCRIPT), "--fail"], env=env, capture_output=True, text=True, timeout=15
    )
    assert failed.returncode == 0, failed.stdout + failed.stderr
    assert failed.stdout.split()[-1] == "FAILED"
    strategy.refresh_from_db()
    assert strategy.held_reason == HoldReason.FAILED


def test_it_says_to_start_the_demo_when_there_is_no_ping_url(tmp_path):
    done = subprocess.run(
        [str(SCRIPT)], env=clean_env(CG_VAR_DIR=str(tmp_path)), capture_output=True, text=True, timeout=15
    )
    assert done.returncode != 0
    assert "bin/demo" in done.stderr and "strategy-ping-url" in done.stderr


@pytest.fixture
def var_dir(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        yield tmp_path


def seed(simulator, *args) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--simulator-url", simulator.url, *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_makes_the_strategy_once_holding_one_policy_with_a_private_ping_url(simulator, var_dir):
    name, label, symbol, grace_s = seed_demo.STRATEGY
    seed(simulator, "--dashboard-url", "http://127.0.0.1:8123")
    strategy = Strategy.objects.get(name=name)
    assert strategy.grace_s == grace_s and strategy.rearm_on_return
    held = CountdownPolicy.objects.get(strategy=strategy)
    assert (held.account.label, held.symbol, held.armed) == (label, symbol, True)
    path = var_dir / "demo" / "strategy-ping-url"
    url = path.read_text().strip()
    assert url.startswith("http://127.0.0.1:8123/ping/")
    assert pings.digest(url.rsplit("/", 1)[-1]) == strategy.ping_key_hash
    assert path.stat().st_mode & 0o077 == 0

    seed(simulator, "--dashboard-url", "http://127.0.0.1:8124")  # the same key, at the new port
    assert Strategy.objects.get(name=name).ping_key_hash == strategy.ping_key_hash
    assert path.read_text().strip() == url.replace(":8123/", ":8124/")

    path.unlink()
    seed(simulator)  # the file is gone: a new key, the same strategy
    renewed = Strategy.objects.get(name=name)
    assert renewed.pk == strategy.pk and renewed.ping_key_hash != strategy.ping_key_hash
    assert pings.digest(path.read_text().strip().rsplit("/", 1)[-1]) == renewed.ping_key_hash
    assert Strategy.objects.count() == 1


def test_the_demo_banner_names_the_policy_the_strategy_holds():
    name, label, symbol, grace_s = seed_demo.STRATEGY
    banner = " ".join((ROOT / "bin" / "demo").read_text().split())
    assert f"{name} holds {label} {symbol}" in banner
    assert f"{grace_s} s later" in banner and "bin/strategy-ping" in banner
    assert '--dashboard-url "http://127.0.0.1:$port"' in banner
