"""Waking the engine's threads when the database changes, instead of querying it many times a second.

- PostgreSQL: LISTEN. Triggers (migrations 0005, 0011, 0023) notify `DESIRED` when people change a policy or
  an account, `LEASE` when a lease changes hands, and a channel per other subject (maintenance windows,
  strategies, notifications, Cancel orders); the notification arrives when the change commits.
- SQLite: the kernel says when the database's files are written (inotify on Linux), and only then is
  `PRAGMA data_version` read, which changes whenever another connection has committed; then the subjects'
  counters (models.ChangeCount, kept by the same triggers) say whether the commit was about what this feed
  waits on, so a beat being recorded wakes no one who waits for a maintenance window. Where inotify is
  missing, data_version is read every `TICK`.

`wait()` returns the channels that may have news (an empty set, which is false, when none has).

Either way the caller keeps a slow backstop (it waits with a timeout): a feed is a hint to look now, never
the only reason to look. A feed that cannot tell (its connection failed) says "maybe changed", so the caller
reads and finds out; its connection is made again at the next wait.
"""

import ctypes
import logging
import os
import select
import struct
import threading
import time

from django.db import connection, connections

from heartbeats.models import ChangeCount

log = logging.getLogger(__name__)

DESIRED = "countdown_guard_desired"
LEASE = "countdown_guard_lease"
MAINTENANCE = "countdown_guard_maintenance"
STRATEGIES = "countdown_guard_strategies"
NOTIFICATIONS = "countdown_guard_notifications"
ORDERS = "countdown_guard_orders"
# How often SQLite's data_version is read without inotify.
TICK = 0.02
# The longest a blocking wait goes without looking at the stop event (the engine hands its lease over
# before it waits for the threads that use a feed, so this never delays a hand-over).
SLICE = 1.0
# After a write to the file that data_version does not show yet, it is read again this long after it (s),
# unless another write comes first: a commit writes its frames a moment before it becomes visible.
RECHECKS = (0.002, 0.01, 0.04)


class ChangeFeed:
    """Owned by one thread. `wait(timeout, stop)` returns the channels that may hold news as soon as one may,
    an empty set after `timeout` seconds without any, or soon after `stop` is set (at once if whoever sets it
    also calls `interrupt()`, which any thread may)."""

    channels: frozenset[str] = frozenset()

    def wait(self, timeout: float, stop: threading.Event) -> set[str]:
        raise NotImplementedError

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass


class _DataVersion:
    """PRAGMA data_version on the owning thread's connection (None: unreadable, or a new connection), and
    the counters of `channels` once it moved."""

    def __init__(self, channels=()):
        self._db = connections["default"]
        self.seen: int | None = None
        self.channels = frozenset(channels)
        self._counts: dict | None = None

    def read(self) -> int | None:
        try:
            if self._db.connection is None:
                self._db.ensure_connection()
            return self._db.connection.execute("PRAGMA data_version").fetchone()[0]
        except Exception as exc:  # the caller's next query reports the database's trouble
            log.debug("data_version unreadable: %s", exc)
            self._db.close()
            return None

    def moved(self) -> set[str]:
        """The channels whose counters changed since the last call (all of them when it cannot tell)."""
        version = self.read()
        if version is not None and version == self.seen:
            return set()
        self.seen = version
        counts = self._read_counts() if version is not None else None
        before, self._counts = self._counts, counts
        if counts is None or before is None:
            return set(self.channels)
        return {c for c in self.channels if counts.get(c) != before.get(c)}

    def _read_counts(self) -> dict | None:
        if not self.channels:
            return {}
        try:
            marks = ", ".join("?" for _ in self.channels)
            rows = self._db.connection.execute(
                f"SELECT channel, version FROM {ChangeCount._meta.db_table} WHERE channel IN ({marks})",  # noqa: S608
                tuple(self.channels),
            ).fetchall()
        except Exception as exc:
            log.debug("change counters unreadable: %s", exc)
            return None
        return dict(rows)


class DataVersionFeed(ChangeFeed):
    """SQLite without inotify: data_version read every `tick`."""

    def __init__(self, *channels: str, tick: float = TICK):
        self.channels = frozenset(channels)
        self.tick = tick
        self._version = _DataVersion(channels)

    def wait(self, timeout: float, stop: threading.Event) -> set[str]:
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            moved = self._version.moved()
            if moved:
                return moved
            left = deadline - time.monotonic()
            if left <= 0:
                return set()
            if self.tick < SLICE:
                time.sleep(min(self.tick, left))  # cheaper than Event.wait, many times a second
            else:
                stop.wait(min(self.tick, left))  # a slow feed: its stop must not wait for the tick
        return set()


