"""Maintenance windows: planned time without dead man's switches."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from heartbeats import text
from heartbeats.models.accounts import ExchangeAccount
from heartbeats.models.operations import Operation
from heartbeats.models.policies import CountdownPolicy


class WindowState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    ENDED = "ended", "Ended"
    CANCELLED = "cancelled", "Cancelled before it started"


class MaintenanceWindow(models.Model):
    """Planned time without dead man's switches: its policies (and every policy of its accounts) are disarmed
    at `starts_at` and re-armed at `ends_at` by heartbeats.desk.maintenance, run by the worker. Everything it
    needs is in this row, so a restart in between loses nothing."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_by_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    created_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(validators=[text.multiline])
    accounts = models.ManyToManyField(ExchangeAccount, blank=True, related_name="maintenance_windows")
    policies = models.ManyToManyField(CountdownPolicy, blank=True, related_name="maintenance_windows")
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField(db_index=True)
    state = models.CharField(
        max_length=16, choices=WindowState.choices, default=WindowState.SCHEDULED, db_index=True
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # What the start disarmed: {"policy id": generation its disarm gave it}. The end re-arms a policy only if
    # it is still disarmed at exactly that generation: nobody touched it by hand meanwhile.
    disarmed = models.JSONField(default=dict, blank=True)
    start_operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self):
        return f"Maintenance #{self.pk} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M} UTC"

    @property
    def open(self) -> bool:
        return self.state in (WindowState.SCHEDULED, WindowState.RUNNING)
