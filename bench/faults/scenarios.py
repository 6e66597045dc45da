"""Scenarios 1-6: the known hazards, each a small function of the World (see world.py). Each sets up its
fault, acts as people would meanwhile, and calls world.fault_over() when the fault has ended; the verdict is
taken afterwards from the simulator's ground truth alone (truth.py).
"""

import threading
import time

from faults.truth import COUNTDOWN_PATH, OPTIONS, OPTIONS_HEARTBEAT_PATH
from faults.world import Spec

CD = COUNTDOWN_PATH


def in_thread(target) -> tuple[threading.Thread, dict]:
    box = {}

    def run():
        try:
            box["value"] = target()
        except Exception as exc:  # noqa: BLE001 - reported by the scenario
            box["error"] = exc
        finally:
            from django.db import connections

            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _answer(box: dict) -> str:
    if "error" in box:
        return f"failed ({type(box['error']).__name__}: {box['error']})"[:160]
    reply = box.get("value")
    if reply is None:
        return "no answer"
    if reply.status_code == 302:
        return "saved (302)"
    errors = _form_errors(reply.text)
    return f"refused ({reply.status_code}: {errors or 'no message'})"[:200]


def _form_errors(html: str) -> str:
    import html as html_lib
    import re

    found = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    found += re.findall(r'<p class="errornote">(.*?)</p>', html, re.S)
    text = " ".join(re.sub(r"<[^>]+>", " ", f) for f in found)
    return html_lib.unescape(" ".join(text.split()))


def stale_edit(world) -> None:
    """A key admin's policy edit (the admin's change form) waits in its exchangeInfo call (held by the
    simulator) while an operator disarms the policy; the edit is then let through. It must not re-arm the
    policy: watched across an engine hand-over after it (a new engine reads everything afresh)."""
    from django.core.cache import cache

    p = world.policies[0]
    path = f"/admin/heartbeats/countdownpolicy/{p.id}/change/"
    token = world.keyadmin.token(world.keyadmin.get(path))
    cache.clear()  # no cached symbol list: the edit's symbol check must ask the exchange
    world.fault(path="/fapi/v1/exchangeInfo", hold="edit", hold_timeout=90, count=None)
    form = {
        "account": p.account_id,
        "symbol": p.symbol,
        "countdown_ms": p.countdown_ms + 1000,
        "interval_s": p.interval_s,
        "_save": "Save",
    }
    thread, box = in_thread(lambda: world.keyadmin.post(path, form, token=token, timeout=120))
    world.wait_held("edit", 1, 15)
    time.sleep(0.5)
    if not thread.is_alive():
        world.note(f"the edit was not held (answer: {_answer(box)}): the hazard was not exercised")
    start = time.time()
    reply = world.web_disarm(p)
    if reply.status_code != 302:
        world.note(f"the operator's disarm answered {reply.status_code}")
    world.wait_zeros([p], start, 15)
    world.clear_faults()
    world.release("edit")
    thread.join(60)
    world.note(f"the held edit, let through after the disarm's `0`: {_answer(box)}")
    world.hand_over_engine()
    world.fault_over()


def dropped_connections(world) -> None:
    """Every database session of the worker ended (pg_terminate_backend), then at once a disarm. Its `0` must
    reach the exchange within seconds, and no arm signed after it may be accepted."""
    time.sleep(1)
    ended = world.db.terminate_backends("cg-worker")
    targets = world.policies[:3]
    start = time.time()
    world.disarm(targets)
    world.note(f"{ended} worker sessions terminated, then {len(targets)} disarms")
    world.wait_zeros(targets, start, 30)
    world.fault_over()


def clock_1021(world) -> None:
    """The exchange's clock 3 s behind ours: every signed request is "ahead of the server's time" (-1021)
    until the client resyncs. Two disarms meanwhile."""
    world.set_skew(-3000)
    time.sleep(1.5)
    targets = world.policies[:2]
    start = time.time()
    world.disarm(targets)
    world.wait_zeros(targets, start, 20)
    time.sleep(3)
    world.set_skew(0)
    refused = sum(1 for e in world.switch_requests() if e["code"] == -1021)
    world.note(f"{refused} countdown requests refused with -1021")
    world.fault_over()


def hold_next_beats(world, policies, name: str) -> bool:
    """Hold each policy's next heartbeat (an arm signed now, to be let through later). Options: the next
    heartbeat of each of their accounts, which renews every armed underlying of the account at once."""
    if world.venue == OPTIONS:
        keys = sorted({p.api_key for p in policies})
        for api_key in keys:
            world.fault(path=OPTIONS_HEARTBEAT_PATH, api_key=api_key, hold=name, hold_timeout=120, count=1)
        return world.wait_held(name, len(keys), 3 * world.spec.interval_s + 5)
    for p in policies:
        world.fault(
            path=world.config_path,
            api_key=p.api_key,
            # An account-wide switch (OKX, Kraken Futures): the simulator logs no symbol, any request matches.
            **({"symbol": p.symbol} if p.symbol else {}),
            countdown_ms=p.countdown_ms,
            hold=name,
            hold_timeout=120,
            count=1,
        )
    return world.wait_held(name, len(policies), 3 * world.spec.interval_s + 5)


def late_window(world) -> float:
    """How long after it was signed the venue may still accept a request (the engine's own figure: the venue's
    accepts_late_ms, else the recvWindow it sends), and the clock error the engine adds before the second
    `0` (1 s)."""
    from heartbeats.exchange import venues

    late_ms = venues.VENUES[world.venue].accepts_late_ms
    if late_ms is None:
        late_ms = int(world.spec.env.get("CG_ENGINE_RECV_WINDOW_MS", 5000))
    return late_ms / 1000 + 1


