"""Inbox processing: claim an event, fetch what it needs from WeCom, apply, record the outcome."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.due import DueWork
from siyu.kit.errors import Conflict

from .client import WeComClient
from .handlers import handler_for
from .models import CallbackEvent

MAX_ATTEMPTS = 5
Status = CallbackEvent.Status

CALLBACK_WORK = DueWork(
    "callback",
    CallbackEvent,
    task="siyu.wecom.tasks.handle_callback_event",
    waiting=(Status.RECEIVED,),
    running=Status.PROCESSING,
    done=Status.DONE,
    failed=Status.FAILED,
    lease=lambda: timedelta(seconds=settings.SIYU_CALLBACK_LEASE),
    max_attempts=MAX_ATTEMPTS,
    names={"error": "last_error"},
)


def callback_handle(*, event_id: int, client: WeComClient | None = None) -> str:
    """Handle one inbox event once; safe under concurrent workers, retries and crashes.

    1. claim (kit.due): of two racing workers exactly one wins;
    2. fetch: the handler reads WeCom with no transaction open;
    3. apply: the writes and "done" commit together, or not at all.
    A worker that dies after 1 leaves a lease that expires, and the event is claimed again;
    handlers are idempotent, so a second apply changes nothing.
    """

    def handle(claim) -> str:
        event = CallbackEvent.objects.select_related("corp").get(pk=event_id)
        handler = handler_for(event)
        if handler is None:
            claim.finish(status=Status.IGNORED, handled_at=now())
            return "ignored"
        write = handler(event, client or WeComClient(event.corp))
        with transaction.atomic():
            outcome = write()
            claim.finish(handled_at=now())
        return outcome

    return CALLBACK_WORK.run(event_id, handle)


def callback_enqueue(event_id: int) -> None:
    """Queue the handling task and remember it, so the sweep can tell "waiting in the queue" from "lost"."""
    CALLBACK_WORK.enqueue(event_id)


def callbacks_requeue_stale(*, older_than: timedelta = timedelta(seconds=60)) -> int:
    """Enqueue again what a crashed worker left behind, and failures whose backoff has passed.

    An event whose task is still waiting in the queue is left alone: under a backlog, enqueueing
    it again would only grow the queue it is waiting in.
    """
    return CALLBACK_WORK.sweep(older_than=older_than)


def callback_retry(*, event: CallbackEvent) -> None:
    """An operator's retry of a failed event: handled again by the worker, after this commits."""
    if event.status != Status.FAILED:
        raise Conflict(_("Only failed events can be retried."), code="not_failed")
    CALLBACK_WORK.schedule(event.pk, priority=None)
