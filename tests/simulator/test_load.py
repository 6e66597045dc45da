"""Hundreds of policies beating at once."""

import threading
import time

from simulator import Simulator
from simulator.symbols import USDM_MARKETS

from .conftest import Trader


def test_it_serves_300_concurrent_countdown_calls_without_error():
    sim = Simulator(weight_limit=100_000)
    sim.start()
    try:
        traders = [Trader(sim).register() for _ in range(30)]
        symbols = [m.symbol for m in USDM_MARKETS if m.trading][:10]
        jobs = [(t, s) for t in traders for s in symbols]
        results = [None] * len(jobs)
        barrier = threading.Barrier(len(jobs))

        def beat(i, trader, symbol):
            barrier.wait()
            try:
                results[i] = trader.countdown(symbol, 120000, timeout=20).status_code
            except Exception as exc:  # reported below, with the others
                results[i] = repr(exc)

        threads = [threading.Thread(target=beat, args=(i, t, s)) for i, (t, s) in enumerate(jobs)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        elapsed = time.monotonic() - started

        assert len(jobs) == 300
        assert [r for r in results if r != 200] == []
        assert len(sim.exchange.countdowns()) == 300
        assert elapsed < 15
        # A second round over the now-open keep-alive connections.
        for trader in traders[:3]:
            assert trader.countdown("BTCUSDT", 0).status_code == 200
        assert len(sim.exchange.countdowns()) == 297
    finally:
        sim.stop()
