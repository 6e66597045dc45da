"""Receivers that make `manage.py qcluster` all an operator starts: after `migrate`, the keeper and pruning
Schedules exist; when a worker process starts, it starts a shift if no engine is alive for this host's
egress (so the first beats do not wait for the scheduler's next pass)."""

import logging

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