def watch_second_zero(world, committed: float, released: float) -> None:
    """Long enough for the second `0` (the venue's late window + 1 s after the commit: recvWindow on Binance,
    30 s on OKX, a minute on Kraken Futures) and for the released beats' countdowns to run out if it never
    comes."""
    until = max(committed + late_window(world) + 4, released + world.spec.countdown_ms / 1000 + 2)
    time.sleep(max(0.0, until - time.time()))


def web_fallback_second_zero(world) -> None:
    """No engine alive (the whole worker SIGSTOPped, beats of two policies held in flight), Disarm all through
    the web; the held beats are let through after the first `0`s (re-arming the countdowns, as a late packet
    would), then the gunicorn worker that sent the zeros is killed (SIGKILL) before the second `0`s. Those
    must still arrive, from whichever process is alive."""
    held = [world.policies[0], world.policies[-1]]
    hold_next_beats(world, held, "old")
    world.pause_worker()
    world.wait_engine(False, 15, "the engine to look dead")
    start = time.time()
    reply = world.web_disarm_all()
    committed = time.time()
    if reply.status_code != 302:
        world.note(f"Disarm all answered {reply.status_code}")
    world.wait_zeros(world.policies, start, 15)
    released_at = time.time()
    world.note(f"{world.release('old')} held beats let through after the first `0`s")
    killed = world.web.signal_workers(9)
    world.note(f"gunicorn worker(s) {killed} killed")
    if not world.web.wait_new_worker(killed):
        world.note("gunicorn started no new worker")
    watch_second_zero(world, committed, released_at)
    accepted = [e for e in world.requests(CD) if e["held"] == "old" and e["status"] == 200]
    world.note(f"{len(accepted)} of the released beats accepted by the exchange")
    world.worker.resume()
    world.fault_over()


def disable_armed_account(world) -> None:
    """A key admin unticks "enabled" on an account whose policies are armed (the admin's change form). It
    must be refused; whatever happens, no armed countdown may run out."""
    account = world.accounts[0]
    path = f"/admin/heartbeats/exchangeaccount/{account.pk}/change/"
    form = {
        "label": account.label,
        "venue": account.venue,
        "environment": account.environment,
        "custom_base_url": account.custom_base_url,
        "egress": account.egress,
        "key_type": account.key_type,
        "new_api_key": "",
        "new_secret": "",
        "new_key_passphrase": "",
        "_save": "Save",
    }  # no "enabled": the box is unticked
    reply = world.keyadmin.post(path, form)
    world.note(f"the admin: {_answer({'value': reply})}")
    time.sleep(world.spec.countdown_ms / 1000 + 3)
    world.fault_over()


def weight(world) -> None:
    """In one calendar minute of the exchange: Disarm all, re-arm all, Disarm all, re-arm all (50 policies,
    engine alive), then a Disarm all into the nearly full minute with no engine alive
    (the web sends the zeros). The simulator's own limiter must never answer 429 or 418."""
    server_ms = world.sim.control("GET", "clock")["server_time"]
    time.sleep(60 - (server_ms / 1000) % 60 + 0.3)
    for round_no in (1, 2):
        start = time.time()
        world.disarm_all(f"fault suite round {round_no}")
        world.wait_zeros(world.policies, start, 10)
        world.arm()
        time.sleep(8)
        running = {(c["api_key_last4"], c["symbol"]) for c in world.state()["countdowns"]}
        armed = sum(1 for p in world.policies if p.key in running)
        world.note(f"round {round_no}: {armed}/{len(world.policies)} re-armed within 8 s")
    world.pause_worker()
    world.wait_engine(False, 15, "the engine to look dead")
    limit = world.spec.limits["weight_limit"]
    used = max((w.get("used_weight", 0) for w in world.state()["weights"]), default=0)
    minute_left = 60 - (world.sim.control("GET", "clock")["server_time"] / 1000) % 60
    world.note(f"web Disarm all with {used}/{limit} of the minute used, {minute_left:.0f} s of it left")
    start = time.time()
    world.web_disarm_all("fault suite: nearly full minute")
    world.wait_zeros(world.policies, start, 75)
    time.sleep(8)  # the second zeros
    world.worker.resume()
    world.fault_over()


FAST_HOLD = {"CG_ENGINE_RECV_WINDOW_MS": "8000"}

SPECS = [
    Spec("stale-edit", "1. stale policy edit vs disarm", stale_edit, web=True, settle=10),
    Spec(
        "dropped-connections",
        "2. worker's DB sessions terminated, then disarm",
        dropped_connections,
        short=True,
        only="postgresql",
    ),
    Spec("clock-1021", "3. server clock −3 s (-1021), disarms meanwhile", clock_1021, short=True),
    Spec(
        "web-fallback-second-zero",
        "4. no engine, Disarm all via web, web worker killed before 2nd `0`",
        web_fallback_second_zero,
        web=True,
        countdown_ms=12000,
        env=FAST_HOLD,
    ),
    Spec(
        "disable-armed-account",
        "5. key admin disables an account with armed policies",
        disable_armed_account,
        web=True,
        short=True,
    ),
    Spec(
        "weight",
        "6. 2 × (Disarm all + re-arm) of 50 in a minute, then Disarm all into a full minute",
        weight,
        web=True,
        policies=50,
        interval_s=60,
        countdown_ms=182_000,
        limits={"weight_limit": 1600, "ban_after": 10, "ban_seconds": 10},
        recover_limit=75,
    ),
]
