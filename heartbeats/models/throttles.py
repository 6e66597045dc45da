"""The shared throttle's counts (heartbeats.domain.throttle): one row per name, for its current window."""

from django.db import models


class Throttle(models.Model):
    """Requests counted for one name (e.g. "ping-url:<digest>") in its current window."""

    name = models.CharField(max_length=120, primary_key=True)
    slot = models.BigIntegerField(help_text="Start of the counted window, in epoch seconds.")
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["slot"], name="throttle_slot")]

    def __str__(self):
        return f"{self.name}: {self.hits} since {self.slot}"
