"""The one lease (heartbeats.domain.leases), as every duty uses it: one holder at a time, on the database's
clock, with patience for a kind of process that defers and a preferred kind that takes over."""

from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.domain.leases import Lease, held_by, renew_many
from heartbeats.models import Duty

pytestmark = pytest.mark.django_db(transaction=True)

TTL = 15.0


def expire(name: str, ago: float = 1.0) -> None:
    Duty.objects.filter(name=name).update(expires_at=timezone.now() - timedelta(seconds=ago))


def test_one_process_holds_a_duty_at_a_time():
    assert Lease("alerts", "web-1", TTL).acquire()
    assert not Lease("alerts", "worker-1", TTL).acquire()
    assert Lease("alerts", "web-1", TTL).acquire(), "its holder takes it again"
    expire("alerts")
    assert Lease("alerts", "worker-1", TTL).acquire()
    assert not Lease("alerts", "web-1", TTL).acquire()


def test_a_patient_holder_waits_that_much_longer_after_an_expiry():
    assert Lease("alerts", "web:h:1:a", TTL).acquire()
    expire("alerts")
    patient = Lease("alerts", "worker:h:9:b", TTL, patience=TTL)
    assert not patient.acquire(), "only just free: the web may renew"
    assert Lease("alerts", "web:h:2:c", TTL).acquire()
    expire("alerts", ago=TTL + 1)
    assert patient.acquire(), "no web process for a while: the worker"


def test_a_preferred_kind_takes_the_duty_from_the_others():
    assert Lease("alerts", "worker:h:1:abc", TTL, patience=TTL).acquire()
    assert not Lease("alerts", "web:h:2:def", TTL).acquire(), "an ordinary holder keeps it..."
    assert Lease("alerts", "web:h:2:def", TTL, takes_from=("worker:",)).acquire(), "...but the worker yields"
    assert not Lease("alerts", "worker:h:1:abc", TTL, patience=TTL).acquire()


def test_renewals_of_a_process_s_duties_are_one_update_that_says_what_is_still_held():
    for name in ("maintenance", "prune"):
        assert Lease(name, "web:h:1:a", TTL).acquire()
    assert Lease("owed-zeros", "web:h:2:b", TTL).acquire()
    assert renew_many(["maintenance", "prune", "owed-zeros"], "web:h:1:a", TTL) == 2
    row = Duty.objects.get(name="maintenance")
    assert row.acquired_at is not None and row.expires_at > timezone.now() + timedelta(seconds=TTL - 2)


def test_a_renewal_writes_the_last_runs_it_is_given_and_leaves_the_others_alone():
    for name in ("maintenance", "prune"):
        assert Lease(name, "web:h:1:a", TTL).acquire()
    earlier = timezone.now() - timedelta(minutes=5)
    Duty.objects.filter(name="prune").update(last_run_at=earlier)
    ran = timezone.now() - timedelta(seconds=3)
    before = timezone.now()
    assert renew_many(["maintenance", "prune"], "web:h:1:a", TTL, ran_at={"maintenance": ran}) == 2
    rows = {d.name: d for d in Duty.objects.filter(name__in=["maintenance", "prune"])}
    assert rows["maintenance"].last_run_at == ran
    assert rows["prune"].last_run_at == earlier
    for row in rows.values():  # on the database's clock, as Lease.acquire stamps it (to the millisecond)
        assert (
            before + timedelta(seconds=TTL - 1) < row.expires_at < timezone.now() + timedelta(seconds=TTL + 1)
        )
    assert renew_many(["maintenance"], "web:h:2:b", TTL) == 0, "not its holder"
    # What it stored compares with the ORM's own expressions, on the database's clock.
    assert held_by("web:h:1:a", ["maintenance", "prune"]) == {"maintenance", "prune"}


def test_taking_again_a_lease_one_holds_keeps_when_it_was_first_taken():
    lease = Lease("maintenance", "web:h:1:a", TTL)
    assert lease.acquire()
    first = Duty.objects.get(name="maintenance").acquired_at
    assert lease.acquire()
    assert Duty.objects.get(name="maintenance").acquired_at == first
