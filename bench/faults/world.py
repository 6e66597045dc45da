"""One scenario's world: its database, simulator, worker and (when needed) web; its accounts, policies and
resting orders; and what the scenario does through them, recorded as intent for the verdict.

People act as they do in production: arm and disarm through heartbeats.desk.actions (what the board's buttons
call) or through the web as signed-in users (Disarm all, the admin's forms).
"""

import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from faults.processes import HMAC_SECRET, Session, Simulator, Web, Worker
from faults.truth import (
    ACCOUNT_VENUES,
    CONFIG_PATHS,
    KRAKEN,
    OKX,
    OPTIONS,
    SWITCH_PATHS,
    Intents,
    Policy,
    running,
    scope,
)

ORDERS_PER_POLICY = 2
PASSWORD = "fault-suite-password-1"  # noqa: S105 - throwaway users in a throwaway database


@dataclass
class Spec:
    """A scenario and the set-up it needs."""

    name: str
    title: str
    run: object  # run(world) -> None
    short: bool = False
    web: bool = False
    only: str | None = None  # "sqlite" or "postgresql": not applicable elsewhere
    # Every account's venue: "usdm" (a switch per symbol), "options" (a switch per underlying, configured
    # once and renewed by one heartbeat per account; at most 3 policies an account, one per underlying), or
    # "okx" / "kraken_futures" (one switch per account, symbol "": as many accounts as policies).
    venue: str = "usdm"
    policies: int = 6
    accounts: int = 2
    interval_s: int = 2
    countdown_ms: int = 9000
    env: dict = field(default_factory=dict)  # extra environment of the worker and the web
    limits: dict = field(default_factory=dict)  # POST /_sim/limits before anything starts
    recover_limit: float = 30.0  # how long to wait for the state to match after the fault
    settle: float = 4.0  # how long to keep watching once it does


