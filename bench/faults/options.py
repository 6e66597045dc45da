"""Scenario group 12: Binance Options accounts (a switch per underlying, configured once, then every armed
underlying of an account renewed by one heartbeat call), under the futures scenarios' faults and judged by
the same rules (truth.py says how an options request counts). Options' countdown is at least 5 s and the
exchange finds a lapse up to a second after it, so their countdowns are given slack.
"""

import time

from faults.incidents import kill_worker, rate_limited
from faults.scenarios import FAST_HOLD, clock_1021, hold_next_beats, watch_second_zero
from faults.truth import OPTIONS
from faults.world import Spec


def disarm_race(world, release_after: float = 0.0) -> None:
    """A disarm racing a renewal: the next renewal of the first policy (options: its account's heartbeat,
    listing every armed underlying of the account) is held in flight by the exchange, the policy is disarmed
    meanwhile, and the held renewal is let through `release_after` seconds after the disarm's first `0` was
    accepted, as a late packet would be. It must not re-arm the policy, the second `0` must still come, and
    the account's other switches must not run out."""
    p = world.policies[0]
    if not hold_next_beats(world, [p], "race"):
        raise RuntimeError("no renewal was held")
    time.sleep(0.3)
    start = time.time()
    world.disarm([p])
    committed = time.time()
    world.wait_zeros([p], start, 20)
    time.sleep(release_after)
    released_at = time.time()
    world.note(f"{world.release('race')} held renewal(s) let through after the disarm's first `0`")
    watch_second_zero(world, committed, released_at)
    for e in world.switch_requests():
        if e["held"] == "race":
            listed = e.get("underlyings") or e["symbol"] or "the account"
            world.note(f"the released renewal ({listed}): {e['status']} {e['code'] or ''}".rstrip())
    world.fault_over()


SPECS = [
    Spec(
        "options-disarm-race",
        "12. Options: disarm racing a held heartbeat, let through after the `0`",
        disarm_race,
        venue=OPTIONS,
        countdown_ms=12000,
        env=FAST_HOLD,
    ),
    Spec(
        "options-rate-limited",
        "12. Options: 429 then 418 with Retry-After",
        rate_limited,
        venue=OPTIONS,
        countdown_ms=15000,
    ),
    Spec(
        "options-clock-1021",
        "12. Options: server clock −3 s (-1021), disarms meanwhile",
        clock_1021,
        venue=OPTIONS,
        countdown_ms=15000,
    ),
    Spec(
        "options-kill-worker",
        "12. Options: `kill -9` of the whole active worker, a second one standing by",
        kill_worker,
        venue=OPTIONS,
        countdown_ms=12000,
    ),
]
