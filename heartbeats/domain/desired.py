"""The one write of desired state: arm or disarm policies, each with a new generation, in one UPDATE.

Every change people make (heartbeats.desk.actions) and every maintenance window's start and end
(heartbeats.desk.maintenance) goes through `set_desired`, inside the caller's transaction with the rows
locked, and is committed before anything is sent: a beat signed for an older generation is then recognised as
stale by the engine's last check (engine/plan.vet), and a disarm wins.
"""

from django.db.models import F
from django.utils import timezone

from heartbeats.models import CountdownPolicy


def set_desired(rows, *, armed: bool) -> set[int]:
    """Desire `rows` (a queryset or ids of policies the caller has locked) armed or disarmed, each with a new
    generation. Returns the ids changed."""
    if not hasattr(rows, "values_list"):
        rows = CountdownPolicy.objects.filter(pk__in=list(rows))
    ids = set(rows.values_list("pk", flat=True))
    now = timezone.now()  # once the locks are held: a wait for them must not backdate the change
    CountdownPolicy.objects.filter(pk__in=ids).update(
        armed=armed,
        generation=F("generation") + 1,
        desired_changed_at=now,
        updated_at=now,
        next_due_at=now if armed else None,
    )
    return ids