class FileFeed(ChangeFeed):
    """SQLite on Linux: asleep until the kernel reports a write to the database file or its WAL."""

    _IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100
    _IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000

    def __init__(self, path: str, *channels: str):
        self.channels = frozenset(channels)
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(self._IN_NONBLOCK | self._IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = self._IN_MODIFY | self._IN_CLOSE_WRITE | self._IN_MOVED_TO | self._IN_CREATE
        directory = os.path.dirname(os.path.abspath(path))
        if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
            errno = ctypes.get_errno()
            os.close(fd)
            raise OSError(errno, f"inotify_add_watch {directory}")
        self._fd = fd
        # interrupt() writes here, ending a wait at once (the thread stopping, say).
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_read, False)
        os.set_blocking(self._wakeup_write, False)
        self._closing = threading.Lock()
        base = os.path.basename(path)
        self._names = {os.fsencode(base + suffix) for suffix in ("", "-wal", "-journal")}
        self._version = _DataVersion(channels)

    def wait(self, timeout: float, stop: threading.Event) -> set[str]:
        if self._version.seen is None:
            self._version.moved()
            return set(self.channels)  # a new connection: nothing is known about before it
        now = time.monotonic()
        deadline = now + timeout
        rechecks: list[float] = []  # when to look again after a write that was not yet visible
        while not stop.is_set():
            left = deadline - now
            if left <= 0:
                return set()
            until = min(left, SLICE, rechecks[0] - now) if rechecks else min(left, SLICE)
            ready, _, _ = select.select([self._fd, self._wakeup_read], [], [], max(0.0, until))
            if self._wakeup_read in ready:
                self._drain_interrupts()
                return set()
            now = time.monotonic()
            written = bool(ready) and self._written()
            if written or (rechecks and now >= rechecks[0]):
                seen = self._version.seen
                moved = self._version.moved()
                if moved:
                    return moved
                if self._version.seen != seen:
                    # A commit about something else: one more look, for a commit that closely followed it.
                    rechecks = [now + RECHECKS[1]] if written else []
                else:  # not visible yet
                    rechecks = [now + delay for delay in RECHECKS] if written else rechecks[1:]
        return set()

    def _written(self) -> bool:
        """Drain the pending events; whether any of them was a write to the database's files."""
        written = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return written
            offset = 0
            while offset < len(data):
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16 : offset + 16 + length].rstrip(b"\0")
                written = written or name in self._names
                offset += 16 + length

    def interrupt(self) -> None:
        with self._closing:  # never a write to a descriptor closed (and perhaps reused) meanwhile
            if self._fd is not None:
                os.write(self._wakeup_write, b"!")

    def _drain_interrupts(self) -> None:
        try:
            while os.read(self._wakeup_read, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        with self._closing:
            if self._fd is not None:
                for fd in (self._fd, self._wakeup_read, self._wakeup_write):
                    os.close(fd)
                self._fd = None


class NotifyFeed(ChangeFeed):
    """PostgreSQL: LISTEN on `channels` over a connection of its own (Django's may be closed and replaced at
    any time, which would silently end the LISTEN)."""

    def __init__(self, *channels: str, tick: float = 0.25):
        self.channels = frozenset(channels)
        self.tick = tick
        self._conn = None

    def _connect(self) -> None:
        # Only on PostgreSQL: an SQLite-only installation need not have psycopg's driver load.
        import psycopg
        from psycopg import sql

        params = connection.get_connection_params()
        self._conn = psycopg.Connection.connect(**params, autocommit=True)
        for channel in self.channels:
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def wait(self, timeout: float, stop: threading.Event) -> set[str]:
        if self._conn is None:
            try:
                self._connect()
            except Exception as exc:
                log.debug("cannot listen for changes: %s", exc)
                self.close()
                stop.wait(min(timeout, 0.5))
            return set(self.channels)  # not listening before now: something may have changed unseen
        waited = 0.0
        try:
            while waited < timeout and not stop.is_set():
                step = min(self.tick, timeout - waited)
                heard = {n.channel for n in self._conn.notifies(timeout=step, stop_after=1)}
                if heard:
                    return heard | self._drain()
                waited += step
        except Exception as exc:
            log.debug("listening for changes failed: %s", exc)
            self.close()
            return set(self.channels)
        return set()

    def _drain(self) -> set[str]:
        """Several commits in a row are one piece of news: the caller reads everything anyway."""
        return {n.channel for n in self._conn.notifies(timeout=0, stop_after=1000)}

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception as exc:
                log.debug("closing the listening connection: %s", exc)
            self._conn = None


def feed(*channels: str, tick: float | None = None, prompt: bool = True) -> ChangeFeed:
    """A feed for this thread's database: notifications on PostgreSQL, the file's writes on SQLite.

    `tick`: how often a wait looks at its stop event (PostgreSQL), or, for a feed that need not be `prompt`,
    at the database (SQLite): every commit on SQLite wakes every prompt feed, so one that can wait a moment
    (a duty, a standby) reads data_version each `tick` instead of being woken many times a second by beats
    being recorded."""
    if connection.vendor == "postgresql":
        return NotifyFeed(*channels, **({"tick": tick} if tick else {}))
    if not prompt:
        return DataVersionFeed(*channels, tick=tick or SLICE)
    path = str(connection.settings_dict["NAME"])
    if path and not path.startswith("file:") and ":memory:" not in path:
        try:
            return FileFeed(path, *channels)
        except (OSError, AttributeError) as exc:  # not Linux, or no inotify watches left
            log.info("cannot watch %s for changes (%s); reading data_version every %g s", path, exc, TICK)
    return DataVersionFeed(*channels)
