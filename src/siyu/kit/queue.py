"""Enqueue a task after commit, naming it by its dotted path.

Named rather than imported: a domain's tasks module imports its services, so the services cannot
import the tasks back without a cycle. After commit: a rolled-back transaction leaves no task.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.module_loading import import_string


def enqueue_now(task: str, *args, priority: int | None = None, run_after: datetime | None = None):
    """Queue it now (outside a transaction, or when the caller has just committed). Returns the result."""
    options = {k: v for k, v in (("priority", priority), ("run_after", run_after)) if v is not None}
    found = import_string(task)
    return (found.using(**options) if options else found).enqueue(*args)


def enqueue_after_commit(task: str, *args, priority: int | None = None, run_after: datetime | None = None) -> None:
    transaction.on_commit(lambda: enqueue_now(task, *args, priority=priority, run_after=run_after))
