"""Our thin OKX and Kraken Futures clients against ccxt and each venue's official SDK, on the shipped
simulator (in this process, no injected latency): what decided the guard's client per venue (not a test;
prints a table).

    .venv/bin/python bench/venue_clients.py [--calls 500]

For each client: the time to import and build it (first use, in a fresh interpreter), the CPU of one switch
renewal (the countdown call the engine sends every interval; this thread's CPU, so the simulator's own work
is not counted), and whether a refused signature comes back as an error the engine can act on.
"""

import argparse
import base64
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# One line each, run in a fresh interpreter: how long until the first renewal can be signed.
LOCAL = "'http://127.0.0.1:9'"
STARTUP = {
    ("okx", "ours"): "from heartbeats.exchange.okx import OkxClient, OkxSigner; "
    f"OkxClient({LOCAL}, 'k', OkxSigner('s', 'p'))",
    ("okx", "ccxt"): "import ccxt; ccxt.okx({'apiKey': 'k', 'secret': 's', 'password': 'p'})",
    ("okx", "python-okx"): "import okx.Trade as T; "
    f"T.TradeAPI('k', 's', 'p', flag='1', domain={LOCAL}, debug=False)",
    ("kraken", "ours"): "from heartbeats.exchange.kraken import KrakenFuturesClient, KrakenFuturesSigner; "
    f"KrakenFuturesClient({LOCAL}, 'k', KrakenFuturesSigner('c2VjcmV0'))",
    ("kraken", "ccxt"): "import ccxt; ccxt.krakenfutures({'apiKey': 'k', 'secret': 'c2VjcmV0'})",
    (
        "kraken",
        "python-kraken-sdk",
    ): f"from kraken.futures import Trade; Trade(key='k', secret='c2VjcmV0', url={LOCAL})",
}


def startup_ms(code: str) -> float:
    script = f"import time; t = time.perf_counter(); {code}; print((time.perf_counter() - t) * 1000)"
    best = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        )
        best.append(float(done.stdout.strip().splitlines()[-1]))
    return min(best)


def cpu_per_call(call, calls: int) -> float:
    for _ in range(20):
        call()
    started = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - started) / calls * 1000


def okx_rows(sim, calls: int) -> list[tuple]:
    import ccxt
    import okx.Trade as Trade

    from heartbeats.exchange.errors import FatalError
    from heartbeats.exchange.okx import OkxClient, OkxSigner

    api_key, secret, passphrase = secrets.token_hex(16), secrets.token_hex(16), "Bench-pass-1"
    sim.exchange.okx.add_account(api_key, secret, passphrase)
    sim.exchange.okx.rates.scale = 0.000001  # one request a second per user is OKX's; not what is measured
    ours = OkxClient(sim.url, api_key, OkxSigner(secret, passphrase))
    ours.sync_time()
    theirs = ccxt.okx({"apiKey": api_key, "secret": secret, "password": passphrase, "enableRateLimit": False})
    theirs.urls["api"]["rest"] = sim.url
    sdk = Trade.TradeAPI(api_key, secret, passphrase, flag="1", domain=sim.url, debug=False)
    rows = [
        ("OKX", "ours", cpu_per_call(lambda: ours.countdown("", 60_000), calls)),
        ("OKX", "ccxt", cpu_per_call(lambda: theirs.cancel_all_orders_after(60_000), calls)),
        (
            "OKX",
            "python-okx",
            cpu_per_call(
                lambda: sdk._request_with_params("POST", "/api/v5/trade/cancel-all-after", {"timeOut": "60"}),
                calls,
            ),
        ),
    ]
    wrong = OkxClient(sim.url, api_key, OkxSigner("0" * 32, passphrase))
    try:
        wrong.countdown("", 60_000)
        refused = "accepted?"
    except FatalError as exc:
        refused = f"FatalError code {exc.code}"
    return [(*row, refused if row[1] == "ours" else "") for row in rows]


def kraken_rows(sim, calls: int) -> list[tuple]:
    import ccxt
    from kraken.futures import Trade

    from heartbeats.exchange.errors import FatalError
    from heartbeats.exchange.kraken import KrakenFuturesClient, KrakenFuturesSigner

    api_key, secret = secrets.token_hex(16), base64.b64encode(secrets.token_bytes(64)).decode()
    sim.exchange.add_kraken_account(api_key, secret)
    ours = KrakenFuturesClient(sim.url, api_key, KrakenFuturesSigner(secret))
    ours.sync_time()
    theirs = ccxt.krakenfutures({"apiKey": api_key, "secret": secret, "enableRateLimit": False})
    for api in ("public", "private"):
        theirs.urls["api"][api] = f"{sim.url}/derivatives/api/"
    sdk = Trade(key=api_key, secret=secret, url=sim.url)
    rows = []
    for name, call in (
        ("ours", lambda: ours.countdown("", 60_000)),
        ("ccxt", lambda: theirs.cancel_all_orders_after(60_000)),
        ("python-kraken-sdk", lambda: sdk.dead_mans_switch(timeout=60)),
    ):
        rows.append(("Kraken Futures", name, cpu_per_call(lambda call=call: _refilled(sim, call), calls)))
    wrong = KrakenFuturesClient(sim.url, api_key, KrakenFuturesSigner(base64.b64encode(b"x" * 64).decode()))
    try:
        wrong.countdown("", 60_000)
        refused = "accepted?"
    except FatalError as exc:
        refused = f"FatalError {exc.msg[:40]}"
    return [(*row, refused if row[1] == "ours" else "") for row in rows]


def _refilled(sim, call):
    sim.exchange.kraken.reset()  # the cost pool (500 per 10 s) is not what is measured
    return call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    from simulator.server import Simulator

    sim = Simulator(port=0)
    sim.start()
    try:
        rows = okx_rows(sim, args.calls) + kraken_rows(sim, args.calls)
    finally:
        sim.stop()
    family = {"OKX": "okx", "Kraken Futures": "kraken"}
    print(f"{'venue':<16}{'client':<20}{'CPU per renewal':>17}{'start-up':>12}  refused signature")
    for venue, client, cpu, refused in rows:
        start = startup_ms(STARTUP[(family[venue], client)])
        print(f"{venue:<16}{client:<20}{cpu:>14.3f} ms{start:>9.0f} ms  {refused}")
    print(json.dumps({"calls": args.calls}))


if __name__ == "__main__":
    main()
