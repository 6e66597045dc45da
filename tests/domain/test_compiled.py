"""Queries compiled once per thread (heartbeats.domain.compiled): built once, run afresh on every call, their
rows converted as the queryset would."""

from datetime import timedelta

import pytest
from django.utils import timezone

from heartbeats.domain import compiled
from heartbeats.models import Duty

pytestmark = pytest.mark.django_db

built = []


def _duties():
    built.append(1)
    return Duty.objects.order_by("name").values_list("name", "expires_at")


def test_it_builds_the_query_once_and_reads_the_rows_of_each_call():
    built.clear()
    assert compiled.rows(_duties) == []
    later = timezone.now() + timedelta(minutes=1)
    Duty.objects.create(name="alerts", expires_at=later)
    assert compiled.rows(_duties) == [("alerts", later)]
    Duty.objects.create(name="beats")
    assert compiled.rows(_duties) == list(Duty.objects.order_by("name").values_list("name", "expires_at"))
    assert len(built) <= 1  # none when an earlier test on this thread compiled it


def test_its_rows_are_converted_as_values_list_converts_them():
    Duty.objects.create(name="alerts", expires_at=timezone.now())
    rows, compiler = compiled.fetch(_duties)
    assert compiled.convert(rows, compiler) == list(_duties())
    assert compiled.rows(_duties)[0][1].tzinfo is not None
