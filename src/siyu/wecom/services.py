"""Inbox processing: claim an event, fetch what it needs from WeCom, apply, record the outcome."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from siyu.kit.clock import now

from .client import WeComClient
from .handlers import handler_for
from .models import CallbackEvent

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
Status = CallbackEvent.Status


def _claimable(lease: timedelta) -> Q:
    # A "processing" event whose lease ran out belongs to a worker that died.
    return Q(status__in=[Status.RECEIVED, Status.FAILED]) | Q(status=Status.PROCESSING, claimed_at__lt=now() - lease)


def callback_handle(*, event_id: int, client: WeComClient | None = None, lease: timedelta | None = None) -> str:
    """Handle one inbox event once; safe under concurrent workers, retries and crashes.

    1. claim: one UPDATE flips it to "processing" — of two racing workers exactly one wins;
    2. fetch: the handler reads WeCom with no transaction open;
    3. apply: the writes and "done" commit together, or not at all.
    A worker that dies after 1 leaves a lease that expires, and the event is claimed again;
    handlers are idempotent, so a second apply changes nothing.
    """
    lease = lease or timedelta(seconds=settings.SIYU_CALLBACK_LEASE)
    stamp = now()
    with transaction.atomic():
        claimed = CallbackEvent.objects.filter(_claimable(lease), pk=event_id).update(status=Status.PROCESSING, claimed_at=stamp)
    if not claimed:
        return "skipped"
    event = CallbackEvent.objects.select_related("corp").get(pk=event_id)
    handler = handler_for(event)
    if handler is None:
        CallbackEvent.objects.filter(pk=event_id).update(status=Status.IGNORED, handled_at=now())
        return "ignored"
    try:
        write = handler(event, client or WeComClient(event.corp))
        with transaction.atomic():
            outcome = write()
            CallbackEvent.objects.filter(pk=event_id, claimed_at=stamp).update(
                status=Status.DONE, handled_at=now(), last_error="", attempts=event.attempts + 1
            )
        return outcome
    except Exception as exc:  # noqa: BLE001 — any failure is recorded on the event, then retried
        log.exception("callback %s failed", event_id)
        CallbackEvent.objects.filter(pk=event_id, claimed_at=stamp).update(
            status=Status.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:2000], attempts=event.attempts + 1
        )
        return "failed"


def callback_enqueue(event_id: int) -> None:
    """Queue the handling task and remember it, so the sweep can tell "waiting in the queue" from "lost"."""
    from .tasks import handle_callback_event

    result = handle_callback_event.enqueue(event_id)
    CallbackEvent.objects.filter(pk=event_id).update(task_id=str(result.id))


def callbacks_requeue_stale(*, older_than: timedelta = timedelta(seconds=60)) -> int:
    """Enqueue again what a crashed worker left behind, and failures still worth retrying.

    An event whose task is still waiting in the queue is left alone: under a backlog, enqueueing
    it again would only grow the queue it is waiting in.
    """
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    lease = timedelta(seconds=settings.SIYU_CALLBACK_LEASE)
    candidates = list(
        CallbackEvent.objects.filter(_claimable(lease), received_at__lt=now() - older_than, attempts__lt=MAX_ATTEMPTS)
        .order_by("id")
        .values_list("id", "task_id")[:10_000]
    )
    waiting = set()
    task_ids = [t for _, t in candidates if t]
    for i in range(0, len(task_ids), 500):
        chunk = task_ids[i : i + 500]
        waiting |= {str(t) for t in DBTaskResult.objects.filter(id__in=chunk, status=TaskResultStatus.READY).values_list("id", flat=True)}
    ids = [event_id for event_id, task_id in candidates if task_id not in waiting]
    for event_id in ids:
        callback_enqueue(event_id)
    return len(ids)


def callback_retry(*, event: CallbackEvent) -> None:
    """An operator's retry of a failed event: handled again by the worker, after this commits."""
    from siyu.kit.errors import Conflict

    if event.status != Status.FAILED:
        raise Conflict("Only failed events can be retried.", code="not_failed")
    transaction.on_commit(lambda: callback_enqueue(event.pk))
