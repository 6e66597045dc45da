"""Writes committed by another database connection while a request of the test is in progress.

Use with `pytest.mark.django_db(transaction=True)`: the write is then a real commit the request's own
connection has to live with, on SQLite as on PostgreSQL.
"""

import threading

from django.db import connections


def commit_elsewhere(write, timeout=10.0):
    """Run `write()` on a thread of its own, so on a connection of its own, committed when it returns; wait
    for it and return its value (its exception is raised here)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = write()
        except BaseException as exc:  # raised in the test's thread below
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="concurrent-write", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the concurrent write did not finish"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def during(monkeypatch, owner, name, write):
    """Make the first call of `owner.name`, a function the request calls, wait for `write()` committed
    elsewhere first. Once: `write` may itself be a request that calls the same function."""
    real = getattr(owner, name)
    pending = [write]

    def wrapped(*args, **kwargs):
        if pending:
            commit_elsewhere(pending.pop())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)
