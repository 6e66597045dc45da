"""The real processes of one scenario: the simulator and the worker through the benchmark's own helpers
(bench/engine_benchmark.py: SimulatorProcess, Cluster), the web (gunicorn) here, and the signals the
scenarios send them. Every process is started in a session of its own and stopped by its process group.

Nothing here signals a process this suite did not start: pids read from the database (the engine liveness
table) are checked to belong to the worker's process group first.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import engine_benchmark  # noqa: E402  (bench/ is not a package)

HMAC_SECRET = engine_benchmark.HMAC_SECRET  # the key material SimulatorProcess.add_account registers


def process_group(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[2])


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


class Simulator(engine_benchmark.SimulatorProcess):
    """The benchmark's simulator process (`python -m simulator --port 0`), no injected latency."""

    def __init__(self, log: Path):
        super().__init__(0, 0, log)

    def stop(self) -> None:
        signal_group(self.proc.pid, signal.SIGCONT)
        try:
            super().stop()
        except subprocess.TimeoutExpired:
            signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class Worker(engine_benchmark.Cluster):
    """`manage.py qcluster` serving the default egress from the default source address."""

    def __init__(self, env: dict, log: Path):
        super().__init__(env, "default", "", log)

    @property
    def pgid(self) -> int:
        return self.proc.pid

    def owns(self, pid: int) -> bool:
        return pid != self.proc.pid and process_group(pid) == self.pgid

    def pause(self) -> None:
        """SIGSTOP to every process of the cluster: no engine, active or standby, is left."""
        signal_group(self.pgid, signal.SIGSTOP)

    def resume(self) -> None:
        signal_group(self.pgid, signal.SIGCONT)

    def stop(self) -> None:
        """As its systemd unit stops it (deploy/stop-worker, as bin/demo does): every process stops its duties
        at once, the engine handing its lease over, and the cluster ends without first sleeping out its task
        pusher's poll (Q_CLUSTER["poll"], 5 s), which SIGINT to the whole group made it do."""
        self.resume()  # a stopped process cannot act on a signal
        stopper = subprocess.Popen([str(ROOT / "deploy" / "stop-worker"), str(self.proc.pid)])
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        if self.proc.poll() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                stopper.wait(timeout=5)
        if stopper.poll() is None:  # a cluster that lost a process to SIGKILL may never stop by itself
            stopper.kill()
            stopper.wait()
        signal_group(self.pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()


class Web:
    """gunicorn with deploy/gunicorn.conf.py on a free loopback port, one worker process (so the scenarios
    know which process served a request)."""

    def __init__(self, env: dict, port: int, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, **env, "CG_BIND": f"127.0.0.1:{port}", "CG_WEB_WORKERS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start-up; see {log}")
            try:
                requests.get(f"{self.url}/login/", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 60 s; see {log}")

    def workers(self) -> list[int]:
        return children(self.proc.pid)

    def signal_workers(self, signum: int) -> list[int]:
        """Signal the worker processes (never the master, which then starts new ones)."""
        pids = self.workers()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        return pids

    def wait_new_worker(self, old: list[int], timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(self.workers()) - set(old):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        signal_group(self.proc.pid, signal.SIGCONT)
        signal_group(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        signal_group(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()


class Session:
    """A signed-in browser: CSRF tokens read from the forms, as a person's browser would post them."""

    TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

    def __init__(self, base: str, username: str, password: str):
        self.base = base
        self.http = requests.Session()
        page = self.get("/login/")
        reply = self.http.post(
            f"{base}/login/",
            data={"csrfmiddlewaretoken": self.token(page), "username": username, "password": password},
            headers={"Referer": f"{base}/login/"},
            timeout=30,
            allow_redirects=False,
        )
        if reply.status_code != 302:
            raise RuntimeError(f"sign-in as {username} failed (HTTP {reply.status_code})")

    def get(self, path: str) -> str:
        reply = self.http.get(f"{self.base}{path}", timeout=30)
        reply.raise_for_status()
        return reply.text

    def token(self, html: str) -> str:
        match = self.TOKEN.search(html)
        if not match:
            raise RuntimeError("no CSRF token in the page")
        return match.group(1)

    def post(self, path: str, data: dict, token: str | None = None, timeout: float = 60) -> requests.Response:
        """POST a form (a CSRF token read from the page at `path` unless given); redirects not followed."""
        token = token or self.token(self.get(path))
        return self.http.post(
            f"{self.base}{path}",
            data={"csrfmiddlewaretoken": token, **data},
            headers={"Referer": f"{self.base}{path}"},
            timeout=timeout,
            allow_redirects=False,
        )
