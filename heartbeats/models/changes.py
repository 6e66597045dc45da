"""How processes learn that something they wait on changed, without asking the database every second.

On PostgreSQL, triggers NOTIFY a channel per subject (heartbeats.engine.wakeup listens). On SQLite, which has
no notifications, the same triggers add one to the subject's row here: a waiting process is woken by the
kernel when the database's files are written, sees `PRAGMA data_version` move, and reads these few counters to
know whether the commit was about its subject at all (a beat being recorded is not a maintenance window).
"""

from django.db import models


class ChangeCount(models.Model):
    channel = models.CharField(max_length=63, primary_key=True)
    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "change counter"

    def __str__(self):
        return f"{self.channel}: {self.version}"