def free_port() -> int:
    """A free loopback port for the web, from below the kernel's ephemeral range when there is room: no
    outgoing connection or bind to port 0 (of this suite, or of tests running beside it) takes it before the
    web binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    for _ in range(200 if low > 12_000 else 0):
        port = random.SystemRandom().randrange(10_000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"    {time.strftime('%H:%M:%S')} {message}", flush=True)


class World:
    def __init__(self, spec: Spec, folder: Path, env: dict, database):
        self.spec = spec
        self.folder = folder
        self.env = env
        self.db = database
        self.intents = Intents()
        self.notes: list[str] = []
        self.policies: list[Policy] = []
        self.accounts = []
        self.sim: Simulator | None = None
        self.worker: Worker | None = None
        self.standby: Worker | None = None  # a second worker (another host with the same address)
        self.web: Web | None = None
        self.operator: Session | None = None
        self.keyadmin: Session | None = None
        self.began_at = time.time()
        self.fault_ended_at: float | None = None
        self._board_stop = threading.Event()
        self._log_cursor = 0
        self._seen: set[int] = set()
        self._accepted: dict[tuple[str, str], list[dict]] = {}

    @property
    def venue(self) -> str:
        return self.spec.venue

    @property
    def config_path(self) -> str:
        """The path that arms a switch of the scenario's venue (and turns it off with `0`)."""
        return CONFIG_PATHS[self.venue]

    @property
    def switch_paths(self) -> tuple[str, ...]:
        """Every path that arms or renews a switch of the scenario's venue (options: configuration and
        heartbeat)."""
        return SWITCH_PATHS[self.venue]

    # ---- set-up -----------------------------------------------------------------------------------------

    def start_simulator(self) -> None:
        self.sim = Simulator(self.folder / "simulator.log")
        if self.spec.limits:
            self.sim.control("POST", "limits", **self.spec.limits)

    def populate(self) -> None:
        """Accounts (HMAC keys registered on the simulator), policies (created disarmed), users, and two
        resting orders per policy for the countdowns to protect."""
        import secrets

        from django.contrib.auth import get_user_model

        from heartbeats.domain import roles
        from heartbeats.models import CountdownPolicy, ExchangeAccount

        symbols, resting = self._switches()
        per_account = -(-self.spec.policies // self.spec.accounts)
        if per_account > len(symbols):
            raise SystemExit(f"{self.spec.name}: at most {len(symbols)} policies per account")
        last4s = set()
        for a in range(self.spec.accounts):
            api_key = secrets.token_hex(32)
            while api_key[-4:] in last4s:
                api_key = secrets.token_hex(32)
            last4s.add(api_key[-4:])
            secret, passphrase = self._register(api_key)
            account = ExchangeAccount.objects.create(
                label=f"Fault desk {a + 1}",
                venue=self.venue,
                environment="custom",
                custom_base_url=self.sim.url,
                key_type="hmac",
                api_key=api_key,
                secret=secret,
                key_passphrase=passphrase,
            )
            self.accounts.append(account)
            count = min(per_account, self.spec.policies - a * per_account)
            for symbol in symbols[:count]:
                row = CountdownPolicy.objects.create(
                    account=account,
                    symbol=symbol,
                    interval_s=self.spec.interval_s,
                    countdown_ms=self.spec.countdown_ms,
                )
                self.policies.append(
                    Policy(row.pk, account.pk, api_key, symbol, row.countdown_ms, row.interval_s, self.venue)
                )
                for market, side, price in resting(symbol):
                    if self.venue == OKX:
                        order = {"venue": OKX, "instId": market, "side": side, "px": price}
                    else:
                        order = {"symbol": market, "side": side, "price": price}
                    self.sim.control("POST", "orders", api_key=api_key, **order)
        users = get_user_model().objects
        roles.grant(users.create_user("operator", password=PASSWORD), roles.OPERATOR)
        roles.grant(users.create_user("keyadmin", password=PASSWORD), roles.KEY_ADMIN)

    def _register(self, api_key: str) -> tuple[str, str]:
        """The key on the simulator, for the scenario's venue; its (secret, passphrase) for the account."""
        import base64
        import secrets

        if self.venue == OKX:
            secret, passphrase = secrets.token_hex(16), "Fault-desk-1"
            self.sim.control(
                "POST", "accounts", venue=OKX, api_key=api_key, secret=secret, passphrase=passphrase
            )
            return secret, passphrase
        if self.venue == KRAKEN:
            secret = base64.b64encode(secrets.token_bytes(64)).decode()
            self.sim.control("POST", "accounts", venue=KRAKEN, api_key=api_key, secret=secret)
            return secret, ""
        self.sim.control(
            "POST", "accounts", api_key=api_key, key_type="hmac", secret=HMAC_SECRET, options=True
        )
        return HMAC_SECRET, ""

    def _switches(self):
        """What the venue's switches cover (futures: USDT perpetuals; options: underlyings; OKX and Kraken
        Futures: the whole account, ""), and per switch the resting orders it protects as (symbol, side,
        price): ORDERS_PER_POLICY of them, half bids far below the market, half asks far above it (options:
        on the underlying's options, one each; OKX and Kraken: on two of the venue's perpetuals)."""
        half = ORDERS_PER_POLICY // 2
        if self.venue in ACCOUNT_VENUES:
            bid, ask = ("BTC-USDT-SWAP", "ETH-USDT-SWAP") if self.venue == OKX else ("PF_XBTUSD", "PF_ETHUSD")
            buy, sell = ("buy", "sell") if self.venue == OKX else ("BUY", "SELL")
            return [""], lambda _: [(bid, buy, "1")] * half + [(ask, sell, "1000000")] * half
        if self.venue == OPTIONS:
            info = self.sim.http.get(f"{self.sim.url}/eapi/v1/exchangeInfo", timeout=10).json()
            options = {}
            for s in info["optionSymbols"]:
                if s["status"] == "TRADING":
                    options.setdefault(s["underlying"], []).append(s["symbol"])

            def resting(underlying):
                markets = options[underlying]
                bids = [(markets[i % len(markets)], "BUY", "1") for i in range(half)]
                return bids + [(markets[(i + 1) % len(markets)], "SELL", "50000") for i in range(half)]

            return [c["underlying"] for c in info["optionContracts"] if c["underlying"] in options], resting
        info = self.sim.http.get(f"{self.sim.url}/fapi/v1/exchangeInfo", timeout=10).json()
        symbols = [
            s["symbol"]
            for s in info["symbols"]
            if s["status"] == "TRADING" and s["contractType"] == "PERPETUAL" and s["quoteAsset"] == "USDT"
        ]
        return symbols, lambda symbol: [(symbol, "BUY", "1")] * half + [(symbol, "SELL", "1000000")] * half

    def start_worker(self) -> None:
        # PGAPPNAME names the worker's database sessions, so a scenario can end them and no others.
        self.worker = Worker({**self.env, "PGAPPNAME": "cg-worker"}, self.folder / "worker.log")
        self.wait_engine(True, 60, "the engine to start")

    def start_standby_worker(self) -> None:
        """A second worker for the same egress identity, as on a second host: its engines stand by."""
        self.standby = Worker({**self.env, "PGAPPNAME": "cg-worker-2"}, self.folder / "worker-2.log")
        self.wait_until(
            lambda: any(not r["holds_lease"] and self.standby.owns(r["pid"]) for r in self.engine_rows()),
            30,
            "the second worker's engines standing by",
        )

    def start_web(self) -> None:
        self.web = Web({**self.env, "PGAPPNAME": "cg-web"}, free_port(), self.folder / "web.log")
        self.operator = Session(self.web.url, "operator", PASSWORD)
        self.keyadmin = Session(self.web.url, "keyadmin", PASSWORD)
        threading.Thread(target=self._board, name="board", daemon=True).start()

    def _board(self) -> None:
        """An open board: it polls /status.json about every second, as the page does."""
        board = Session(self.web.url, "operator", PASSWORD)
        while not self._board_stop.wait(1.0):
            try:
                board.http.get(f"{self.web.url}/status.json", timeout=10)
            except Exception:  # noqa: S112 - a web worker being killed is what some scenarios do
                continue

    def stop(self) -> None:
        self._board_stop.set()
        for process in (self.web, self.standby, self.worker, self.sim):
            if process is not None:
                try:
                    process.stop()
                except Exception as exc:  # noqa: BLE001 - keep stopping the others
                    log(f"could not stop {type(process).__name__}: {exc}")

    # ---- people -----------------------------------------------------------------------------------------

    def arm(self, policies=None) -> None:
        from heartbeats.desk import actions

        for p in policies or self.policies:
            start = time.time()
            actions.arm(p.id, user=None, ip=None)
            self.intents.record([p.id], True, start, time.time())

    def disarm(self, policies) -> None:
        """Disarm through heartbeats.desk.actions, as the board's Disarm button does."""
        from heartbeats.desk import actions

        for p in policies:
            start = time.time()
            actions.disarm(p.id, user=None, ip=None)
            self.intents.record([p.id], False, start, time.time())

    def disarm_all(self, reason: str = "fault suite") -> None:
        from heartbeats.desk import actions

        armed = [p.id for p in self.policies if self.intents.armed_now(p.id)]
        start = time.time()
        actions.disarm_all(user=None, ip=None, reason=reason)
        self.intents.record(armed, False, start, time.time())

    def web_disarm_all(self, reason: str = "fault suite"):
        """Disarm all through the web as the operator: the page's form, then its POST."""
        armed = [p.id for p in self.policies if self.intents.armed_now(p.id)]
        token = self.operator.token(self.operator.get("/disarm-all/"))
        start = time.time()
        try:
            reply = self.operator.post("/disarm-all/", {"reason": reason}, token=token)
        finally:
            self.intents.record(armed, False, start, time.time())
        return reply

    def web_cancel_orders_all(self, reason: str) -> int:
        """Cancel orders now for every policy through the web as the operator; the operation's id."""
        path = "/cancel-orders/?all=1"
        reply = self.operator.post(path, {"reason": reason, "all": "1"})
        if reply.status_code != 302 or "/operations/" not in reply.headers.get("Location", ""):
            raise RuntimeError(f"Cancel orders now answered {reply.status_code}")
        return int(reply.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    def cancels_pending(self, operation_id: int) -> int:
        from heartbeats.models import CancelState, OrderCancel

        return OrderCancel.objects.filter(operation_id=operation_id, state=CancelState.PENDING).count()

    def cancel_states(self, operation_id: int) -> dict[str, int]:
        from collections import Counter

        from heartbeats.models import OrderCancel

        return dict(
            Counter(OrderCancel.objects.filter(operation_id=operation_id).values_list("state", flat=True))
        )

    def disarm_all_recorded(self) -> bool:
        from heartbeats.models import Action, Operation

        return Operation.objects.filter(action=Action.DISARM_ALL).exists()

    def web_disarm(self, policy):
        token = self.operator.token(self.operator.get("/"))
        start = time.time()
        try:
            return self.operator.post(f"/policies/{policy.id}/disarm/", {}, token=token)
        finally:
            self.intents.record([policy.id], False, start, time.time())

    # ---- engine -----------------------------------------------------------------------------------------

    def pause_worker(self) -> None:
        """SIGSTOP the whole worker (no engine left, active or standby), never while one of its processes is
        inside a database transaction: a process frozen there would hold the lock (SQLite: the one write
        lock) that the web's Disarm all needs, for as long as it stays paused -- a hazard of its own, noted
        when it happens rather than left to spoil the scenario."""
        for attempt in range(1, 21):
            self.worker.pause()
            if not self.db.in_transaction("cg-worker"):
                if attempt > 1:
                    self.note(
                        f"the paused worker held a database transaction open (writes blocked): "
                        f"resumed and paused again ({attempt - 1}×)"
                    )
                return
            self.worker.resume()
            time.sleep(0.1 * attempt)
        self.note("could not pause the worker outside a database transaction")
        self.worker.pause()

    def freeze_worker_in_transaction(self, timeout: float = 60) -> bool:
        """SIGSTOP the whole worker at a moment one of its processes is inside a write transaction whose
        locks a disarm needs, which it then holds for as long as it stays stopped (SQLite: the database's
        one write lock; PostgreSQL: the policy rows its engine's writer updated). Tries until it catches
        one; True if it did."""
        import random

        deadline = time.monotonic() + timeout
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            self.worker.pause()
            if self.db.writing_policies("cg-worker"):
                self.note(f"the worker stopped inside a write transaction (attempt {attempts})")
                return True
            self.worker.resume()
            time.sleep(random.uniform(0.0, 0.03))  # noqa: S311 - a moment, not a secret
        self.note(
            f"never caught the worker inside a write transaction in {attempts} attempts: stopped anyway"
        )
        self.worker.pause()
        return False

    def engine_rows(self):
        from datetime import timedelta

        from django.utils import timezone

        from heartbeats.models import EngineLiveness

        fresh = timezone.now() - timedelta(seconds=2)
        return list(
            EngineLiveness.objects.filter(seen_at__gte=fresh, stopping=False).values("pid", "holds_lease")
        )

    def engine_alive(self) -> bool:
        from heartbeats.engine import engine_alive

        return engine_alive(egress="default")

    def wait_engine(self, alive: bool, timeout: float, what: str) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.engine_alive() == alive:
                    return True
            except Exception:  # noqa: S110 - the database may be the fault
                pass
            time.sleep(0.2)
        self.note(f"timed out waiting for {what}")
        return False

    def hand_over_engine(self, timeout: float = 15) -> None:
        """SIGTERM to the worker process whose engine holds the lease, as a deploy does to each: its engine
        hands the lease over and another process's engine, standing by, reads everything afresh."""
        import signal

        pid = self.engine_pid(active=True)
        if pid is None:
            self.note("no active engine to hand over from")
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r["holds_lease"] and r["pid"] != pid for r in self.engine_rows()):
                self.note("the engine handed over to another worker process")
                return
            time.sleep(0.2)
        self.note("the engine did not hand over")

    def engine_pid(self, active: bool = True, timeout: float = 20) -> int | None:
        """The pid of the worker process running the active (or a standby) engine, from the liveness table."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for row in self.engine_rows():
                if row["holds_lease"] == active and self.worker.owns(row["pid"]):
                    return row["pid"]
            time.sleep(0.2)
        return None

    # ---- simulator --------------------------------------------------------------------------------------

    def fault(self, **options) -> int:
        # Not SimulatorProcess.control: a fault's own "path" option would clash with its argument.
        reply = self.sim.http.post(f"{self.sim.url}/_sim/faults", json=options, timeout=30)
        reply.raise_for_status()
        return reply.json()["id"]

    def clear_faults(self) -> None:
        self.sim.control("DELETE", "faults")

    def fault_hits(self) -> int:
        return sum(f["hits"] for f in self.sim.control("GET", "faults"))

    def held(self, name: str) -> int:
        return sum(1 for h in self.sim.control("GET", "held") if h["name"] == name and not h["released"])

    def release(self, name: str) -> int:
        return self.sim.control("POST", "release", name=name, wait=10)["released"]

    def set_skew(self, skew_ms: int) -> None:
        self.sim.control("POST", "clock", skew_ms=skew_ms)
        self.intents.skew(time.time(), skew_ms)

    def state(self) -> dict:
        return self.sim.control("GET", "state")

    def requests(self, path: str | None = None) -> list[dict]:
        params = {"path": path} if path else {}
        reply = self.sim.http.get(f"{self.sim.url}/_sim/requests", params=params, timeout=30)
        reply.raise_for_status()
        return reply.json()

    def switch_requests(self) -> list[dict]:
        """The requests that armed, renewed or turned off a switch of the venue."""
        return [e for path in self.switch_paths for e in self.requests(path)]

    def _accepted_countdowns(self) -> dict[tuple[str, str], list[dict]]:
        reply = self.sim.http.get(
            f"{self.sim.url}/_sim/requests",
            params={"path": self.config_path, "since_id": self._log_cursor},
            timeout=30,
        )
        reply.raise_for_status()
        in_progress = False
        for entry in reply.json():
            if entry["responded_at"] is None:
                in_progress = True  # held, or waiting out latency: read it again next time
                continue
            if not in_progress:
                self._log_cursor = entry["id"]
            if entry["id"] in self._seen:
                continue
            self._seen.add(entry["id"])
            if entry["status"] == 200 and entry["applied_at"]:
                self._accepted.setdefault((entry["api_key_last4"], scope(entry)), []).append(entry)
        return self._accepted

    def wait_until(self, predicate, timeout: float, what: str, every: float = 0.2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(every)
        self.note(f"timed out after {timeout:g} s waiting for {what}")
        return False

    def wait_zeros(self, policies, since: float, timeout: float) -> bool:
        """Until every policy has a `0` accepted by the simulator since `since`."""

        def done():
            accepted = self._accepted_countdowns()
            return all(
                any(e["countdown_ms"] == 0 and e["applied_at"] >= since for e in accepted.get(p.key, []))
                for p in policies
            )

        return self.wait_until(done, timeout, f"the `0` of {len(policies)} policies")

    def wait_armed(self, policies, timeout: float) -> bool:
        def done():
            live = running(self.state())
            return all(p.key in live for p in policies)

        return self.wait_until(done, timeout, f"{len(policies)} countdowns armed on the simulator", 0.3)

    def wait_held(self, name: str, count: int, timeout: float) -> bool:
        return self.wait_until(lambda: self.held(name) >= count, timeout, f"{count} request(s) held", 0.05)

    # ---- bookkeeping ------------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        log(text)
        self.notes.append(text)

    def fault_over(self) -> None:
        """The fault has ended (and any process paused is running again): recovery is timed from here."""
        self.fault_ended_at = time.time()
        log("fault over")

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)
