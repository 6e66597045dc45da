"""The verdict of a scenario, from the simulator's ground truth only: its countdowns, its cancellations (one
record per countdown that ran out) and its request log. What the application recorded (beats, facts,
operations) is never consulted, so the verdict stays right whatever the engine's internals become.

The other input is the people's intent, recorded by the scenario as it acts (World.arm, World.disarm...):
per policy, when it was desired armed or disarmed. Times are host epoch seconds, as the simulator's.

Binance Options (a policy's `venue` "options", its symbol an underlying) are judged by the same rules, read
from their own requests: a configuration (/eapi/v1/countdownCancelAll) with a countdown is an arm and one with
`0` a disarm's `0`; a heartbeat (/eapi/v1/countdownCancelAllHeartBeat) renews only the underlyings it lists
that are still configured when it is applied, so each of those is an arm too, and a heartbeat applied after
the disarm's `0` (the configuration gone) is no re-arm at all, whatever it lists. A lapse (the exchange's
check finding a countdown run out, up to about a second after it did) is a cancellation record like a
futures one, timed by when the countdown ran out; a lapsed configuration stays on the exchange (refusing new
orders) until a heartbeat or a `0`, so it is running for no one but still configured.

OKX and Kraken Futures keep one switch per account (a policy's symbol is "", as the simulator logs none): an
arm is a 200 to a countdown above 0 on the venue's path (OKX's cancel-all-after, Kraken's
cancelallordersafter), a disarm's `0` a 200 to a `0` there, and a lapse a cancellation record like the
others. OKX signs a timestamp, read like Binance's; Kraken signs none, but the guard's nonce is the moment of
signing in microseconds, read in its place. Their own rate limiters answer OKX's 429 (50011) and Kraken's
HTTP 200 with "apiLimitExceeded": both are counted with the 429s.
"""

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

COUNTDOWN_PATH = "/fapi/v1/countdownCancelAll"
OPTIONS_CONFIG_PATH = "/eapi/v1/countdownCancelAll"
OPTIONS_HEARTBEAT_PATH = "/eapi/v1/countdownCancelAllHeartBeat"
OKX_PATH = "/api/v5/trade/cancel-all-after"
KRAKEN_PATH = "/derivatives/api/v3/cancelallordersafter"
OPTIONS = "options"
OKX = "okx"
KRAKEN = "kraken_futures"
# Venues whose one switch covers the whole account (a policy's symbol is "").
ACCOUNT_VENUES = (OKX, KRAKEN)
# Per venue: the path that arms a switch (and turns it off with `0`), and every path that arms or renews one.
CONFIG_PATHS = {
    "usdm": COUNTDOWN_PATH,
    "coinm": "/dapi/v1/countdownCancelAll",
    OPTIONS: OPTIONS_CONFIG_PATH,
    OKX: OKX_PATH,
    KRAKEN: KRAKEN_PATH,
}
SWITCH_PATHS = {
    "usdm": (COUNTDOWN_PATH,),
    "coinm": ("/dapi/v1/countdownCancelAll",),
    OPTIONS: (OPTIONS_CONFIG_PATH, OPTIONS_HEARTBEAT_PATH),
    OKX: (OKX_PATH,),
    KRAKEN: (KRAKEN_PATH,),
}
# The venues' own rate-limit answers that come with another HTTP status (Kraken answers 200).
RATE_LIMIT_CODES = ("apiLimitExceeded",)
# An arm signed this long after the disarm was committed cannot have been in flight when it was committed.
SIGNED_AFTER_MARGIN = 1.0


@dataclass(frozen=True)
class Policy:
    id: int
    account_id: int
    api_key: str
    symbol: str
    countdown_ms: int
    interval_s: int
    venue: str = "usdm"

    @property
    def key(self) -> tuple[str, str]:
        return (self.api_key[-4:], self.symbol)


@dataclass(frozen=True)
class Intent:
    armed: bool
    start: float  # before the action was asked for
    end: float  # once it had returned (committed)


