"""The duties page: every background duty (heartbeats.duties), who holds it, its last run and last error,
and the engines standing by. Read by every role, like the board."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from heartbeats.desk import presenters
from heartbeats.duties.report import duty_states, overdue
from heartbeats.models import EngineLiveness
from heartbeats.views.access import viewer_required


@require_GET
@viewer_required
def duties_page(request):
    now = timezone.now()
    states = duty_states(now)
    engines = EngineLiveness.objects.filter(seen_at__gte=now - timedelta(minutes=10)).order_by(
        "egress", "-holds_lease", "-seen_at"
    )
    return render(
        request,
        "heartbeats/duties.html",
        {
            "duties": [(d, overdue(d, now)) for d in states],
            "engines": [(e, e.is_gone(now)) for e in engines],
            "now": now,
            "snap": presenters.snapshot(policy_id=0),
        },
    )
