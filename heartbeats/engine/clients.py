"""One keep-alive exchange client per account (its own session, signer and clock offset), rebuilt when the
account changes (key rotation, new base URL)."""

import logging
from dataclasses import dataclass

from heartbeats.domain.clients import client_for
from heartbeats.engine.config import EngineConfig
from heartbeats.exchange import venues
from heartbeats.exchange.errors import ExchangeError

log = logging.getLogger(__name__)


@dataclass
class Entry:
    account_id: int
    label: str
    endpoint: tuple[str, str]  # (base URL, venue): one weight budget and one clock
    version: object
    client: object | None
    error: str = ""

    @property
    def spec(self) -> venues.Venue:
        return venues.venue(self.endpoint[1])

    @property
    def renews_many(self) -> bool:
        """The venue's switches are configured once and renewed together by one heartbeat per account."""
        return self.spec.arming == venues.CONFIG_AND_HEARTBEAT


class Clients:
    def __init__(self, config: EngineConfig):
        self.config = config
        self._entries: dict[int, Entry] = {}

    def update(self, accounts) -> list[Entry]:
        """Build clients for new or changed accounts; forget accounts that are gone. Returns new entries."""
        built = []
        seen = set()
        for account in accounts:
            seen.add(account.pk)
            version = (account.updated_at, account.base_url, account.venue, account.key_type)
            entry = self._entries.get(account.pk)
            if entry is not None and entry.version == version:
                continue
            if entry is not None and entry.client is not None:
                entry.client.close()
            entry = self._build(account, version)
            self._entries[account.pk] = entry
            built.append(entry)
        for account_id in set(self._entries) - seen:
            old = self._entries.pop(account_id)
            if old.client is not None:
                old.client.close()
        return built

    def _build(self, account, version) -> Entry:
        endpoint = (account.limit_address, account.venue)
        cfg = self.config
        try:
            client = client_for(
                account,
                # The engine refreshes offsets itself, off the beat path; this is only the fallback.
                **cfg.client_options(time_sync_every=cfg.time_sync_every + 30, pool_maxsize=cfg.pool_max),
            )
        except (ExchangeError, ValueError) as exc:
            # InvalidKeyError is both; the message never holds key material.
            log.error("account %s: cannot build an exchange client: %s", account.label, exc)
            return Entry(
                account.pk, account.label, endpoint, version, None, f"The API key cannot be used: {exc}"
            )
        return Entry(account.pk, account.label, endpoint, version, client)

    def get(self, account_id: int) -> Entry | None:
        return self._entries.get(account_id)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def close(self) -> None:
        for entry in self._entries.values():
            if entry.client is not None:
                entry.client.close()
        self._entries.clear()
