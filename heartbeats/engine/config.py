"""The engine's tunables, read once from settings (ENGINE_*), overridable per Engine for tests."""

from dataclasses import dataclass, fields, replace

from django.conf import settings

from heartbeats.domain.ratelimits import BAN_PAUSE, RATE_LIMIT_PAUSE
from heartbeats.exchange import venues


@dataclass(frozen=True)
class EngineConfig:
    # Lease: taken over this long after its holder stopped renewing. The holder renews often and stops
    # sending `lease_margin` before its lease could have run out, so two holders never overlap.
    lease_ttl: float = 3.0
    lease_renew_every: float = 1.0
    lease_margin: float = 0.4
    # A standby looks at the lease when it changes hands (wakeup.py), when it could have run out, and at the
    # latest this often.
    standby_poll_every: float = 1.0
    liveness_every: float = 1.0
    # A standby's liveness record (what `engine_status` and the duties page list) is written less often.
    standby_publish_every: float = 5.0
    # People's changes wake the watcher (wakeup.py: a disarm goes out within a few ms plus one round trip);
    # it also looks this often whatever happened, which keeps `desired_read_at` fresh. The whole policy set
    # is reloaded every `full_reload_every` to notice deletions and moved accounts.
    poll_every: float = 1.0
    full_reload_every: float = 10.0
    # No arm is signed from memory once desired state has been unreadable this long (the database is
    # down, or this engine's connections are): it could not see a disarm. Below EngineLiveness.DEAF_AFTER,
    # from which the web sends the disarms itself.
    desired_stale_after: float = 3.0
    accounts_poll_every: float = 1.0
    # How often the address's limits (used weight, 429 pause, 418 ban) are shared with other processes.
    limits_every: float = 1.0
    write_every: float = 0.05
    # Accepted arms are stored together within this (records.Writer): one commit for several beats.
    write_gather: float = 0.5
    # Threads sending arms (each keeps a database connection for the re-read before signing); disarms go
    # through a second pool grown to one thread per policy (at most `pool_max`), so Disarm all is one round.
    pool_size: int = 16
    pool_max: int = 256
    recv_window_ms: int = 5000
    # Worst error of our server-clock estimate, added to recvWindow before the second disarm `0`.
    clock_error_ms: int = 1000
    connect_timeout: float = 3.05
    read_timeout: float = 5.0
    time_sync_every: float = 60.0
    source_address: str | None = None
    # Beats due this soon after an engine stops are sent early, so the hand-over has nothing due.
    handover_window: float = 0.2
    # Beats are spread at least this far apart (a send costs the exchange client ~2-3 ms of CPU), pulled
    # earlier (never later) by at most `spread_max_pull` or a tenth of the interval.
    spread_gap: float = 0.02
    spread_max_pull: float = 2.0
    # Default pause after a 429 without Retry-After, and after a 418 without one.
    rate_limit_pause: float = RATE_LIMIT_PAUSE
    ban_pause: float = BAN_PAUSE

    @classmethod
    def from_settings(cls, **overrides) -> "EngineConfig":
        values = {}
        for field in fields(cls):
            name = f"ENGINE_{field.name.upper()}"
            if hasattr(settings, name):
                values[field.name] = getattr(settings, name)
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes) -> "EngineConfig":
        return replace(self, **changes)

    def final_delay_for(self, venue_key: str) -> float:
        """final_disarm_delay on a venue: its own acceptance window where it has one (exchange.venues:
        accepts_late_ms; a venue with strictly increasing nonces refuses an earlier-signed request once a
        later one is accepted, leaving only the clock error between processes), else recvWindow's."""
        late = venues.VENUES.get(venue_key, venues.USDM).accepts_late_ms
        return self.final_disarm_delay if late is None else (late + self.clock_error_ms) / 1000

    def client_options(self, **extra) -> dict:
        """Keyword arguments for accounts.client_for: the same timeouts and source address for every send."""
        return {
            "recv_window": self.recv_window_ms,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "source_address": self.source_address,
            **extra,
        }

    @property
    def final_disarm_delay(self) -> float:
        """After this long since a disarm was committed, no beat signed before it can be accepted."""
        return (self.recv_window_ms + self.clock_error_ms) / 1000
