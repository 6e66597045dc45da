"""Every duty of Countdown Guard, and which kinds of process may hold it: the one list to read to know what
runs where (README, Architecture).

- worker: each process of the django-q2 cluster (`manage.py qcluster`);
- web: each gunicorn worker, and the development server.
"""

from django.conf import settings

from heartbeats.desk import actions, maintenance, pruning
from heartbeats.desk.alerts import monitor_ping
from heartbeats.desk.alerts.runner import Alerting
from heartbeats.desk.killswitch import cancel, stake
from heartbeats.desk.strategies import silence
from heartbeats.duties.supervisor import DutySpec
from heartbeats.engine import Engine, fallback, wakeup
from heartbeats.engine.lease_keeper import lease_name

WEB, WORKER = "web", "worker"
BOTH = frozenset({WEB, WORKER})


def _none(step):
    """A step whose result is what it did, not when to run again."""

    def run():
        step()

    return run


def engine_duty(egress: str) -> DutySpec:
    return DutySpec(
        name=lease_name(egress),
        what=f"Heartbeats of egress “{egress}”: stand by for its lease, then keep every countdown alive",
        kinds=frozenset({WORKER}),
        run=lambda stop: Engine(egress).run(stop),
    )


def duties() -> list[DutySpec]:
    """Every duty, for the process that runs this code (the engine's egress comes from its settings)."""
    alerting = Alerting()
    return [
        engine_duty(settings.ENGINE_EGRESS),
        DutySpec(
            name="owed-zeros",
            what="Disarms owed where no engine can send them (the second zero of a disarm included)",
            kinds=frozenset({WEB}),
            step=fallback.owed_round,
            wakes_on=(wakeup.DESIRED,),
        ),
        DutySpec(
            name="disarm-journal",
            what="Disarms pressed while the database was locked, recorded once it frees (if whoever pressed "
            "could not)",
            kinds=BOTH,
            period=2.0,
            step=_none(actions.record_held_disarms),
        ),
        DutySpec(
            name="unfinished-work",
            what="Cancel orders requests left pending by a process that stopped, marked as unknown",
            kinds=BOTH,
            period=5.0,
            step=_none(cancel.finish_abandoned),
        ),
        DutySpec(
            name="maintenance",
            what="Maintenance windows start and end",
            kinds=BOTH,
            step=maintenance.due_round,
            wakes_on=(wakeup.MAINTENANCE,),
        ),
        DutySpec(
            name="strategy-silence",
            what="Strategies whose grace ran out are latched, audited, told and their orders cancelled "
            "if they ask for it",
            kinds=BOTH,
            step=silence.silence_round,
            wakes_on=(wakeup.STRATEGIES,),
        ),
        DutySpec(
            name="alerts",
            what="Alert conditions evaluated and notifications delivered",
            kinds=BOTH,
            prefer=WEB,
            step=alerting.step,
            wakes_on=(wakeup.NOTIFICATIONS,),
        ),
        DutySpec(
            name="orders-at-stake",
            what="Open orders read within the weight budget: armed ones every minute, changed ones at once",
            kinds=frozenset({WORKER}),
            period=stake.ROUND_EVERY,
            step=stake.stake_round,
            wakes_on=(wakeup.DESIRED, wakeup.ORDERS),
            enabled=lambda: settings.STAKE_READING,
        ),
        DutySpec(
            name="monitor-ping",
            what="The outside monitor pinged while the guard is healthy",
            kinds=frozenset({WORKER}),
            period=settings.HEALTHCHECK_EVERY,
            step=_none(monitor_ping.ping_if_healthy),
            enabled=lambda: bool(settings.HEALTHCHECK_URL),
        ),
        DutySpec(
            name="prune",
            what="Old beats, queue tasks, pings and engine records deleted",
            kinds=BOTH,
            period=60.0,
            step=_none(pruning.prune),
        ),
    ]
