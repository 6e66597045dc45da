"""One database per scenario, and the database faults.

SQLite: a file in the scenario's folder (migrated by the scenario's process; with FAULT_SUITE_SQLITE_FROM
naming an already migrated SQLite database of the same code, as the tests do, a copy of that instead, which
the migrations then leave as it is). PostgreSQL: a database created for the scenario on the server named
by --database (the role needs CREATEDB, as in .ci/run) and dropped afterwards; the faults touch only that
database, so other people's databases on the same server are left alone (the "unreachable" fault refuses
new connections to it and ends its sessions instead of stopping the whole server).
"""

import contextlib
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit


class Database:
    vendor = ""

    @staticmethod
    def create(spec: str, folder: Path, name: str) -> "Database":
        if spec in ("", "sqlite"):
            database = SqliteDatabase(folder / "fault.sqlite3")
            migrated = os.environ.get("FAULT_SUITE_SQLITE_FROM")
            if migrated:  # a database of these migrations, already migrated: a copy of it to start from
                with (
                    contextlib.closing(sqlite3.connect(migrated)) as source,
                    contextlib.closing(sqlite3.connect(database.path)) as copy,
                ):
                    source.backup(copy)
            return database
        if spec.startswith(("postgres://", "postgresql://")):
            return PostgresDatabase(spec, name)
        raise SystemExit(f"--database must be 'sqlite' or a postgres:// URL, not {spec!r}")

    url: str

    def terminate_backends(self, application_name: str) -> int:
        raise NotImplementedError

    @contextlib.contextmanager
    def locked(self, seconds: float):
        raise NotImplementedError
        yield

    def unreachable(self, seconds: float) -> None:
        raise NotImplementedError

    def in_transaction(self, application_name: str) -> bool:
        """Whether a (paused) process holds a transaction open that people's writes would wait for."""
        raise NotImplementedError

    def writing_policies(self, application_name: str) -> bool:
        """Whether a (paused) process is inside a transaction that wrote policy rows: a disarm needs those."""
        return self.in_transaction(application_name)

    def drop(self) -> None:
        pass


class SqliteDatabase(Database):
    vendor = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self.url = f"sqlite:///{path}"

    def in_transaction(self, application_name: str) -> bool:
        """SQLite has one write lock for the whole file: can another writer get it within a second?"""
        con = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            con.close()

    @contextlib.contextmanager
    def locked(self, seconds: float):
        """Another connection holds the write lock (BEGIN EXCLUSIVE; in WAL mode readers go on) for
        `seconds`, in a thread; yields at once."""

        def hold(taken):
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                con.execute("BEGIN EXCLUSIVE")
                taken.set()
                time.sleep(seconds)
                con.execute("COMMIT")
            finally:
                con.close()

        with held_in_thread(hold, seconds, "sqlite-lock"):
            yield


@contextlib.contextmanager
def held_in_thread(hold, seconds: float, name: str):
    """Runs hold(taken) in a thread (it sets `taken` once its lock is held, then keeps it `seconds`); yields
    once the lock is held (or hold failed), and waits for the thread at the end."""
    taken = threading.Event()

    def run():
        try:
            hold(taken)
        finally:
            taken.set()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    taken.wait(30)
    try:
        yield
    finally:
        thread.join(seconds + 30)


class PostgresDatabase(Database):
    vendor = "postgresql"

    def __init__(self, admin_url: str, name: str):
        import psycopg

        self._psycopg = psycopg
        parts = urlsplit(admin_url)
        self.admin_db = unquote(parts.path.lstrip("/")) or "postgres"
        self.name = re.sub(r"[^a-z0-9_]", "_", f"{self.admin_db}_fault_{name}".lower())[:63]
        auth = ""
        if parts.username:
            auth = quote(unquote(parts.username))
            if parts.password is not None:
                auth += ":" + quote(unquote(parts.password), safe="")
            auth += "@"
        host = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
        self._admin_url = f"postgresql://{auth}{host}/{quote(self.admin_db)}"
        self.url = f"postgres://{auth}{host}/{self.name}"
        with self._admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            con.execute(f'CREATE DATABASE "{self.name}"')

    def _admin(self):
        return self._psycopg.connect(self._admin_url, autocommit=True, connect_timeout=10)

    def terminate_backends(self, application_name: str) -> int:
        """pg_terminate_backend on every session of the scenario's database opened by processes started with
        PGAPPNAME=`application_name` (libpq reads it: the worker's processes are started with their own)."""
        with self._admin() as con:
            rows = con.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = %s",
                [self.name, application_name],
            ).fetchall()
        return sum(1 for (done,) in rows if done)

    def in_transaction(self, application_name: str) -> bool:
        """A session of `application_name` inside a transaction: it may hold row locks people need."""
        with self._admin() as con:
            rows = con.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s "
                "AND xact_start IS NOT NULL",
                [self.name, application_name],
            ).fetchone()
        return rows[0] > 0

    def writing_policies(self, application_name: str) -> bool:
        """A session of `application_name` inside a transaction that updated policy rows (the engine's
        writer storing a beat's facts): it holds those rows' locks until it commits."""
        url = self._admin_url.rsplit("/", 1)[0] + "/" + quote(self.name)
        with self._psycopg.connect(url, connect_timeout=10, autocommit=True) as con:
            rows = con.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.application_name = %s AND l.mode = 'RowExclusiveLock' "
                "AND l.relation = 'heartbeats_countdownpolicy'::regclass",
                [application_name],
            ).fetchone()
        return rows[0] > 0

    @contextlib.contextmanager
    def locked(self, seconds: float):
        """The engine's tables locked (ACCESS EXCLUSIVE) by another session for `seconds`, in a thread."""
        url = self._admin_url.rsplit("/", 1)[0] + "/" + quote(self.name)

        def hold(taken):
            with self._psycopg.connect(url, connect_timeout=10) as con:
                con.execute(
                    "LOCK TABLE heartbeats_duty, heartbeats_engineliveness, "
                    "heartbeats_countdownpolicy, heartbeats_beat IN ACCESS EXCLUSIVE MODE"
                )
                taken.set()
                time.sleep(seconds)
                con.rollback()

        with held_in_thread(hold, seconds, "pg-lock"):
            yield

    def unreachable(self, seconds: float) -> None:
        """New connections refused and every session ended, for `seconds` (blocking)."""
        with self._admin() as con:
            con.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
            try:
                con.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.name],
                )
                time.sleep(seconds)
            finally:
                con.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        with contextlib.suppress(Exception), self._admin() as con:
            con.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')
            con.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
