"""bin/demo run by a test as a person runs it: started with a chosen environment, its output collected as it
comes, signed in to over HTTP, and stopped with every process it started gone, whatever the test did."""

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.ops.conftest import ROOT

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


@dataclass
class Demo:
    process: subprocess.Popen
    output: Output
    started: set[int] = field(default_factory=set)  # every process it had started once it was up

    def interrupt(self) -> int:
        """Ctrl-C, as a person stops it: its exit status once it has stopped."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


@contextlib.contextmanager
def demo_running(env):
    """bin/demo with `env`, up (its banner printed) when this yields; on the way out stopped with SIGTERM if
    it still runs, and every process it started killed should one outlive it."""
    process = subprocess.Popen(
        [str(ROOT / "bin" / "demo")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    demo = Demo(process, Output(process.stdout))
    try:
        demo.output.wait_for("Press Ctrl-C to stop everything", START_TIMEOUT, process)
        demo.started = descendants(process.pid)
        yield demo
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        for pid in demo.started:
            if running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
