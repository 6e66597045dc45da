"""Old records go: beats and finished queue tasks after BEAT_RETENTION_DAYS, a strategy's recent pings after
ten minutes, the shared throttle's windows and liveness records of engines gone for an hour. The audit trail
is never pruned. Run as the `prune` duty (heartbeats.duties); each delete goes in small batches, so a large
backlog never holds a long write lock, and costs one indexed query when there is nothing to delete.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.models import Task

from heartbeats.desk.strategies import pings
from heartbeats.domain import throttle
from heartbeats.models import Beat, Duty, EngineLiveness

BATCH = 5000


def prune(now=None) -> dict[str, int]:
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BEAT_RETENTION_DAYS)
    return {
        "beats": _delete_in_batches(Beat.objects.filter(sent_at__lt=cutoff)),
        "tasks": _delete_in_batches(Task.objects.filter(stopped__lt=cutoff)),
        "pings": pings.prune(now),
        "throttles": throttle.prune(),
        "engines": EngineLiveness.objects.filter(seen_at__lt=now - timedelta(hours=1)).delete()[0],
        # Leases of work and of zeros sent for an address are made per use: the free ones go.
        "leases": Duty.objects.filter(holder="")
        .filter(Q(name__startswith="work:") | Q(name__startswith="send:"))
        .delete()[0],
    }


def _delete_in_batches(queryset) -> int:
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids).delete()[0]
