"""The answer to a disarm that another process's database locks held up (heartbeats.desk.actions.HeldDisarm):
what was sent now, and that it is recorded as soon as the database frees."""

from datetime import UTC, datetime

from django.shortcuts import render

from heartbeats.desk.actions import HeldDisarm
from heartbeats.models import Action, CountdownPolicy, Outcome


def held_page(request, held: HeldDisarm):
    names = {
        p.pk: str(p) for p in CountdownPolicy.objects.with_account().filter(pk__in=held.entry.policy_ids)
    }
    sent = {r.job.policy_id: r for r in held.results}
    rows = []
    for policy_id in held.entry.policy_ids:
        result = sent.get(policy_id)
        rows.append(
            {
                "policy": policy_id,
                "name": names.get(policy_id, f"#{policy_id}"),
                "outcome": Outcome(result.outcome).label
                if result
                else "Not sent (no weight left this minute)",
                "message": result.message if result else "",
            }
        )
    return render(
        request,
        "heartbeats/disarm_held.html",
        {
            "held": held,
            "title": Action(held.entry.action).label,
            "rows": rows,
            "pressed_at": datetime.fromtimestamp(held.entry.pressed_at, tz=UTC),
        },
        status=202,
    )


def held_message(held: HeldDisarm) -> str:
    return (
        f"{held.confirmed} of {held.policies} zeros sent now; another process holds the database's locks, "
        "so the disarm is recorded (and audited) as soon as it frees."
    )
