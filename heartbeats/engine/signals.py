"""Receivers that make `manage.py qcluster` all an operator starts: after `migrate`, the keeper and pruning
Schedules exist; when a worker process starts, it starts a shift if no engine is alive for this host's
egress (so the first beats do not wait for the scheduler's next pass), and it survives SIGTERM while idle.
When the cluster starts, the metric files of stopped processes go (heartbeats.domain.metrics)."""

import logging
import os
import signal

from django.conf import settings
from django.db import DatabaseError
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from django_q.signals import post_spawn

log = logging.getLogger(__name__)


@receiver(post_migrate, dispatch_uid="countdown_guard_engine_schedules")
def create_schedules(sender, app_config=None, using="default", **kwargs):
    if app_config is None or app_config.label != "heartbeats":
        return
    from django_q.models import Schedule

    from heartbeats.engine.chain import KEEPER_SCHEDULE, PRUNE_SCHEDULE

    wanted = {
        KEEPER_SCHEDULE: {"func": "heartbeats.tasks.keeper", "schedule_type": Schedule.MINUTES, "minutes": 1},
        PRUNE_SCHEDULE: {"func": "heartbeats.tasks.prune", "schedule_type": Schedule.HOURLY},
    }
    for name, fields in wanted.items():
        Schedule.objects.using(using).update_or_create(name=name, defaults={**fields, "repeats": -1})


@receiver(post_spawn, dispatch_uid="countdown_guard_engine_kickoff")
def start_engine(sender, proc_name=None, **kwargs):
    from heartbeats.engine.chain import ensure_chain

    try:
        ensure_chain(settings.ENGINE_EGRESS)
    except DatabaseError as exc:
        log.error("could not start the heartbeat engine (is the database migrated?): %s", exc)
    except Exception:
        log.exception("could not start the heartbeat engine")


@receiver(post_spawn, dispatch_uid="countdown_guard_metrics_of_the_last_run")
def forget_metrics_of_the_last_run(sender, proc_name=None, **kwargs):
    """The metric files of processes that are gone (the last run's, old web workers') are removed when the
    cluster starts: a counter then restarts with the worker, as it would without shared files. The workers
    are children of the cluster's sentinel, whose pid makes that happen once per cluster."""
    from heartbeats.domain import metrics

    try:
        metrics.forget_dead_processes(once_for=os.getppid())
    except OSError as exc:
        log.warning("could not remove the metric files of stopped processes: %s", exc)


@receiver(post_spawn, dispatch_uid="countdown_guard_idle_worker_signals")
def survive_sigterm_while_idle(sender, proc_name=None, **kwargs):
    """Stopping the worker (deploy/stop-worker) sends SIGTERM to every task process so that a running shift
    ends at once (heartbeats.tasks.run_shift handles it). A process with no task is then waiting for one
    while holding the task queue's read lock: killed there, it would leave the lock held, and the others
    would never read the STOP that the cluster sends each of them. So an idle one notes the signal and
    leaves at its STOP; a shift it starts after the note stops at once."""
    from heartbeats import tasks

    signal.signal(signal.SIGTERM, tasks.note_termination)
