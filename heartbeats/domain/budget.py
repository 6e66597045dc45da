"""Request weight budget per egress identity (one source IP, so one Binance REQUEST_WEIGHT limit).

Figures, per minute:
- projected: every policy on an enabled account of the egress beats at WEIGHT_PER_BEAT × 60 / interval,
  armed or not -- a policy may be armed at any moment, and arming in an incident must never be refused for
  budget -- plus TIME_SYNC_WEIGHT for each account's clock sync (GET /time, weight 1, every few minutes;
  one a minute leaves room for resyncs after -1021).
- reserve: room for Disarm all inside the same minute, a disarm and its late second `0` for every policy
  (2 × WEIGHT_PER_BEAT × policies), plus KEY_CHECK_WEIGHT for a key check (openOrders without a symbol is
  weight 40) or an exchange info refresh.
- limit: the REQUEST_WEIGHT per minute from exchange info (cached by symbols.py) or reported by the egress's
  engine, the smallest one known; FALLBACK_WEIGHT_LIMIT (Binance's documented 2400) when neither is known.
- available = limit − projected − reserve. A policy that would make it negative is refused.
Accounts on one egress share the limit even across USDⓈ-M, COIN-M and Options: counting them together errs
safe (Binance counts each venue's weight apart; the engine's meters and the shared address limits do too,
per base URL). The reserve counts every switch at a futures countdown's weight, options' too (1): safe.

Per address, this minute: `spare_weight()` is the one answer to "how much may this request spend now",
asked by every sender that is not the engine (the web's fallback zeros, Cancel orders now, orders at stake),
and `disarm_reserve()` the one formula for what arms and everything else must leave for disarms (the
engine's weight meter and the pages' arm pacing use it too).
"""

import contextlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db.models import Q

from heartbeats.domain import ratelimits
from heartbeats.domain.ratelimits import FALLBACK_WEIGHT_LIMIT
from heartbeats.domain.symbols import ExchangeInfoUnavailable, cached_facts_many, exchange_facts
from heartbeats.exchange import venues
from heartbeats.models import CountdownPolicy, EngineLiveness, ExchangeAccount

WEIGHT_PER_BEAT = 10
TIME_SYNC_WEIGHT = 1
KEY_CHECK_WEIGHT = 40

__all__ = ["FALLBACK_WEIGHT_LIMIT", "KEY_CHECK_WEIGHT", "TIME_SYNC_WEIGHT", "WEIGHT_PER_BEAT"]


@dataclass(frozen=True)
class Budget:
    egress: str
    limit: int
    projected: int
    reserve: int
    available: int
    policies: int
    limit_source: str  # "exchange info", "engine" or "fallback"

    @property
    def fits(self) -> bool:
        return self.available >= 0


def beat_weight_per_minute(interval_s: int) -> float:
    return WEIGHT_PER_BEAT * 60 / interval_s


def projected_weight_per_minute(policies: Iterable) -> int:
    """Heartbeats of the given policies plus one clock sync a minute per account they belong to. A venue
    whose switches are renewed together (Binance Options) costs one heartbeat per account at its shortest
    interval, plus one configuration a minute per switch (a switch the heartbeat did not renew is configured
    again); a futures switch, one countdown per interval each."""
    policies = list(policies)
    beats = 0.0
    together: dict[int, tuple[venues.Venue, int]] = {}  # account -> (venue, shortest interval)
    for p in policies:
        spec = venues.VENUES.get(getattr(getattr(p, "account", None), "venue", ""), venues.USDM)
        if spec.limit_scope == "account":
            continue  # counted against its account's own limit (check_policy_fits), not the address's
        if spec.arming == venues.CONFIG_AND_HEARTBEAT:
            shortest = together.get(p.account_id, (spec, p.interval_s))[1]
            together[p.account_id] = (spec, min(shortest, p.interval_s))
            beats += spec.countdown_weight
        else:
            beats += beat_weight_per_minute(p.interval_s)
    beats += sum(spec.heartbeat_weight * 60 / interval for spec, interval in together.values())
    accounts = {p.account_id for p in policies if not _own_limit(p)}
    return math.ceil(beats) + TIME_SYNC_WEIGHT * len(accounts)


def _own_limit(policy) -> bool:
    venue = getattr(getattr(policy, "account", None), "venue", "")
    return venues.VENUES.get(venue, venues.USDM).limit_scope == "account"


def disarm_reserve(policies: int, countdown_weight: int = WEIGHT_PER_BEAT) -> int:
    """What disarming `policies` costs within one minute: a zero and its late second zero each, of the
    venue's countdown weight (futures 10, an options configuration 1). Arms and every other request leave it
    untouched; only disarms may spend it."""
    return 2 * countdown_weight * policies


