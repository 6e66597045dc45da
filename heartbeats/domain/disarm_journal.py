"""Disarms pressed while the database could not take them, kept on this host's disk until it can.

A process that hangs inside a write transaction (stopped, swapped out, a debugger) holds a lock that a
disarm needs: on SQLite the database's one write lock, on PostgreSQL the policies' rows. A disarm must not
wait on it. So when the press cannot take its locks within a moment (heartbeats.desk.actions), it writes
its intent here -- which policies, who, from where, why, when -- sends the zeros itself, and the intent is
recorded in the database, audited and followed up (second zeros) the moment the lock is free: by the
process that pressed, by any web process starting on this host, and by the `disarm-journal` duty.

Until then the intent is binding on this host: the engine signs no arm for a policy a pending entry names
(engine/plan.vet asks `names()`), so a worker that wakes up cannot re-arm what was disarmed.

One file per intent, written whole (a temporary file renamed into place) and claimed by renaming it, so two
processes never record one twice.
"""

import contextlib
import json
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

SUFFIX = ".json"
CLAIMED = ".claimed"
# A claim older than this whose process is gone is taken again (its claimant died while recording it).
CLAIM_STALE_S = 60.0


@dataclass
class Entry:
    action: str  # heartbeats.models.Action: disarm, disarm_all, disarm_selected
    policy_ids: list[int]
    reason: str
    user_id: int | None = None
    username: str = ""
    ip: str | None = None
    account_ids: list[int] | None = None
    pressed_at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # What the press sent itself, per policy: {"policy": id, "outcome": ..., "message": ...}.
    sent: list[dict] = field(default_factory=list)


def directory() -> Path:
    return Path(settings.DISARM_JOURNAL_DIR)


def write(entry: Entry, *, durable: bool = True) -> Path:
    """Keep `entry` on disk, durably, before anything is sent for it."""
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry.id}{SUFFIX}"
    temporary = folder / f".{entry.id}.tmp"
    with open(temporary, "w") as out:
        json.dump(asdict(entry), out)
        if durable:
            out.flush()
            os.fsync(out.fileno())
    os.replace(temporary, path)
    if durable:
        _sync(folder)
    _seen.forget()
    return path


def update(entry: Entry) -> None:
    """Rewrite a pending entry (what was sent for it; the intent itself is on disk already, so no wait for
    the disk here); gone already (recorded) is fine."""
    path = directory() / f"{entry.id}{SUFFIX}"
    if path.exists():
        write(entry, durable=False)


def pending(older_than: float = 0.0) -> list[Entry]:
    """Entries not yet recorded (claimed ones whose claimant died included), oldest first."""
    now = time.time()
    found = []
    for path in _files():
        entry = _read(path)
        if entry is not None and now - entry.pressed_at >= older_than:
            found.append(entry)
    return sorted(found, key=lambda e: e.pressed_at)


def names(policy_id: int) -> bool:
    """Whether a pending entry disarms `policy_id`. Asked before every arm is signed: one stat of the
    directory, the files read again only when it changed."""
    return policy_id in _seen.policies()


def claim(entry: Entry) -> Path | None:
    """Take `entry` to record it; None when another process has (or it is recorded already)."""
    folder = directory()
    claimed = folder / f"{entry.id}{SUFFIX}{CLAIMED}-{os.getpid()}"
    for source in (folder / f"{entry.id}{SUFFIX}", *_stale_claims(folder, entry.id)):
        try:
            os.rename(source, claimed)
        except FileNotFoundError:
            continue
        _seen.forget()
        return claimed
    return None


def release(claimed: Path) -> None:
    """Give a claimed entry back (recording it failed; it is tried again)."""
    original = claimed.with_name(claimed.name.split(CLAIMED, 1)[0])
    with contextlib.suppress(FileNotFoundError):
        os.rename(claimed, original)
    _seen.forget()


def done(claimed: Path) -> None:
    """The entry is recorded in the database: it binds nobody any more."""
    with contextlib.suppress(FileNotFoundError):
        claimed.unlink()
    _sync(claimed.parent)
    _seen.forget()


# ---- files ----------------------------------------------------------------------------------------------


def _files() -> list[Path]:
    folder = directory()
    try:
        names_ = os.listdir(folder)
    except FileNotFoundError:
        return []
    files = [folder / n for n in names_ if n.endswith(SUFFIX)]
    files += [folder / n for n in names_ if CLAIMED in n and _claim_is_stale(folder / n)]
    return files


def _entry_paths() -> list[Path]:
    """Pending and claimed entries (being recorded is not recorded yet)."""
    folder = directory()
    try:
        names_ = os.listdir(folder)
    except FileNotFoundError:
        return []
    return [folder / n for n in names_ if n.endswith(SUFFIX) or CLAIMED in n]


def _stale_claims(folder: Path, entry_id: str) -> list[Path]:
    try:
        names_ = os.listdir(folder)
    except FileNotFoundError:
        return []
    return [
        folder / n for n in names_ if n.startswith(entry_id) and CLAIMED in n and _claim_is_stale(folder / n)
    ]


def _claim_is_stale(path: Path) -> bool:
    """A claim whose process is gone, or that has lasted implausibly long."""
    pid = path.name.rsplit("-", 1)[-1]
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return age > CLAIM_STALE_S


def _read(path: Path) -> Entry | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Entry(**data)


def _sync(folder: Path) -> None:
    """The rename itself durable: a crash must not lose an intent already acted on."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Seen:
    """The policies pending entries name, read again only when the directory changes.

    A directory's mtime is coarse (the kernel's clock tick): a change in the same tick as the stamp taken
    leaves it as it was. So a listing is kept only when no entry vanished while it was read (claimed or
    released meanwhile) and the directory last changed longer ago than a tick could hide, as git does with
    a "racy" index; otherwise the next call reads again."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._policies: frozenset[int] = frozenset()

    def forget(self) -> None:
        with self._lock:
            self._stamp = None

    def policies(self) -> frozenset[int]:
        try:
            st = os.stat(directory())
        except FileNotFoundError:
            return frozenset()
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        with self._lock:
            if stamp == self._stamp:
                return self._policies
        ids, complete = _named_policies()
        if complete and time.time_ns() - st.st_mtime_ns > RACY_NS:
            with self._lock:
                self._stamp, self._policies = stamp, ids
        return ids


# Longer than any clock tick a file system stamps times with (1–10 ms).
RACY_NS = 50_000_000


def _named_policies(attempts: int = 5) -> tuple[frozenset[int], bool]:
    """Every policy a pending or claimed entry names, and whether the listing was whole: an entry renamed
    between the listing and its read (claimed, released) is looked for again under its new name."""
    ids: set[int] = set()
    for _ in range(attempts):
        vanished = False
        for path in _entry_paths():
            try:
                ids.update(json.loads(path.read_text())["policy_ids"])
            except FileNotFoundError:
                vanished = True
            except (ValueError, KeyError, TypeError):
                continue  # not an entry this code wrote; recording it will say so
        if not vanished:
            return frozenset(ids), True
    return frozenset(ids), False


_seen = _Seen()
