"""The worker (`manage.py qcluster`): django-q2 runs its processes and starts again any that dies; each one
runs the worker's duties (the engine of this host's egress identity among them) from the moment it is
spawned. No task or schedule is needed, so the cluster's scheduler is off (settings.Q_CLUSTER).

Stopping (deploy/stop-worker) sends SIGTERM to every process of the cluster: each one's duties stop, the
engine handing its lease over, while the process waits for the STOP its cluster sends it. A process killed
there would leave the task queue's read lock held, and the others would never read their STOP: so the
signal only stops the duties, and the process leaves at its STOP, its duties stopped by then.
"""

import logging
import os
import signal
from multiprocessing import util

from django.dispatch import receiver
from django_q.signals import post_spawn

from heartbeats import duties
from heartbeats.domain import metrics

log = logging.getLogger(__name__)

KIND = "worker"
# How long a stopping process gives its engine to hand over (requests in flight have their own timeouts).
STOP_TIMEOUT = 15.0


@receiver(post_spawn, dispatch_uid="countdown_guard_worker_duties")
def start_duties(sender, proc_name=None, **kwargs):
    duties.start(KIND)
    # SIGTERM (deploy/stop-worker) and SIGINT (Ctrl-C in a terminal reaches every process of the cluster).
    signal.signal(signal.SIGTERM, _stop_duties)
    signal.signal(signal.SIGINT, _stop_duties)
    # A process leaving at its STOP (or recycled) stops its duties first: multiprocessing runs its
    # finalizers there, where atexit would not run.
    util.Finalize(None, duties.stop, kwargs={"timeout": STOP_TIMEOUT}, exitpriority=10)


def _stop_duties(signum, frame) -> None:
    supervisor = duties.running()
    if supervisor is not None:
        # Not here: a signal handler must not wait for threads. The stop event ends every wait at once.
        supervisor.request_stop()


@receiver(post_spawn, dispatch_uid="countdown_guard_metrics_of_the_last_run")
def forget_metrics_of_the_last_run(sender, proc_name=None, **kwargs):
    """The metric files of processes that are gone (the last run's, old web workers') are removed when the
    cluster starts: a counter then restarts with the worker, as it would without shared files. The workers
    are children of the cluster's sentinel, whose pid makes that happen once per cluster."""
    try:
        metrics.forget_dead_processes(once_for=os.getppid())
    except OSError as exc:
        log.warning("could not remove the metric files of stopped processes: %s", exc)
