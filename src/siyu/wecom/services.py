"""Inbox processing: claim an event, fetch what it needs from WeCom, apply, record the outcome."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.due import DueWork
from siyu.kit.errors import Conflict
from siyu.kit.queue import unqueue

from .client import WeComClient
from .handlers import ContactWrite, contact_writes_apply, handler_for
from .models import CallbackEvent

log = logging.getLogger(__name__)
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
    """Handle one inbox event once, alone (callbacks_handle with a batch of one): its outcome."""
    return callbacks_handle(event_id=event_id, limit=1, client_for=(lambda corp: client) if client else None)


BATCH = 50  # events one task handles together


def callbacks_handle(*, event_id: int, limit: int = BATCH, client_for=None, gather: float = 0.0) -> str:
    """The task of one inbox event: handle it together with up to `limit` - 1 others that are due,
    so a burst of adds costs one claim, one transaction and one apply of their contacts, not one
    of each per event. The others' queued tasks are taken off the queue.

    `gather`: an event younger than this many seconds is first held until it is that old, unless a
    full batch is already due, so the events of a steady stream arrive meanwhile and share its batch.

    Each event's WeCom read is its own: one that fails is failed alone (retried with backoff). The
    writes commit together with the events' "done"; should they fail, each event is written again
    on its own, in its own transaction, so one bad event cannot hold back the others. Exactly once
    as for one event: the claim decides who handles an event, and the writes are idempotent.
    """
    started = time.monotonic()
    first = CALLBACK_WORK.claim(event_id)
    if first is None:
        return "skipped"  # handled already (by another event's batch, or another worker)
    if gather > 0 and limit > 1:
        _gather(first.pk, gather, limit - 1)
    claims = [first, *CALLBACK_WORK.claim_due(limit=limit - 1, order_by=("id",))]
    events = CallbackEvent.objects.select_related("corp").in_bulk([c.pk for c in claims])
    unqueue([events[c.pk].task_id for c in claims[1:] if events[c.pk].task_id])
    clients: dict[int, WeComClient] = {}
    ready, outcomes = [], {}
    # The reads stop at half the first claim's lease: what they have not reached by then is
    # handed back, due again at once, so that the batch is written before its lease runs out.
    # Otherwise other workers would take over events this one is still handling (a slow WeCom, a
    # loaded machine), and read them again.
    reading_until = started + CALLBACK_WORK.lease_length().total_seconds() / 2
    for i, claim in enumerate(claims):
        if i and time.monotonic() > reading_until:
            released = CALLBACK_WORK.release_many(claims[i:])
            log.info("a batch of %s callbacks read %s within half its lease; %s handed back", len(claims), i, released)
            break
        event = events[claim.pk]
        handler = handler_for(event)
        if handler is None:
            claim.finish(status=Status.IGNORED, handled_at=now())
            outcomes[claim.pk] = "ignored"
            continue
        client = clients.setdefault(event.corp_id, client_for(event.corp) if client_for else WeComClient(event.corp))
        try:
            ready.append((claim, handler(event, client)))
        except Exception as exc:  # this event's read failed: it alone is retried
            log.warning("callback %s: %s", claim.pk, exc)
            claim.fail(f"{type(exc).__name__}: {exc}"[:2000])
            outcomes[claim.pk] = "failed"
    try:
        with transaction.atomic():
            written = _write_together([write for _, write in ready])
            CALLBACK_WORK.finish_many([claim for claim, _ in ready], handled_at=now())
        outcomes.update((claim.pk, outcome) for (claim, _), outcome in zip(ready, written, strict=True))
    except Exception:
        log.exception("a batch of %s callbacks failed; writing them one at a time", len(ready))
        for claim, write in ready:
            claim.settled = False  # the batch's settling was rolled back with it
            outcomes[claim.pk] = CALLBACK_WORK.run_claimed(claim, lambda c, write=write: _write_alone(c, write))
    return outcomes[first.pk]


def _gather(event_id: int, seconds: float, others: int) -> None:
    """Hold a claimed event until it is `seconds` old, unless `others` more are due already. Its
    claim is held meanwhile (the lease is minutes), and no transaction is open."""
    received_at = CallbackEvent.objects.filter(pk=event_id).values_list("received_at", flat=True).first()
    wait = seconds - (now() - received_at).total_seconds() if received_at else 0
    if wait <= 0 or CallbackEvent.objects.filter(CALLBACK_WORK.claimable(now()))[:others].count() >= others:
        return
    _hold(min(wait, seconds))


def _hold(seconds: float) -> None:
    time.sleep(seconds)


def _write_together(writes: list) -> list[str]:
    """Every write of a batch in the events' order, each run of contact reads applied together
    (per corp); their outcomes. A deletion between two adds still comes after the first."""
    outcomes: list[str] = []
    contacts: dict[int, list[ContactWrite]] = {}

    def flush() -> None:
        for corp_writes in contacts.values():
            contact_writes_apply(corp_writes)
        contacts.clear()

    for write in writes:
        if isinstance(write, ContactWrite):
            contacts.setdefault(write.event.corp_id, []).append(write)
            outcomes.append("applied")
        else:
            flush()
            outcomes.append(write())
    flush()
    return outcomes


def _write_alone(claim, write) -> str:
    with transaction.atomic():
        outcome = write()
        claim.finish(handled_at=now())
    return outcome


def callback_enqueue(event: CallbackEvent) -> None:
    """Queue the handling task of an event just stored with its task's id (so the sweep can tell
    "waiting in the queue" from "lost"), in the storing transaction."""
    CALLBACK_WORK.enqueue_with(event.pk, event.task_id)


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
