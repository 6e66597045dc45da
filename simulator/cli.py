"""Command-line entry shared by `python -m simulator` and `manage.py simulator`."""

import argparse
import ipaddress
import json
import signal
import sys
import threading
from pathlib import Path

from .server import Simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8800, help="port to listen on (0 = any free port)")
    parser.add_argument("--weight-limit", type=int, default=2400, help="REQUEST_WEIGHT per minute per IP")
    parser.add_argument(
        "--ban-after", type=int, default=10, help="429s tolerated after the first before a ban"
    )
    parser.add_argument("--ban-seconds", type=float, default=120, help="length of a 418 ban")
    parser.add_argument("--skew-ms", type=int, default=0, help="server clock = host clock + this")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay before each request is processed")
    parser.add_argument("--jitter-ms", type=float, default=0, help="± uniform jitter on that delay")
    parser.add_argument(
        "--accounts",
        "--demo-keys",
        dest="accounts",
        type=Path,
        help='JSON list of {"api_key", "key_type", "secret" | "public_key" | "private_key"} to register (or, '
        'as POST /_sim/accounts takes them, {"venue": "okx" | "kraken_futures", ...})',
    )
    parser.add_argument("--access-log", action="store_true", help="one stderr line per request (no query)")
    parser.add_argument(
        "--expiry-cancels-algo-orders",
        action="store_true",
        help="a countdown that runs out also cancels the symbol's algo (conditional) orders (default: it "
        "leaves them, as Binance does not promise otherwise)",
    )
    parser.add_argument(
        "--coinm-algo-service",
        action="store_true",
        help="COIN-M conditional orders live in an Algo Service (/dapi/v1/algoOrder), as Binance announced "
        "(default: /dapi/v1/order takes them as plain orders, as Binance does today)",
    )
    parser.add_argument(
        "--options-check-interval",
        type=float,
        default=1.0,
        help="seconds between two checks of the options (/eapi) countdowns (Binance: about 1 s)",
    )


def load_accounts(sim: Simulator, path: Path) -> int:
    """Registers every key in the JSON list at `path`, entries shaped like POST /_sim/accounts: a Binance key
    (the default), or one with "venue": "okx" (secret and passphrase) or "kraken_futures" (base64 secret)."""
    entries = json.loads(path.read_text())
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a JSON list of accounts")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: account #{i} is not a JSON object")
        try:
            _add_account(sim, entry)
        except ValueError as exc:
            raise ValueError(f"{path}: account #{i}: {exc}") from None
    return len(entries)


def _add_account(sim: Simulator, entry: dict) -> None:
    venue = entry.get("venue")
    if venue == "okx":
        if not (entry.get("api_key") and entry.get("secret") and entry.get("passphrase")):
            raise ValueError("an OKX key needs api_key, secret and passphrase")
        sim.exchange.okx.add_account(
            entry["api_key"],
            entry["secret"],
            entry["passphrase"],
            trade=entry.get("trade", True),
            ip_whitelist=entry.get("ip_whitelist"),
        )
        return
    if venue == "kraken_futures":
        if not (entry.get("api_key") and entry.get("secret")):
            raise ValueError("a Kraken Futures key needs api_key and secret (base64)")
        sim.exchange.add_kraken_account(entry["api_key"], entry["secret"], trade=entry.get("trade", True))
        return
    if venue not in (None, "usdm", "coinm", "options"):
        raise ValueError(f"unknown venue {venue!r}: expected okx, kraken_futures or none (Binance)")
    material = entry.get("public_key") or entry.get("private_key") or entry.get("secret")
    if not entry.get("api_key") or not entry.get("key_type") or not material:
        raise ValueError("needs api_key, key_type and a secret or key")
    sim.exchange.add_account(
        entry["api_key"],
        entry["key_type"],
        material,
        trade=entry.get("trade", True),
        options=entry.get("options", True),
        ip_whitelist=entry.get("ip_whitelist"),
        passphrase=entry.get("passphrase"),
    )


def run(options: dict, out=sys.stdout, stop: threading.Event | None = None) -> None:
    """Serves until SIGINT/SIGTERM (or `stop` is set)."""
    sim = Simulator(
        options["host"],
        options["port"],
        weight_limit=options["weight_limit"],
        ban_after=options["ban_after"],
        ban_seconds=options["ban_seconds"],
        access_log=options["access_log"],
        expiry_cancels_algo_orders=options.get("expiry_cancels_algo_orders", False),
        coinm_algo_service=options.get("coinm_algo_service", False),
        options_check_interval=options.get("options_check_interval", 1.0),
    )
    try:
        count = load_accounts(sim, options["accounts"]) if options.get("accounts") else 0
    except (OSError, ValueError) as exc:  # messages name the file and entry, never key material
        raise SystemExit(f"Cannot load the simulator accounts: {exc}") from None
    sim.exchange.set_skew(options["skew_ms"])
    sim.exchange.set_latency(options["latency_ms"], options["jitter_ms"])
    if not _is_loopback(options["host"]):
        print(
            "warning: the control interface /_sim/ is reachable by anyone who can reach this address",
            file=sys.stderr,
        )
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    try:
        sim.start()
    except OSError as exc:
        raise SystemExit(
            f"The simulator cannot listen on {options['host']}:{options['port']}: {exc.strerror}"
        ) from None
    try:
        limit = options["weight_limit"]
        out.write(f"Exchange simulator on {sim.url} ({count} accounts, weight limit {limit}/min)\n")
        out.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    run(vars(args))
