"""A disarm never waits on another process's database locks: a process stopped inside a write transaction
(SIGSTOP, a debugger) holds them as long as it stays stopped. The disarm's zeros go at once, its intent is
kept in the disarm journal (binding on this host's engine), and it is recorded -- audited, second zeros and
all -- the moment the locks are free."""

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection, connections
from django.urls import reverse

from heartbeats.desk import actions
from heartbeats.domain import disarm_journal, roles
from heartbeats.domain.work import work
from heartbeats.engine import sender
from heartbeats.engine.sql import desired
from heartbeats.models import Action, CountdownPolicy, Operation
from tests.engine.conftest import armed_symbols, countdown_requests, wait_for
from tests.engine.test_actions import arm_on_exchange

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
# The press waits DISARM_LOCK_WAIT (0.3 s) for the locks, then sends: it answers within a second.
ANSWER_WITHIN = 1.0


@pytest.fixture(autouse=True)
def journal(settings, tmp_path):
    settings.DISARM_JOURNAL_DIR = tmp_path / "disarm-journal"
    settings.DISARM_LOCK_WAIT = 0.3  # production's
    yield settings.DISARM_JOURNAL_DIR


@contextmanager
def locks_held_by_another_process(policy_ids):
    """Another connection stopped in the middle of a write transaction, as a frozen worker's writer would
    be: on SQLite it holds the one write lock, on PostgreSQL the policies' rows."""
    other = connections.create_connection("default")
    other.ensure_connection()
    raw = other.connection
    table = connection.ops.quote_name(CountdownPolicy._meta.db_table)
    ids = ",".join(str(int(pk)) for pk in policy_ids)
    cursor = raw.cursor()
    cursor.execute("BEGIN IMMEDIATE" if connection.vendor == "sqlite" else "BEGIN")
    cursor.execute(f"UPDATE {table} SET last_error = 'writing' WHERE id IN ({ids})")  # noqa: S608
    released = threading.Event()
    try:
        yield released
    finally:
        cursor.execute("ROLLBACK")
        released.set()
        other.close()


def _desk(make_account, make_policy):
    account = make_account()
    return [make_policy(account, s, interval_s=5, countdown_ms=60_000) for s in SYMBOLS]


def test_a_disarm_all_goes_around_held_locks_and_is_recorded_once_they_are_free(
    simulator, make_account, make_policy
):
    policies = _desk(make_account, make_policy)
    arm_on_exchange(simulator, policies)
    assert armed_symbols(simulator) == set(SYMBOLS)
    with locks_held_by_another_process([p.pk for p in policies]):
        started = time.monotonic()
        held = actions.disarm_all(user=None, username="olga", ip="10.0.0.7", reason="exchange incident")
        took = time.monotonic() - started
        assert isinstance(held, actions.HeldDisarm), held
        assert took < ANSWER_WITHIN, f"the press took {took:.2f} s"
        assert held.confirmed == len(SYMBOLS)
        assert armed_symbols(simulator) == set(), "every zero reached the exchange"
        # Kept on disk until recorded, and binding: no engine on this host arms these policies meanwhile.
        assert all(disarm_journal.names(p.pk) for p in policies)
        assert all(sender.read_desired(p.pk)[2] == sender.JOURNAL_HOLD for p in policies)
        time.sleep(0.5)  # a real interval: the locks still held, nothing recorded yet
        assert not Operation.objects.filter(action=Action.DISARM_ALL).exists()
    # The locks freed: the process that pressed records it at once.
    operation = wait_for(
        lambda: Operation.objects.filter(action=Action.DISARM_ALL).first(), timeout=5, message="recorded"
    )
    assert (operation.username, operation.ip, operation.reason) == ("olga", "10.0.0.7", "exchange incident")
    assert operation.changes["recorded_late_s"] >= 0.5
    assert operation.changes["zeros_sent_while_held"] == len(SYMBOLS)
    assert {t.symbol for t in operation.targets.all()} == set(SYMBOLS)
    assert not any(
        CountdownPolicy.objects.filter(pk__in=[p.pk for p in policies]).values_list("armed", flat=True)
    )
    # Each journal entry goes once the database holds its disarm: just after the commit that recorded it.
    wait_for(
        lambda: disarm_journal.pending() == [] and not any(disarm_journal.names(p.pk) for p in policies),
        timeout=5,
        message="the journal emptied",
    )
    assert all(desired(p.pk)[2] == "" and sender.read_desired(p.pk)[2] == "" for p in policies)
    # Its follow-up (the second zeros and their beats) ends on that thread before the test's database goes.
    work.join(f"record-disarm-{held.entry.id}", timeout=15)
    assert f"record-disarm-{held.entry.id}" not in work.running()