class Intents:
    """What people wanted, when: each arm/disarm between the moment it was asked for and its return; and the
    simulator's clock skew as the scenario set it (to read the signed timestamps of the request log)."""

    def __init__(self):
        self._by_policy: dict[int, list[Intent]] = defaultdict(list)
        self._skews: list[tuple[float, int]] = [(0.0, 0)]

    def record(self, policy_ids, armed: bool, start: float, end: float) -> None:
        for pid in policy_ids:
            self._by_policy[pid].append(Intent(armed, start, end))

    def skew(self, at: float, skew_ms: int) -> None:
        self._skews.append((at, skew_ms))

    def skew_at(self, t: float) -> int:
        index = bisect_right([at for at, _ in self._skews], t) - 1
        return self._skews[max(index, 0)][1]

    def armed_at(self, policy_id: int, t: float) -> bool:
        armed = False
        for intent in self._by_policy.get(policy_id, []):
            if intent.start <= t:
                armed = intent.armed
        return armed

    def armed_now(self, policy_id: int) -> bool:
        intents = self._by_policy.get(policy_id)
        return bool(intents) and intents[-1].armed

    def disarms(self, policy_id: int) -> list[tuple[Intent, float]]:
        """Each disarm with the moment the period it opened ends (the next arm asked for, or never)."""
        intents = self._by_policy.get(policy_id, [])
        found = []
        for i, intent in enumerate(intents):
            if intent.armed:
                continue
            later = [x.start for x in intents[i + 1 :] if x.armed]
            found.append((intent, later[0] if later else math.inf))
        return found


def scope(record: dict) -> str:
    """What a countdown, a cancellation or a logged request covers: its symbol or underlying, an OKX switch's
    tag, or "" (the whole account: OKX and Kraken Futures log none)."""
    return record.get("symbol") or record.get("tag") or ""


def _okx_switches(state: dict) -> list[dict]:
    return (state.get("okx") or {}).get("switches", [])


def running(state: dict) -> set[tuple[str, str]]:
    """(key's last 4, symbol, underlying or "") of every countdown running: futures and Kraken Futures ones,
    OKX switches, and options configurations that have not lapsed."""
    found = {(c["api_key_last4"], scope(c)) for c in state["countdowns"] + _okx_switches(state)}
    options = state.get("option_countdowns", [])
    return found | {(c["api_key_last4"], c["symbol"]) for c in options if c["lapsed_at"] is None}


def configured(state: dict) -> set[tuple[str, str]]:
    """As running(), with lapsed options configurations too (still on the exchange, refusing orders)."""
    options = state.get("option_countdowns", [])
    return {(c["api_key_last4"], scope(c)) for c in state["countdowns"] + _okx_switches(state) + options}


def signed_at(entry: dict, skew_ms: int) -> float | None:
    """When a logged request was signed (host epoch seconds): its signed timestamp, the exchange's estimate
    of its own clock, less the skew then; Kraken's, from its nonce (microseconds of the signer's clock)."""
    if entry.get("timestamp"):
        return (entry["timestamp"] - skew_ms) / 1000
    nonce = str(entry.get("nonce") or "")
    if nonce.isdigit() and 10**15 <= int(nonce) < 10**17:
        return int(nonce) / 1_000_000
    return None


def rate_limited(entry: dict) -> bool:
    """An answer of the simulator's own rate limiter (an injected one does not count)."""
    if entry.get("fault") is not None:
        return False
    return entry["status"] in (429, 418) or (entry["status"] == 200 and entry.get("code") in RATE_LIMIT_CODES)


def mismatches(state: dict, policies: list[Policy], intents: Intents) -> list[str]:
    """Policies whose simulator state differs from the desired one: armed without a running countdown, or
    disarmed with one (or with a lapsed options configuration left)."""
    live, held = running(state), configured(state)
    wrong = []
    for p in policies:
        if intents.armed_now(p.id) and p.key not in live:
            wrong.append(f"{p.symbol}#{p.id} not armed")
        elif not intents.armed_now(p.id) and p.key in held:
            wrong.append(f"{p.symbol}#{p.id} still armed")
    return wrong


def renewals(log: list[dict], accepted: dict[tuple[str, str], list[dict]]) -> dict[tuple[str, str], list]:
    """Options heartbeats as arms: per (key's last 4, underlying), one entry per accepted heartbeat that
    listed it while it was configured (its last accepted configuration before the heartbeat was applied had
    a countdown), with that configuration's countdown. `accepted`: configurations per key, by applied_at."""
    found = defaultdict(list)
    for entry in log:
        if entry["path"] != OPTIONS_HEARTBEAT_PATH or entry["status"] != 200 or not entry.get("applied_at"):
            continue
        for underlying in {u.strip() for u in (entry.get("underlyings") or "").split(",") if u.strip()}:
            key = (entry["api_key_last4"], underlying)
            before = [e for e in accepted.get(key, []) if e["applied_at"] <= entry["applied_at"]]
            if before and before[-1]["countdown_ms"]:
                found[key].append({**entry, "symbol": underlying, "countdown_ms": before[-1]["countdown_ms"]})
    return found