def reserve_for(policy_count: int) -> int:
    """The budget's reserve: the disarms of every policy, and a key check or exchange-info refresh."""
    return disarm_reserve(policy_count) + KEY_CHECK_WEIGHT


class Purpose(StrEnum):
    """What a request is for, which decides what it must leave for others (`spare_weight`)."""

    DISARM = "disarm"  # zeros: may spend everything left, the reserve included
    CANCEL = "cancel"  # Cancel orders now: leaves the disarm reserve, at most a quarter of the limit
    READ = "read"  # orders at stake: leaves the disarm reserve and a minute of the policies' heartbeats


@dataclass(frozen=True)
class Spare:
    limit: int
    left: int  # what the address can still spend this minute, as the exchange last counted it
    keep: int  # what this purpose must leave for others
    why: str  # why `left` is less than the limit ("" when it is not)

    @property
    def weight(self) -> int:
        return max(0, self.left - self.keep)


def spare_weight(egress: str, base_url: str, purpose: Purpose, *, policies=None, now=None) -> Spare:
    """What a request for `purpose` may spend from this address this minute. `policies` are the address's
    policies (loaded with their accounts) when the caller has them; they are read otherwise. Nothing during a
    429 pause or a 418 ban (ratelimits.weight_left)."""
    snap = ratelimits.read(egress, base_url)
    limit = (snap.weight_limit if snap else None) or FALLBACK_WEIGHT_LIMIT
    left, why = ratelimits.weight_left(snap, now=now)
    if purpose == Purpose.DISARM:
        return Spare(limit, left, 0, why)
    if policies is None:
        policies = CountdownPolicy.objects.with_account().filter(
            account__egress=egress, account__enabled=True
        )
    here = [p for p in policies if p.account.limit_address == base_url]
    armed = [p for p in here if p.armed]
    own = _own_limit_venue(here)
    if own is not None:
        return _spare_of_account(snap, own, armed, purpose, now)
    if purpose == Purpose.CANCEL:
        # On a large desk the reserve alone can exceed the limit: a press then still gets three quarters.
        keep = min(reserve_for(len(armed)), limit // 4)
    else:
        keep = reserve_for(len(armed)) + projected_weight_per_minute(armed)
    return Spare(limit, left, keep, why)


def _own_limit_venue(policies) -> venues.Venue | None:
    """The venue of an address that counts one account's own requests (limit_scope "account"), else None."""
    for p in policies:
        spec = venues.VENUES.get(p.account.venue)
        if spec is not None and spec.limit_scope == "account":
            return spec
    return None


def _spare_of_account(snap, spec: venues.Venue, armed: list, purpose: Purpose, now) -> Spare:
    """`spare_weight` where the exchange counts one account's own requests: its venue's limit unless the
    exchange or an engine said otherwise, and what is kept is that account's own: the disarms of its armed
    switches at its venue's countdown weight and, for a reading, a minute of their renewals."""
    limit = (snap.weight_limit if snap else None) or spec.limit_per_minute or FALLBACK_WEIGHT_LIMIT
    left, why = ratelimits.weight_left(snap, limit=limit, now=now)
    keep = disarm_reserve(len(armed), spec.countdown_weight)
    if purpose == Purpose.CANCEL:
        keep = min(keep, limit // 4)
    else:
        keep += math.ceil(sum(60 / p.interval_s for p in armed) * spec.countdown_weight)
    return Spare(limit, left, keep, why)


def weight_limit(egress: str, accounts: Iterable = ()) -> tuple[int, str]:
    """(limit per minute, where it came from) for an egress, without any network call."""
    accounts = list(accounts) or list(ExchangeAccount.objects.without_secrets().filter(egress=egress))
    facts = cached_facts_many((a.base_url, a.venue) for a in accounts)
    engines = EngineLiveness.objects.filter(egress=egress, weight_limit__isnull=False).values_list(
        "weight_limit", flat=True
    )
    return smallest_limit(facts.values(), engines)


def smallest_limit(facts: Iterable, engine_limits: Iterable) -> tuple[int, str]:
    """The smallest limit known from cached exchange info (ExchangeFacts) and engines' reports, and where it
    came from; the fallback when neither knows one."""
    known = [(f.weight_limit, "exchange info") for f in facts if f is not None and f.weight_limit]
    known += [(limit, "engine") for limit in engine_limits if limit]
    if not known:
        return FALLBACK_WEIGHT_LIMIT, "fallback"
    return min(known)


def _policies_on(egress: str, *, include_account=None, exclude_account=None, exclude_policy=None) -> list:
    scope = Q(account__egress=egress, account__enabled=True)
    if include_account is not None and include_account.pk is not None:
        scope |= Q(account=include_account)
    rows = CountdownPolicy.objects.filter(scope).with_account()
    if exclude_account is not None and exclude_account.pk is not None:
        rows = rows.exclude(account=exclude_account)
    if exclude_policy is not None and exclude_policy.pk is not None:
        rows = rows.exclude(pk=exclude_policy.pk)
    return list(rows)


def _budget(egress: str, policies: list, accounts: Iterable = ()) -> Budget:
    limit, source = weight_limit(egress, accounts)
    projected = projected_weight_per_minute(policies)
    reserve = reserve_for(len(policies))
    return Budget(egress, limit, projected, reserve, limit - projected - reserve, len(policies), source)


def budget_for(egress: str) -> Budget:
    """The egress's budget as it stands: every policy of its enabled accounts."""
    return _budget(egress, _policies_on(egress))


def check_policy_fits(policy) -> None:
    """ValidationError with the figures if saving this policy (new or edited, armed or not) would overspend
    its account's egress. The account counts as enabled: it will be, before the policy can beat."""
    account = policy.account
    spec = venues.VENUES.get(account.venue, venues.USDM)
    if spec.limit_scope == "account":
        _check_account_limit(policy, spec)
        return
    others = _policies_on(account.egress, include_account=account, exclude_policy=policy)
    _refresh_limit(account)
    after = _budget(account.egress, [*others, policy])
    if after.fits:
        return
    need = after.projected - projected_weight_per_minute(others)
    room = need + after.available
    if room >= 1:
        hint = (
            f"Lengthen the interval to at least {math.ceil(WEIGHT_PER_BEAT * 60 / room)} s, remove policies"
        )
    else:
        hint = "No interval fits: remove or disable other policies"
    raise ValidationError(
        f"{policy.symbol} every {policy.interval_s} s {_figures(need, after)} {hint}, "
        f"or move the account to another egress (a worker with its own IP address).",
        code="over_budget",
    )


def _check_account_limit(policy, spec: venues.Venue) -> None:
    """A venue that limits each account on its own (exchange.venues: limit_scope): the account's switches,
    each renewed every interval, and the zeros of a Disarm all within the same minute, under its limit."""
    others = [p for p in policy.account.policies.all() if p.pk != policy.pk] if policy.account.pk else []
    switches = [*others, policy]
    calls = sum(60 / p.interval_s for p in switches) * spec.countdown_weight
    need = math.ceil(calls) + disarm_reserve(len(switches), spec.countdown_weight) + TIME_SYNC_WEIGHT
    limit = spec.limit_per_minute or FALLBACK_WEIGHT_LIMIT
    if need <= limit:
        return
    raise ValidationError(
        f"{policy.account.label} would need {need} requests a minute to {spec.label} "
        f"({len(switches)} switches renewed every interval, their Disarm all and a clock sync), over the "
        f"{limit} a minute {spec.label} allows one account. Lengthen the intervals or remove switches.",
        code="over_budget",
    )


def check_account_fits(account) -> None:
    """ValidationError with the figures if enabling this account, or moving it to its egress, would
    overspend that egress."""
    if not account.enabled or account.pk is None:
        return
    own = list(account.policies.all())
    if not own:
        return
    others = _policies_on(account.egress, exclude_account=account)
    after = _budget(account.egress, [*others, *own], accounts=[account])
    if after.fits:
        return
    need = after.projected - projected_weight_per_minute(others)
    noun = "policy" if len(own) == 1 else "policies"
    raise ValidationError(
        f"The {len(own)} {noun} of {account.label} {_figures(need, after)} "
        "Disable or remove policies, lengthen intervals, or choose another egress.",
        code="over_budget",
    )


def _figures(need: int, after: Budget) -> str:
    """'would need X/min, limit Y, reserve Z, available W' where W is what is left for X."""
    return (
        f"would need {need}/min of egress '{after.egress}': limit {after.limit}/min ({after.limit_source}), "
        f"already projected {after.projected - need}/min, reserve {after.reserve}/min "
        f"(Disarm all: 2 × {WEIGHT_PER_BEAT} × {after.policies} policies, "
        f"+ {KEY_CHECK_WEIGHT} for key checks), "
        f"available {need + after.available}/min."
    )


def _refresh_limit(account) -> None:
    """Make sure the exchange's published limit is in the cache; fall back quietly if it cannot be read."""
    with contextlib.suppress(ExchangeInfoUnavailable):
        exchange_facts(account)