def test_a_journal_entry_whose_presser_died_is_recorded_by_the_duty(simulator, make_account, make_policy):
    policies = _desk(make_account, make_policy)
    arm_on_exchange(simulator, policies)
    entry = disarm_journal.Entry(
        action=Action.DISARM_SELECTED, policy_ids=[policies[0].pk], reason="drill", username="olga"
    )
    disarm_journal.write(entry)  # the web process that wrote it was killed before it could record it
    entry.pressed_at -= 10
    disarm_journal.update(entry)
    assert actions.record_held_disarms() == 1
    assert actions.record_held_disarms() == 0, "recorded once"
    operation = Operation.objects.get(action=Action.DISARM_SELECTED)
    assert operation.username == "olga" and operation.changes["recorded_late_s"] >= 10
    assert not CountdownPolicy.objects.get(pk=policies[0].pk).armed
    assert CountdownPolicy.objects.get(pk=policies[1].pk).armed


def test_the_disarm_all_page_answers_at_once_while_the_database_is_held(
    client, django_user_model, simulator, make_account, make_policy
):
    policies = _desk(make_account, make_policy)
    arm_on_exchange(simulator, policies)
    olga = django_user_model.objects.create_user("olga", password="long enough password 1")
    roles.grant(olga, roles.OPERATOR)
    client.force_login(olga)
    page = client.get(reverse("disarm_all"))
    assert page.status_code == 200
    before = max((r["id"] for r in countdown_requests(simulator)), default=0)
    with locks_held_by_another_process([p.pk for p in policies]):
        started = time.monotonic()
        response = client.post(reverse("disarm_all"), {"reason": "exchange incident"})
        took = time.monotonic() - started
        text = response.content.decode()
        assert response.status_code == 202
        assert took < ANSWER_WITHIN, f"the press took {took:.2f} s"
        assert "3 of 3" in text and "recorded, audited with your name and reason" in text
        zeros = [r for r in countdown_requests(simulator, since_id=before) if r["countdown_ms"] == 0]
        assert {r["symbol"] for r in zeros} == set(SYMBOLS)
    wait_for(lambda: Operation.objects.filter(action=Action.DISARM_ALL, user=olga).exists(), timeout=5)


def test_a_journal_entry_claimed_while_its_policies_are_looked_up_still_binds(monkeypatch):
    """The process that pressed claims its entry to record it while an engine asks which policies pending
    entries name: the entry, read under its old name a moment after the rename, must still count."""
    entry = disarm_journal.Entry(action=Action.DISARM, policy_ids=[41], reason="drill", username="olga")
    disarm_journal.write(entry)
    read_text = Path.read_text
    claimed = []

    def claimed_just_before_the_read(path, *args, **kwargs):
        if not claimed and path.name.endswith(disarm_journal.SUFFIX):
            claimed.append(disarm_journal.claim(entry))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", claimed_just_before_the_read)
    assert disarm_journal.names(41)
    assert claimed and claimed[0] is not None, "the entry was claimed in the middle of the lookup"
    monkeypatch.undo()
    disarm_journal.release(claimed[0])
    assert disarm_journal.names(41) and not disarm_journal.names(42)


def test_a_disarm_recorded_between_the_engines_two_reads_still_stops_its_arm(monkeypatch):
    """The engine asks the journal and the database before signing an arm. The presser records its entry
    (database committed, entry removed) at any moment in between: whichever moment, one of the two says the
    policy is disarmed, never neither."""
    entry = disarm_journal.Entry(action=Action.DISARM, policy_ids=[41], reason="drill", username="olga")
    disarm_journal.write(entry)

    def read_just_before_it_was_recorded(policy_id):
        # The database as it was a moment before the disarm committed; the entry goes right after.
        disarm_journal.done(disarm_journal.claim(entry))
        return (True, 7)

    monkeypatch.setattr(sender.sql, "desired", read_just_before_it_was_recorded)
    assert sender.read_desired(41) == (True, 7, sender.JOURNAL_HOLD)
