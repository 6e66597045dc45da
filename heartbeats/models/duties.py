"""Duties: the recurring jobs one process at a time does (heartbeats.duties), each with its lease and its
record.

A row is a lease (heartbeats.domain.leases takes, renews and releases it with a conditional UPDATE on the
database's clock) and the duty's record: who holds it, since when, when it last ran, its last error. The
engine of an egress identity is the duty `engine:<egress>`; a process sending zeros for an address holds
`send:<egress>:<base url>` while it does.
"""

from django.db import models


class Duty(models.Model):
    name = models.CharField(max_length=300, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    # Written by the holder with its renewals (one UPDATE for both), so a healthy idle duty costs no more.
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Runs that failed in a row (0 once one succeeds), and since when: the duties page and the alerts read it.
    failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    # The duty's own bookmark (alerting: the last operation announced).
    cursor = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "duties"
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}: {self.holder or 'free'}"
