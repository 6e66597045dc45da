"""Whether alerts are getting through: what the board's banner says about each channel."""

from django.db.models import OuterRef, Subquery

from heartbeats.models.alerts import AlertChannel, Delivery, Notification, NotificationKind


def failing_channels() -> list[dict]:
    """One query: every enabled channel whose latest attempted delivery did not get through (retrying or
    given up), with when and why. A test message does not count: its sender saw the answer."""
    latest = (
        Notification.objects.filter(channel=OuterRef("pk"), last_attempt_at__isnull=False)
        .exclude(kind=NotificationKind.TEST)
        .order_by("-last_attempt_at", "-id")
    )
    rows = (
        AlertChannel.objects.filter(enabled=True)
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_error=Subquery(latest.values("last_error")[:1]),
            last_at=Subquery(latest.values("last_attempt_at")[:1]),
        )
        .filter(last_status__in=(Delivery.RETRYING, Delivery.FAILED))
        .order_by("name")
        .values("pk", "name", "last_status", "last_error", "last_at")
    )
    return [
        {
            "id": r["pk"],
            "channel": r["name"],
            "status": r["last_status"],
            "error": r["last_error"],
            "at": r["last_at"],
            "at_ms": int(r["last_at"].timestamp() * 1000),
        }
        for r in rows
    ]
