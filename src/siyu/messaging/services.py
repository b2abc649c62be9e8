"""Writes for messaging: welcome messages and their sends, group welcomes, kept in step with WeCom.

Functions that talk to WeCom (`welcome_send`, `group_welcome_push`) never run inside a database
transaction: they read, call WeCom, then write in a short transaction of their own.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from siyu.acquisition.models import LiveCode
from siyu.acquisition.services import live_code_for_state
from siyu.corps.models import Corp, Staff
from siyu.customers.models import Customer
from siyu.groups.models import GroupCode
from siyu.kit.clock import now
from siyu.kit.db import CompiledQuery, insert_objects
from siyu.kit.due import DueWork, exponential
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor
from siyu.wecom.client import WeComClient, WeComError
from siyu.wecom.events import ContactAddReceived

from .content import content_clean
from .library import LinkSource
from .media import attachments_for_wecom
from .models import GroupWelcome, WelcomeMessage, WelcomeSend

log = logging.getLogger(__name__)

# WeCom's welcome_code lives 20 seconds from the add; a call this close to the end is not started.
WELCOME_WINDOW = timedelta(seconds=20)
WELCOME_MARGIN = timedelta(milliseconds=500)
# How long the worker leaves a pending welcome to the process that received its callback.
WELCOME_FAST_GRACE = timedelta(seconds=2)
PRIORITY_WELCOME = 100  # django-tasks' highest: ahead of every callback in a backlog
Sending = WelcomeSend.Status

# At most once: a send a worker died in the middle of may have reached WeCom, so it is settled
# as failed, never sent again. The lease outlives the 20-second window.
WELCOME_WORK = DueWork(
    "welcome",
    WelcomeSend,
    task="siyu.messaging.tasks.send_welcome",
    waiting=(Sending.PENDING,),
    running=Sending.SENDING,
    done=Sending.SENT,
    failed=Sending.FAILED,
    lease=WELCOME_WINDOW + timedelta(seconds=5),
    take_over=False,
    max_attempts=1,
    error_length=300,
    settle_error="the worker stopped during the send; WeCom may or may not have delivered it",
)
GROUP_WELCOME_PUSH = DueWork.push(
    "group welcome push", GroupWelcome, task="siyu.messaging.tasks.push_group_welcome", max_attempts=8, backoff=exponential(30, 3600)
)


# -- welcome messages ------------------------------------------------------------------------------
def welcome_message_set(
    *, actor: Actor, live_code: LiveCode | None = None, staff: Staff | None = None, text: str = "", attachments: list[dict] = ()
) -> WelcomeMessage | None:
    """Set (or with no text and no attachments, remove) a welcome for a code, a staff member or the corp."""
    actor.require_manager()
    if live_code is not None and staff is not None:
        raise InvalidInput(_("A welcome belongs to a live code, a staff member or the corp, not two at once."), field="staff_id")
    text, attachments = content_clean(actor.corp, text=text, attachments=list(attachments))
    scope = {"corp": actor.corp, "live_code": live_code, "staff": staff}
    if not text and not attachments:
        WelcomeMessage.objects.filter(**scope).delete()
        return None
    message, _created = WelcomeMessage.objects.update_or_create(**scope, defaults={"text": text, "attachments": attachments})
    return message


# The reads of every welcome, compiled once (kit.db.CompiledQuery): a welcome is sent while WeCom's
# 20-second window runs, and building these queries cost more than running them.
_WELCOME_CANDIDATES = CompiledQuery(
    lambda corp, userid, live_code: WelcomeMessage.objects.filter(
        Q(staff__userid=userid) | Q(live_code__isnull=True, staff__isnull=True) | Q(live_code_id=live_code), corp_id=corp
    ).order_by("-pk"),
    int,
    str,
    int,
)
_STAFF_BY_USERID = CompiledQuery(lambda corp, userid: Staff.objects.filter(corp_id=corp, userid=userid).order_by("pk").values_list("pk", "name")[:1], int, str)
_CUSTOMER_NAME = CompiledQuery(
    lambda corp, external_userid: Customer.objects.filter(corp_id=corp, external_userid=external_userid).order_by("pk").values_list("name", flat=True)[:1],
    int,
    str,
)


def welcome_for(corp: Corp, *, state: str, userid: str) -> WelcomeMessage | None:
    """The live code's welcome, else the staff member's, else the corp default: the candidates are
    read in one query."""
    code = live_code_for_state(corp, state)
    # No code: 0, which no live code's key is, so only the staff member's and the default remain.
    found = {(m.live_code_id is not None, m.staff_id is not None): m for m in _WELCOME_CANDIDATES.rows(corp.pk, userid, code.pk if code else 0)}
    return found.get((True, False)) or found.get((False, True)) or found.get((False, False))


def welcome_render(text: str, *, customer_name: str, staff_name: str) -> str:
    return text.replace("{customer_name}", customer_name).replace("{staff_name}", staff_name)


def welcome_enqueue(event: ContactAddReceived) -> WelcomeSend | None:
    """Called as the add event is stored: one WelcomeSend per welcome_code, and its delivery.

    The caller's transaction commits the event and the send together; delivery starts after it.
    """
    if not event.welcome_code:
        return None
    written = insert_objects(
        [
            WelcomeSend(
                corp=event.corp,
                welcome_code=event.welcome_code[:128],
                userid=event.userid[:64],
                external_userid=event.external_userid[:64],
                state=event.state[:30],
                received_at=event.received_at,
                deadline=min(event.added_at, event.received_at) + WELCOME_WINDOW,
                due_at=event.received_at,
            )
        ],
        if_new=True,
    )
    if not written:
        return None  # this welcome_code's send exists: a repeat
    [send] = written
    if settings.SIYU_WELCOME_THREADS:
        # The process that took the callback sends at once, after the commit, with no queue in
        # between, and hands the row over rather than have it read again; the worker takes over
        # what it has not started within the grace (it died, or its threads are all busy):
        # welcomes_take_over.
        transaction.on_commit(lambda: _welcome_pool().submit(_welcome_send_fast, send))
    else:
        WELCOME_WORK.enqueue(send.pk, priority=PRIORITY_WELCOME)
    return send


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _welcome_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.SIYU_WELCOME_THREADS, thread_name_prefix="welcome")
        return _pool


def _welcome_send_fast(send: WelcomeSend) -> str:
    try:
        return welcome_send(send.pk, send=send)
    except Exception:  # noqa: BLE001 — the worker's take-over is the fallback; a stuck "sending" is settled by the sweep
        log.exception("welcome %s: fast send failed", send.pk)
        return "error"
    finally:
        close_old_connections()


def welcome_send(welcome_send_id: int, *, client=None, send: WelcomeSend | None = None) -> str:
    """Send one welcome, at most once, and only inside WeCom's window.

    The claim (pending → sending) is kit.due's, so of two workers one sends. A send found
    "sending" is never retried: WeCom may have taken it. Past the deadline it is recorded as missed.
    `send`: the row as its process wrote it (with its corp), not read again; what the send reads of
    it is written once, with the row.
    """
    claim = WELCOME_WORK.claim(welcome_send_id)
    if claim is None:
        return "skipped"
    return _welcome_deliver(claim, client, send)


def _welcome_deliver(claim, client=None, send: WelcomeSend | None = None) -> str:
    send = send or WelcomeSend.objects.select_related("corp").get(pk=claim.pk)
    if claim.stamp > send.deadline - WELCOME_MARGIN:
        claim.finish(status=Sending.MISSED, error=f"picked up {(claim.stamp - send.deadline).total_seconds():+.1f}s after the window")
        return "missed"
    message = welcome_for(send.corp, state=send.state, userid=send.userid)
    if message is None:
        claim.finish(status=Sending.NONE)
        return "none"
    client = client or WeComClient(send.corp, busy_retries=1, rate_retries=0)
    try:
        text = message.text
        staff_pk, staff_name = _STAFF_BY_USERID.first(send.corp_id, send.userid) or (None, "")
        if "{customer_name}" in text or "{staff_name}" in text:
            customer_name = _CUSTOMER_NAME.first(send.corp_id, send.external_userid)
            if customer_name is None and "{customer_name}" in text:
                customer_name = client.get_external_contact(send.external_userid)["external_contact"].get("name", "")
            text = welcome_render(text, customer_name=customer_name or "", staff_name=staff_name)
        link = LinkSource(staff_pk, "w")
        attachments = attachments_for_wecom(send.corp, message.attachments, client, link=link) if message.attachments else []
        if now() > send.deadline - WELCOME_MARGIN:
            claim.finish(status=Sending.MISSED, error="window passed while preparing")
            return "missed"
        client.send_welcome_msg(send.welcome_code, text=text, attachments=attachments)
    except WeComError as exc:
        claim.fail(str(exc), retry=False, message=message, text=message.text)
        return "failed"
    claim.finish(sent_at=now(), message=message, text=text)
    return "sent"


def welcomes_take_over(*, at: datetime | None = None, limit: int = 500) -> int:
    """The worker's side of the fast path, every second: send what the receiving process has not
    started within WELCOME_FAST_GRACE, soonest deadline first; record as missed what can no longer
    be sent. Returns how many it settled."""
    at = at or now()
    missed = WelcomeSend.objects.filter(status=Sending.PENDING, deadline__lte=at + WELCOME_MARGIN).update(
        status=Sending.MISSED,
        error="not started within the window",
    )
    # One at a time, each claimed just before its send: claiming the whole backlog at once would
    # take from the receiving process sends it is about to make, and queue them behind each other.
    settled = 0
    while settled < limit:
        claims = WELCOME_WORK.claim_due(at=at - WELCOME_FAST_GRACE, limit=1, order_by=["deadline"])
        if not claims:
            break
        WELCOME_WORK.run_claimed(claims[0], _welcome_deliver)
        settled += 1
    return missed + settled


def welcomes_sweep() -> int:
    """Settle sends a worker died in the middle of: past their lease, they are over either way."""
    return WELCOME_WORK.settle_expired()


# -- group welcomes --------------------------------------------------------------------------------
def group_welcome_set(*, actor: Actor, group_code: GroupCode, text: str = "", attachments: list[dict] = ()) -> GroupWelcome | None:
    """Set a group code's welcome (text and at most one attachment); WeCom's template follows after commit.
    Empty text and no attachment removes it (and its template in WeCom)."""
    actor.require_manager()
    text, attachments = content_clean(actor.corp, text=text, attachments=list(attachments), max_attachments=1)
    welcome = GroupWelcome.objects.filter(corp=actor.corp, group_code=group_code).first()
    if welcome is None and not text and not attachments:
        return None
    if welcome is None:
        welcome = GroupWelcome.objects.create(corp=actor.corp, group_code=group_code, text=text, attachments=attachments)
    elif (welcome.text, welcome.attachments) == (text, attachments) and welcome.push_status == "done":
        return welcome
    else:
        GroupWelcome.objects.filter(pk=welcome.pk).update(text=text, attachments=attachments)
    welcome_id = welcome.pk
    GROUP_WELCOME_PUSH.schedule(welcome_id, inline=lambda: group_welcome_push(welcome_id))
    welcome.refresh_from_db()
    return welcome


def group_welcome_push(welcome_id: int, *, client=None) -> str:
    """Make WeCom's group welcome template match: add, edit, or (emptied) delete it."""

    def push(claim) -> str:
        welcome = GroupWelcome.objects.select_related("corp").get(pk=welcome_id)
        wecom = client or WeComClient(welcome.corp)
        body = {}
        if welcome.attachments:
            body = {a["msgtype"]: a[a["msgtype"]] for a in attachments_for_wecom(welcome.corp, welcome.attachments, wecom, link=LinkSource(None, "g"))}
        if not welcome.text and not body:
            if welcome.template_id:
                wecom.del_group_welcome_template(welcome.template_id)
            claim.finish(template_id="", pushed_at=now())
            return "deleted"
        if welcome.template_id:
            wecom.edit_group_welcome_template(welcome.template_id, text=welcome.text, attachments=body)
            claim.finish(pushed_at=now())
            return "edited"
        template_id = wecom.add_group_welcome_template(text=welcome.text, attachments=body)
        claim.finish(template_id=template_id, pushed_at=now())
        return "added"

    return GROUP_WELCOME_PUSH.run(welcome_id, push)


def group_welcomes_sweep(*, older_than: timedelta = timedelta(seconds=60)) -> int:
    return GROUP_WELCOME_PUSH.sweep(older_than=older_than)