@dataclass
class Verdict:
    missed: int = 0  # countdowns that ran out while their policy was desired armed
    rearms: int = 0  # disarms undone by an arm accepted after them (see judge)
    rearm_requests: int = 0
    unexpected: int = 0  # countdowns that ran out on a policy desired disarmed, or on nothing we know
    zero_latency: float | None = None  # worst time from a disarm to its first accepted `0`
    never_zeroed: int = 0  # disarms with no `0` accepted at all
    rate_limited: int = 0  # 429/418 answered by the simulator's own limiter (injected ones excluded)
    details: list[str] = field(default_factory=list)


def judge(policies: list[Policy], intents: Intents, state: dict, log: list[dict], began: float) -> Verdict:
    """`began`: when the fault began (times in the details are given from there)."""
    verdict = Verdict()
    by_key = {p.key: p for p in policies}

    for record in state["cancellations"]:
        policy = by_key.get((record["api_key_last4"], scope(record)))
        at = record.get("cancelled_at") or record["expires_at"]
        if record.get("venue") == OPTIONS:
            at = record["expires_at"]  # found by the exchange's next check, up to a second later
        if policy is not None and intents.armed_at(policy.id, at):
            verdict.missed += 1
            verdict.details.append(
                f"{policy.symbol}#{policy.id}: countdown ran out at {at - began:+.1f} s, armed"
            )
        else:
            verdict.unexpected += 1
            name = f"{policy.symbol}#{policy.id}" if policy else scope(record)
            verdict.details.append(f"{name}: countdown ran out at {at - began:+.1f} s, after its disarm")

    accepted = defaultdict(list)
    config_paths = set(CONFIG_PATHS.values())
    for entry in log:
        if rate_limited(entry):
            verdict.rate_limited += 1
        if entry["path"] in config_paths and entry["status"] == 200 and entry.get("applied_at"):
            accepted[(entry["api_key_last4"], scope(entry))].append(entry)
    for entries in accepted.values():
        entries.sort(key=lambda e: e["applied_at"])
    arms = defaultdict(list, {key: list(entries) for key, entries in accepted.items()})
    for key, entries in renewals(log, accepted).items():
        arms[key] = sorted(arms[key] + entries, key=lambda e: e["applied_at"])

    left = configured(state)
    latencies = []
    for p in policies:
        for disarm, until in intents.disarms(p.id):
            window = [e for e in arms[p.key] if disarm.start <= e["applied_at"] < until]
            zeros = [e for e in window if e["countdown_ms"] == 0]
            if not zeros:
                verdict.never_zeroed += 1
                verdict.details.append(f"{p.symbol}#{p.id}: no `0` accepted after its disarm")
                continue
            first = zeros[0]["applied_at"]
            latencies.append(first - disarm.start)
            offending = []
            for e in window:
                if e["countdown_ms"] == 0:
                    continue
                signed = signed_at(e, intents.skew_at(e["applied_at"]))
                signed_late = signed is not None and signed > disarm.end + SIGNED_AFTER_MARGIN
                # After the first `0`, only a later `0` that came before this arm's countdown ran out
                # undoes it (that is what the second `0` is for).
                runs_out = e["applied_at"] + e["countdown_ms"] / 1000
                left_armed = e["applied_at"] > first and not any(
                    e["applied_at"] < z["applied_at"] < runs_out for z in zeros
                )
                if signed_late or left_armed:
                    offending.append(e)
            if offending:
                verdict.rearms += 1
                verdict.rearm_requests += len(offending)
                verdict.details.append(
                    f"{p.symbol}#{p.id}: {len(offending)} arm(s) accepted after its disarm, the first "
                    f"{offending[0]['applied_at'] - disarm.end:+.1f} s after it was committed"
                )
            elif until == math.inf and p.key in left:
                verdict.rearms += 1
                verdict.details.append(f"{p.symbol}#{p.id}: countdown running at the end despite its disarm")
    verdict.zero_latency = max(latencies) if latencies else None
    return verdict
