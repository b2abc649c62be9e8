"""Enqueue a task after commit, naming it by its dotted path.

Named rather than imported: a domain's tasks module imports its services, so the services cannot
import the tasks back without a cycle. After commit: a rolled-back transaction leaves no task.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils.module_loading import import_string
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from .db import insert_objects

# Set by `siyu worker --batch`: this process runs what is queued now, then exits, so work that
# would wait for more of its kind to arrive (a callback batch gathering) does not wait.
draining = False


def enqueue_now(task: str, *args, priority: int | None = None, run_after: datetime | None = None):
    """Queue it now (outside a transaction, or when the caller has just committed). Returns the result."""
    options = {k: v for k, v in (("priority", priority), ("run_after", run_after)) if v is not None}
    found = import_string(task)
    return (found.using(**options) if options else found).enqueue(*args)


def enqueue_after_commit(task: str, *args, priority: int | None = None, run_after: datetime | None = None) -> None:
    transaction.on_commit(lambda: enqueue_now(task, *args, priority=priority, run_after=run_after))


def in_database(task: str) -> bool:
    """Whether the task's queue is a table of Siyu's own database: queued in a transaction, it
    commits or vanishes with it."""
    return isinstance(import_string(task).get_backend(), DatabaseBackend)


def new_task_id() -> str:
    """An id for a task queued later with `enqueue_many(ids=...)`: a row can be written with the
    id of its task in the same statement."""
    return str(DBTaskResult._meta.pk.default())


def enqueue_many(
    task: str, args_list: Sequence[Sequence], *, priority: int | None = None, run_after: datetime | None = None, ids: Sequence[str] | None = None
) -> list[str]:
    """Queue one run of the task per argument list, now; returns the results' ids in order
    (`ids`, when given, on the database backend).

    On the database backend the queue rows are written many to an INSERT (kit.db.insert_objects):
    a send's 10,000 WeCom tasks queued one by one cost a statement each. The rows are the ones the
    backend writes itself (arguments must be JSON as they are: ids, strings); other backends queue
    one by one."""
    options = {k: v for k, v in (("priority", priority), ("run_after", run_after)) if v is not None}
    found = import_string(task)
    found = found.using(**options) if options else found
    backend = found.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return [str(found.enqueue(*args).id) for args in args_list]
    backend.validate_task(found)
    rows = [
        DBTaskResult(
            id=task_id,
            args_kwargs={"args": list(args), "kwargs": {}},
            priority=found.priority,
            task_path=found.module_path,
            queue_name=found.queue_name,
            run_after=found.run_after or get_date_max(),  # what the backend's pre_save sets for "now"
            backend_name=backend.alias,
        )
        for args, task_id in zip(args_list, ids or [DBTaskResult._meta.pk.default() for _ in args_list], strict=True)
    ]
    # Written by insert_objects: bulk_create's building of the statement was most of the cost of
    # queuing one task on a callback's hot path.
    insert_objects(rows)
    return [str(row.id) for row in rows]


def pending(task: str, first_arg) -> bool:
    """Whether a run of the task whose first argument is `first_arg` (a corp's id, say) waits in
    the database queue or is running: a periodic job does not queue the same work twice behind a
    backlog."""
    return DBTaskResult.objects.filter(task_path=task, status__in=("READY", "RUNNING"), args_kwargs__args__0=first_arg).exists()


def unqueue(task_ids: list[str]) -> int:
    """Take these tasks off the database queue if no worker has picked them up yet (their work was
    done by another task). Returns how many; a task already running is left to find its work done."""
    if not task_ids:
        return 0
    return DBTaskResult.objects.filter(id__in=task_ids, status="READY").delete()[0]
