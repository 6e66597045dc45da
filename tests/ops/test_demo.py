"""bin/demo from start to Ctrl-C: one command sets everything up, runs the simulator, the worker and the web
server, serves the board to a demo sign-in, keeps the demo countdowns armed, and stops every process."""

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.ops.conftest import ROOT, clean_env, free_port
from tests.waiting import wait_for

START_TIMEOUT = 180  # a first run on a fresh machine still checks the virtualenv


class Output:
    """Collects a process's output lines in a thread, so the test can wait for one without blocking."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, text, timeout, process):
        """Until a line holds `text`; fails at once when the output ends or the process exits without it."""
        deadline = time.monotonic() + timeout
        printed = lambda: any(text in line for line in self.lines)  # noqa: E731
        with self._changed:
            # Woken by every line; the process is looked at every second too, as its children may keep the
            # output open after it died.
            while not printed() and not self._ended and process.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(min(left, 1.0))
            if printed():
                return
        raise AssertionError(f"{text!r} not printed; output:\n" + "\n".join(self.lines[-60:]))

    def wait_for_end(self, timeout):
        """Until the output has ended (every process writing to it gone) and every line is read."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the output did not end:\n" + "\n".join(self.lines[-60:])

    @property
    def text(self):
        return "\n".join(self.lines)


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def sign_in(base, username, password) -> requests.Session:
    session = requests.Session()
    login = session.get(f"{base}/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    response = session.post(
        f"{base}/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        headers={"Referer": f"{base}/login/"},
        timeout=10,
    )
    assert response.url.rstrip("/") == base, f"sign-in as {username} failed"
    return session


@pytest.mark.timeout(START_TIMEOUT + 90)
def test_it_runs_the_whole_product_and_stops_everything_on_ctrl_c(tmp_path):
    port, sim_port = free_port(), free_port()
    env = clean_env(CG_VAR_DIR=str(tmp_path / "var"), CG_PORT=str(port), CG_SIM_PORT=str(sim_port))
    demo = subprocess.Popen(
        [str(ROOT / "bin" / "demo")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(demo.stdout)
    started = set()
    try:
        output.wait_for("Press Ctrl-C to stop everything", START_TIMEOUT, demo)
        started = descendants(demo.pid)
        base, sim = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
        assert f"Dashboard   {base}/" in output.text
        passwords = dict(re.findall(r"^\s+(viewer|operator|keyadmin|admin)\s+(\S+)\s", output.text, re.M))
        assert set(passwords) == {"viewer", "operator", "keyadmin", "admin"}

        viewer = sign_in(base, "viewer", passwords["viewer"])
        board = viewer.get(f"{base}/", timeout=10)
        assert board.status_code == 200
        assert "BTCUSDT" in board.text
        assert len(viewer.get(f"{base}/status.json", timeout=10).json()["policies"]) == 12

        # The worker's engine arms every demo countdown on the simulator, which holds the resting orders.
        def all_armed():
            state = requests.get(f"{sim}/_sim/state", timeout=5).json()
            return state if len(state["countdowns"]) >= 12 else None

        state = wait_for(
            all_armed, timeout=30, every=0.2, message="the twelve demo countdowns on the simulator"
        )
        assert len(state["open_orders"]) == 24
        for prefix in ("[sim] ", "[worker] ", "[web] "):
            assert any(line.startswith(prefix) for line in output.lines), prefix

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 130
        wait_for(
            lambda: not [pid for pid in started if running(pid)], timeout=2, message="every process gone"
        )
        output.wait_for_end(timeout=5)
        assert "Stopped." in output.text
        assert "killing them" not in output.text, "a process ignored SIGTERM"
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=30)
        for pid in started:
            if running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
