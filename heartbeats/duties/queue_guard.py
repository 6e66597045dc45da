"""No task runs on the worker: the task queue carries nothing of Countdown Guard's.

django-q2 runs whatever callable a Schedule or queued task names (`os.makedirs`, `subprocess.run`…), and the
worker holds the encryption keys. Countdown Guard queues no task and keeps no schedule (its background work
is duties, heartbeats.duties; the cluster's scheduler is off), and the queue's admins are read-only
(heartbeats.admin). A row can still be written some other way, so the worker itself refuses anything that is
not one of TASKS, which holds only this module's own refusal:

- when a task is queued (`pre_enqueue`, in whichever process queues it; a scheduler turns Schedule rows into
  tasks this way), an unknown function is replaced by `refused`, and a result hook is dropped (hooks run in
  the cluster's monitor);
- when the worker is about to run a task (`pre_execute`), a function that is not exactly one of TASKS is
  never called: its arguments are swapped for a value whose unpacking raises, inside django-q2's own
  try-block, so the task ends as a failure that names the function, and the worker process lives on.
"""

import logging
from functools import cache

from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils.module_loading import import_string
from django_q.models import Task
from django_q.signals import post_execute_in_worker, pre_enqueue, pre_execute

log = logging.getLogger(__name__)

# The functions the worker may run: none of Countdown Guard's own, only the refusal an unknown task becomes.
TASKS = frozenset({"heartbeats.duties.queue_guard.refused"})


class TaskRefused(RuntimeError):
    pass


def refused(name: str = "") -> None:
    """What an unknown task runs instead (queued through `pre_enqueue`): nothing, as a failure."""
    raise TaskRefused(_why(name))


def _why(name: str) -> str:
    return (
        f"Refused to run {name[:200] or 'an unnamed function'}: the worker runs no task of the queue "
        "(heartbeats.duties.queue_guard). Nothing was run."
    )


def name_of(func) -> str:
    if isinstance(func, str):
        return func
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(func)[:200]


@cache
def _allowed_functions() -> frozenset:
    return frozenset(import_string(name) for name in TASKS)


class _Refusal:
    """Stands in for a refused task's arguments: django-q2 unpacks them (`f(*task["args"])`) inside its try
    block before the call, so raising here means the function is never entered."""

    def __init__(self, name: str, args):
        self.name = name
        self.args = args

    def __iter__(self):
        raise TaskRefused(_why(self.name))


@receiver(pre_enqueue, dispatch_uid="countdown_guard_only_our_tasks_queued")
def _queue_only_ours(sender, task, **kwargs):
    name = name_of(task.get("func"))
    if name not in TASKS:
        log.error("refused to queue %s: the worker runs no task of the queue", name[:200])
        task["func"] = "heartbeats.duties.queue_guard.refused"
        task["args"] = (name[:200],)
        task["kwargs"] = {}
    hook = task.get("hook")
    if hook:
        log.error("dropped the result hook %s of task %s: hooks are not used here", name_of(hook)[:200], name)
        task.pop("hook")


@receiver(pre_execute, dispatch_uid="countdown_guard_only_our_tasks_run")
def _run_only_ours(sender, func, task, **kwargs):
    if func is not None and func in _allowed_functions():
        return
    name = name_of(task.get("func") if func is None else func)
    log.error("refused to run %s: the worker runs no task of the queue", name[:200])
    task["args"] = _Refusal(name, task.get("args"))


@receiver(post_execute_in_worker, dispatch_uid="countdown_guard_refusal_recorded")
def _plain_arguments_again(sender, func, task, **kwargs):
    # The task's record (pickled for the monitor) keeps the arguments it came with, not the stand-in.
    if isinstance(task.get("args"), _Refusal):
        task["args"] = task["args"].args


@receiver(pre_save, sender=Task, dispatch_uid="countdown_guard_no_foreign_hooks")
def _no_foreign_hook(sender, instance, **kwargs):
    # django-q2 calls a saved task's hook (its post_save receiver): none of ours has one.
    if instance.hook:
        log.error("dropped the result hook %s of task %s", str(instance.hook)[:200], instance.name)
        instance.hook = None
