"""No code runs from a web form: the task queue's admin is read-only, and a Schedule or queued task naming
any callable -- however the row got there -- runs nothing on the worker, which runs no task of the queue."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q import signals as q_signals
from django_q.brokers import get_broker
from django_q.models import Failure, OrmQ, Schedule, Task
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from heartbeats.duties import queue_guard

PASSWORD = "a long test password 1"


@pytest.fixture
def no_spawn_receivers(monkeypatch):
    """django-q2's in-process run starts a worker here: its start-up receivers (the worker's duties, its
    SIGTERM handler) belong to real worker processes, not to the test's."""
    from django.dispatch import Signal
    from django_q import worker

    monkeypatch.setattr(worker, "post_spawn", Signal())


class TestAdmin:
    @pytest.fixture
    def admin_client(self, client, django_user_model):
        client.force_login(django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD))
        return client

    def test_no_schedule_can_be_added_or_changed(self, admin_client, tmp_path):
        target = tmp_path / "made-by-a-form"
        response = admin_client.post(
            reverse("admin:django_q_schedule_add"),
            {
                "func": "os.makedirs",
                "args": repr(str(target)),
                "schedule_type": Schedule.ONCE,
                "repeats": "-1",
                "next_run_0": timezone.now().strftime("%Y-%m-%d"),
                "next_run_1": timezone.now().strftime("%H:%M:%S"),
            },
        )
        assert response.status_code == 403
        assert not Schedule.objects.filter(func="os.makedirs").exists()
        # A row written some other way (a shell, an old release) is shown, and cannot be edited either.
        row = Schedule.objects.create(func="math.floor", args="1.5", schedule_type=Schedule.ONCE)
        change = reverse("admin:django_q_schedule_change", args=[row.pk])
        assert admin_client.post(change, {"func": "os.makedirs"}).status_code == 403
        assert Schedule.objects.get(pk=row.pk).func == "math.floor"
        # Still readable, without a form to write in.
        page = admin_client.get(change)
        assert page.status_code == 200 and 'name="func"' not in page.content.decode()

    def test_no_task_is_resubmitted_or_deleted_from_the_admin(self, admin_client):
        for name in ("success", "failure", "ormq", "schedule"):
            page = admin_client.get(reverse(f"admin:django_q_{name}_changelist"))
            assert page.status_code == 200, name
            assert 'name="action"' not in page.content.decode(), name


def run_queued_task():
    """What a cluster does with the next queued task, in this process: pull it from the broker, run it in
    django-q2's worker loop, store its result through the monitor."""
    from multiprocessing import Queue, Value

    from django_q.monitor import monitor
    from django_q.worker import worker

    broker = get_broker()
    ((ack_id, payload),) = broker.dequeue()
    task = SignedPackage.loads(payload)
    task["ack_id"] = ack_id
    tasks, results = Queue(), Queue()
    tasks.put(task)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results)
    return task


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_spawn_receivers")
class TestWorker:
    @pytest.fixture(autouse=True)
    def _empty_queue(self):
        OrmQ.objects.all().delete()

    def test_a_schedule_row_naming_any_callable_is_queued_as_a_refusal(self, tmp_path):
        target = tmp_path / "made-by-a-schedule"
        Schedule.objects.all().delete()
        Schedule.objects.create(
            func="os.makedirs",
            args=repr(str(target)),
            hook="os.system",
            schedule_type=Schedule.ONCE,
            next_run=timezone.now() - timedelta(seconds=1),
        )
        scheduler(get_broker())
        (queued,) = [SignedPackage.loads(row.payload) for row in OrmQ.objects.all()]
        assert queued["func"] == "heartbeats.duties.queue_guard.refused"
        assert queued["args"] == ("os.makedirs",)
        assert "hook" not in queued
        run_queued_task()
        assert not target.exists()
        failed = Failure.objects.get()
        assert "Refused to run os.makedirs" in failed.result and not failed.hook

    def test_the_worker_refuses_even_a_task_queued_past_the_first_check(self, tmp_path):
        """A package that never met `pre_enqueue` (queued by a process without it): the worker's own check
        keeps the function from being called, and the worker carries on."""
        target = tmp_path / "made-by-the-worker"
        q_signals.pre_enqueue.disconnect(dispatch_uid="countdown_guard_only_our_tasks_queued")
        try:
            async_task("os.makedirs", str(target))
        finally:
            q_signals.pre_enqueue.connect(
                queue_guard._queue_only_ours, dispatch_uid="countdown_guard_only_our_tasks_queued"
            )
        task = run_queued_task()
        assert task["func"] == "os.makedirs"
        assert not target.exists()
        failed = Failure.objects.get()
        assert "Refused to run os.makedirs" in failed.result
        assert failed.args == (str(target),)

    def test_a_function_of_our_own_is_refused_too(self):
        """The worker runs no task of ours either (background work is duties): a queued engine function is
        refused like any other, and nothing succeeds."""
        async_task("heartbeats.desk.pruning.prune")
        run_queued_task()
        assert not Task.objects.filter(success=True).exists()
        assert "Refused to run heartbeats.desk.pruning.prune" in Failure.objects.get().result

    def test_the_allow_list_holds_only_the_refusal(self):
        assert sorted(queue_guard.TASKS) == ["heartbeats.duties.queue_guard.refused"]
        assert all(callable(import_string(name)) for name in queue_guard.TASKS)
