"""Scenario groups 13 and 14: OKX and Kraken Futures, whose one switch covers a whole account (a policy's
symbol is "", so each policy has an account of its own), under the futures scenarios' faults and judged by
the same rules (truth.py says how their requests count). Two resting orders per account (OKX: BTC-USDT-SWAP
and ETH-USDT-SWAP; Kraken: PF_XBTUSD and PF_ETHUSD) for a lapse to cancel.

Timing: countdowns of 35 s with a 2 s interval, inside OKX's 10-120 s and longer than the 33 s the guard
requires on these venues: a disarm's second `0` waits the venue's late window plus the clock error
(heartbeats.exchange.venues, accepts_late_ms: 30 s on OKX, 30 s assumed on Kraken), which no setting
shortens, and a renewal accepted late must not run out before it. A row that watches for it lasts that long.

Rows that do not apply here: OKX's answers carry no 418 (its rate limit answers 429, code 50011, with no ban
to follow); Kraken Futures signs nothing time-based (its nonce is only compared with earlier nonces of the
same key, never with its clock), so a step of the exchange's clock changes nothing there and group 14 has no
clock row.
"""

import time

from faults.incidents import _burst, kill_worker
from faults.options import disarm_race
from faults.truth import KRAKEN, OKX
from faults.world import Spec

# As Kraken words a refusal: HTTP 200 and an error name.
KRAKEN_LIMITED = {"result": "error", "serverTime": "2026-01-01T00:00:00.000Z", "error": "apiLimitExceeded"}
OKX_LIMITED = {"code": "50011", "data": [], "msg": "Too Many Requests"}
ACCOUNTS = {"policies": 3, "accounts": 3, "countdown_ms": 35000}


def okx_disarm_race(world) -> None:
    """As options.disarm_race, the held renewal let through 1.5 s after the `0`: sooner, OKX's one request a
    second per account would refuse it (50011) before it could reach the switch."""
    disarm_race(world, release_after=1.5)


def rate_limited(world) -> None:
    """Five rate-limit answers in the venue's own words (OKX: HTTP 429, code 50011; Kraken Futures: HTTP 200
    with "apiLimitExceeded"), two disarms meanwhile."""
    body = OKX_LIMITED if world.venue == OKX else KRAKEN_LIMITED
    status = 429 if world.venue == OKX else 200
    _burst(world, [{"status": status, "body": body, "count": 5}], 5)
    time.sleep(2)
    world.fault_over()


def okx_clock(world) -> None:
    """The exchange's clock 35 s behind ours, then right again: every signed request is refused as expired
    (50102: more than 30 s off OKX's clock) until the client measures the clock again, once after each step.
    Two disarms meanwhile."""
    world.set_skew(-35_000)
    time.sleep(1.5)
    targets = world.policies[:2]
    start = time.time()
    world.disarm(targets)
    world.wait_zeros(targets, start, 20)
    time.sleep(3)
    world.set_skew(0)
    time.sleep(4)
    refused = sum(1 for e in world.switch_requests() if e["code"] == "50102")
    world.note(f"{refused} switch requests refused with 50102")
    world.fault_over()


SPECS = [
    Spec(
        "okx-disarm-race",
        "13. OKX: disarm racing a held renewal, let through 1.5 s after the `0`",
        okx_disarm_race,
        venue=OKX,
        **ACCOUNTS,
    ),
    Spec("okx-rate-limited", "13. OKX: 429 (50011)", rate_limited, venue=OKX, **ACCOUNTS),
    Spec(
        "okx-clock",
        "13. OKX: server clock −35 s (50102), disarms meanwhile",
        okx_clock,
        venue=OKX,
        **ACCOUNTS,
    ),
    Spec(
        "okx-kill-worker",
        "13. OKX: `kill -9` of the whole active worker, a second one standing by",
        kill_worker,
        venue=OKX,
        **ACCOUNTS,
    ),
    Spec(
        "kraken-disarm-race",
        "14. Kraken Futures: disarm racing a held renewal, let through after the `0`",
        disarm_race,
        venue=KRAKEN,
        **ACCOUNTS,
    ),
    Spec(
        "kraken-rate-limited",
        "14. Kraken Futures: apiLimitExceeded",
        rate_limited,
        venue=KRAKEN,
        **ACCOUNTS,
    ),
    Spec(
        "kraken-kill-worker",
        "14. Kraken Futures: `kill -9` of the whole active worker, a second one standing by",
        kill_worker,
        venue=KRAKEN,
        **ACCOUNTS,
    ),
]
