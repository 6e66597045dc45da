"""Strategies against the simulator: accounts and policies there, and helpers to make a strategy."""

from heartbeats.desk.strategies import pings
from heartbeats.models.strategies import Strategy
from tests.engine.conftest import engine_thread, fast_config, make_account, make_policy  # noqa: F401
from tests.waiting import wait_for  # noqa: F401
from tests.web.conftest import key_admin, operator, viewer  # noqa: F401  the web tests' users


def make_strategy(policies=(), *, name="mm-bot", grace_s=5, **fields) -> tuple[Strategy, str]:
    """A strategy holding `policies`, and its ping key."""
    key = pings.new_key()
    strategy = Strategy.objects.create(
        name=name, grace_s=grace_s, ping_key_hash=pings.digest(key), ping_key_hint=key[:6], **fields
    )
    for policy in policies:
        policy.strategy = strategy
        policy.save(update_fields=["strategy"])
    return strategy, key
