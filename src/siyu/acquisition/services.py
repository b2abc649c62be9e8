"""Writes for acquisition: channels, live codes (and keeping WeCom in step), scans, adds.

Functions that talk to WeCom (`live_code_push`, `tags_ensure_in_wecom`) never run
inside a database transaction: they read, call WeCom, then write in a short transaction of their
own. Request code reaches them through `transaction.on_commit` or a task.
"""

from __future__ import annotations

import logging
import random
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.corps.models import Corp, Department, Staff
from siyu.customers.fields import customer_fields_fill
from siyu.customers.services import customer_add_phones
from siyu.kit.clock import now
from siyu.kit.db import CompiledQuery, insert_many
from siyu.kit.due import DueWork
from siyu.kit.errors import Conflict, InvalidInput, NotFound, save_or_conflict
from siyu.kit.events import publish
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor
from siyu.tags.selectors import resolve_tags
from siyu.wecom.client import WeComClient, WeComError
from siyu.wecom.outbound import tags_ensure_in_wecom

from . import qr, routing
from .events import LiveCodeSaved
from .models import Acquisition, Channel, ChannelCost, Lead, LiveCode, LiveCodeDay, LiveCodeHold, LiveCodeMember, LiveCodeStaffWay
from .phone_import import add_tasks_match, has_pending_tasks
from .schedule import schedule_clean

log = logging.getLogger(__name__)

STATE_PREFIX = "lc"
LEAD_PREFIX = "ld"  # a lead's temporary code (leads.py)
PRIORITY_REFRESH = 50


class NoStaffAvailable(Conflict):
    code = "no_staff_available"


# -- channels --------------------------------------------------------------------------------------
def channel_create(*, actor: Actor, name: str, group: str = Channel.Group.OTHER) -> Channel:
    actor.require_manager()
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_("A channel needs a name."), field="name")
    if group not in Channel.Group.values:
        raise InvalidInput(_("Unknown channel group %(group)r.") % {"group": group}, code="bad_channel_group", field="group")
    return save_or_conflict(Channel(corp=actor.corp, name=text_within(name, 64, "name"), group=group), _channel_name_taken(name))


def channel_update(*, actor: Actor, channel: Channel, name: str | None = None, group: str | None = None) -> Channel:
    actor.require_manager()
    if group is not None and group not in Channel.Group.values:
        raise InvalidInput(_("Unknown channel group %(group)r.") % {"group": group}, code="bad_channel_group", field="group")
    if name is not None:
        channel.name = text_within(name.strip(), 64, "name")
        if not channel.name:
            raise InvalidInput(_("A channel needs a name."), field="name")
    if group is not None:
        channel.group = group
    return save_or_conflict(channel, _channel_name_taken(channel.name))


def _channel_name_taken(name: str) -> Conflict:
    return Conflict(_("A channel named “%(name)s” already exists.") % {"name": name}, code="channel_name_taken", field="name")


def channel_cost_set(*, actor: Actor, channel: Channel, day, amount_fen: int) -> ChannelCost:
    actor.require_manager()
    if amount_fen < 0:
        raise InvalidInput(_("A cost cannot be negative."), field="amount_fen")
    cost, _created = ChannelCost.objects.update_or_create(corp=actor.corp, channel=channel, day=day, defaults={"amount_fen": amount_fen})
    return cost


# -- live codes ------------------------------------------------------------------------------------
def _new_state(corp: Corp) -> str:
    while True:
        state = STATE_PREFIX + secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")
        if not LiveCode.objects.filter(corp=corp, state=state).exists():
            return state


def _clean_members(corp: Corp, members: list[dict]) -> list[LiveCodeMember]:
    if not members:
        raise InvalidInput(_("A live code needs at least one staff member or department."), code="empty_pool", field="members")
    staff_ids = {m["staff_id"] for m in members if m.get("staff_id")}
    dept_ids = {m["department_id"] for m in members if m.get("department_id")}
    staff = set(Staff.objects.filter(corp=corp, id__in=staff_ids).values_list("id", flat=True))
    depts = set(Department.objects.filter(corp=corp, id__in=dept_ids).values_list("id", flat=True))
    out, seen = [], set()
    for i, m in enumerate(members):
        where = f"members.{i}"
        staff_id, dept_id = m.get("staff_id"), m.get("department_id")
        if bool(staff_id) == bool(dept_id):
            raise InvalidInput(_("Give either a staff member or a department."), field=where)
        if staff_id and staff_id not in staff:
            raise InvalidInput(_("No staff member %(staff_id)s in this corp.") % {"staff_id": staff_id}, code="unknown_staff", field=f"{where}.staff_id")
        if dept_id and dept_id not in depts:
            raise InvalidInput(_("No department %(dept_id)s in this corp.") % {"dept_id": dept_id}, code="unknown_department", field=f"{where}.department_id")
        key = ("s", staff_id) if staff_id else ("d", dept_id)
        if key in seen:
            raise InvalidInput(_("Listed twice."), code="duplicate_member", field=where)
        seen.add(key)
        weight, cap = m.get("weight", 1), m.get("daily_cap")
        if not isinstance(weight, int) or weight < 1 or weight > 1000:
            raise InvalidInput(_("The weight is a whole number from 1 to 1000."), field=f"{where}.weight")
        if cap is not None and (not isinstance(cap, int) or cap < 0):
            raise InvalidInput(_("The daily cap is a whole number ≥ 0, or empty for no cap."), field=f"{where}.daily_cap")
        out.append(
            LiveCodeMember(
                corp=corp,
                staff_id=staff_id,
                department_id=dept_id,
                weight=weight,
                daily_cap=cap,
                backup=bool(m.get("backup")),
                schedule=schedule_clean(m.get("schedule"), f"{where}.schedule"),
            )
        )
    if all(m.backup for m in out):
        raise InvalidInput(_("A live code needs at least one member who is not a backup."), code="only_backups", field="members")
    return out


def _check_mode(mode: str, routing_mode: str) -> None:
    if mode not in LiveCode.Mode.values:
        raise InvalidInput(_("Unknown mode %(mode)r.") % {"mode": mode}, field="mode")
    if routing_mode not in LiveCode.Routing.values:
        raise InvalidInput(_("Unknown routing %(routing_mode)r.") % {"routing_mode": routing_mode}, field="routing")
    # In list mode WeCom itself takes turns among the listed staff; weights and load balancing
    # need Siyu to decide each scan, which only the landing page (exact mode) can.
    if mode == LiveCode.Mode.WECOM_LIST and routing_mode != LiveCode.Routing.ROTATE:
        raise InvalidInput(_("Weighted and least-loaded routing need exact mode."), code="routing_needs_exact_mode", field="routing")


def live_code_save(
    *,
    actor: Actor,
    live_code: LiveCode | None = None,
    channel: Channel,
    name: str,
    members: list[dict],
    mode: str = LiveCode.Mode.WECOM_LIST,
    routing_mode: str = LiveCode.Routing.ROTATE,
    total_cap: int | None = None,
    schedule: dict | None = None,
    expires_at: datetime | None = None,
    skip_verify: bool = True,
    tag_ids: list[int] = (),
    welcome: dict | None = None,
) -> LiveCode:
    """Create a live code, or replace an existing one's rules; WeCom is brought in step after commit.
    `welcome` ({"text", "attachments"}) goes to the welcome's owner through LiveCodeSaved."""
    actor.require_manager()
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_("A live code needs a name."), field="name")
    if channel.corp_id != actor.corp.id:
        raise NotFound(_("No such channel."), field="channel_id")
    _check_mode(mode, routing_mode)
    if total_cap is not None and total_cap < 0:
        raise InvalidInput(_("The total cap must be ≥ 0."), field="total_cap")
    if expires_at is not None and timezone.is_naive(expires_at):
        expires_at = timezone.make_aware(expires_at, actor.corp.tzinfo)  # the corp's clock, as the console shows it
    if expires_at is not None and expires_at <= now() and (live_code is None or live_code.expires_at != expires_at):
        raise InvalidInput(_("A live code cannot expire in the past."), code="expires_in_past", field="expires_at")
    if live_code is not None and live_code.mode != mode and live_code.config_id:
        raise InvalidInput(_("The mode of a live code cannot change once it is in WeCom; create a new code."), code="mode_locked", field="mode")
    cleaned = _clean_members(actor.corp, members)
    tags = resolve_tags(actor, list(tag_ids), "tag_ids")
    schedule = schedule_clean(schedule)
    code = live_code or LiveCode(corp=actor.corp, state=_new_state(actor.corp))
    code.channel, code.name, code.mode, code.routing = channel, text_within(name, 64, "name"), mode, routing_mode
    code.total_cap, code.schedule, code.expires_at, code.skip_verify = total_cap, schedule, expires_at, skip_verify
    code.save()
    code.tags.set(tags)
    LiveCodeMember.objects.filter(live_code=code).delete()
    for m in cleaned:
        m.live_code = code
    LiveCodeMember.objects.bulk_create(cleaned)
    publish(LiveCodeSaved(actor=actor, live_code=code, created=live_code is None, welcome=welcome))
    code_id = code.pk
    live_code_push_schedule(code_id, inline=True)
    return code


def live_code_set_status(*, actor: Actor, live_code: LiveCode, status: str) -> LiveCode:
    actor.require_manager()
    if status not in LiveCode.Status.values:
        raise InvalidInput(_("Unknown status %(status)r.") % {"status": status}, field="status")
    live_code.status = status
    live_code.save(update_fields=["status", "updated_at"])
    code_id = live_code.pk
    live_code_push_schedule(code_id, inline=True)
    return live_code


def landing_url(live_code: LiveCode) -> str:
    return settings.SIYU_PUBLIC_URL + reverse("live_code_landing", args=[live_code.corp.corp_id, live_code.state])


def qr_content_for(live_code: LiveCode) -> str:
    """What the code's QR image must encode: WeCom's contact-way content, or the landing page."""
    if live_code.mode == LiveCode.Mode.EXACT:
        return landing_url(live_code)
    if not live_code.qr_content:
        raise Conflict(_("The code is not in WeCom yet (or its QR could not be read); try again shortly."), code="qr_not_ready")
    return live_code.qr_content


def poster_for(live_code: LiveCode, *, title: str = "", subtitle: str = "", footer: str = "") -> bytes:
    """The printable poster: the brand's text around the code's QR (defaults: corp and code names)."""
    return qr.poster_png(
        qr_image=qr.qr_image(qr_content_for(live_code)),
        title=title[:60] or live_code.corp.name,
        subtitle=subtitle[:120] or live_code.name,
        footer=footer[:40],
    )


# A printed code must reach WeCom: pushes retry with backoff, and the minute tick schedules any
# code still out of step again, so a live code's push never gives up for good.
LIVE_CODE_PUSH = DueWork.push("live code push", LiveCode, task="siyu.acquisition.tasks.refresh_live_code")


def live_code_push_schedule(live_code_id: int, *, inline: bool = False) -> None:
    """Mark the code's push due; after commit, push now in this process (a save) or queue it."""
    run = (lambda: live_code_push_due(live_code_id)) if inline else None
    LIVE_CODE_PUSH.schedule(live_code_id, priority=PRIORITY_REFRESH, inline=run)


def live_code_push_due(live_code_id: int, *, client=None) -> str:
    """The push as due work: claimed once, retried with backoff when WeCom refuses."""

    def push(claim) -> str:
        code = live_code_push(live_code_id, client=client)
        return f"pushed {len(code.pushed_users)} user(s)" + (" (overflowing)" if code.overflowing else "")

    return LIVE_CODE_PUSH.run(live_code_id, push)


def _wanted_users(code: LiveCode, at: datetime) -> tuple[list[str], bool]:
    """List mode: the contact way's user list now, and whether the code is overflowing."""
    seats = routing.pool(code)
    counts = routing.today_counts(code, routing.local_now(code, at).date())
    candidates = routing.available(code, seats, at, counts)
    if candidates:
        return routing.wecom_list(candidates, counts), False
    # Nobody may take customers, but a contact way cannot be empty and a printed code must not
    # die: keep what WeCom has (or the primaries), and flag it.
    return (list(code.pushed_users) or [s.userid for s in seats if not s.backup][: routing.WECOM_LIST_MAX]), True


def live_code_push(live_code_id: int, *, client=None, at: datetime | None = None) -> LiveCode:
    """Make WeCom match the live code: its contact way (list mode) or its staff's own codes (exact)."""

    code = LiveCode.objects.select_related("corp").get(pk=live_code_id)
    client = client or WeComClient(code.corp)
    try:
        tags_ensure_in_wecom(code.corp, list(code.tags.select_related("group")), client)
        if code.status == LiveCode.Status.DELETED:
            _push_deleted(code, client)
        elif code.mode == LiveCode.Mode.EXACT:
            _push_exact(code, client)
        else:
            _push_list(code, client, at)
    except WeComError as exc:
        LiveCode.objects.filter(pk=code.pk).update(push_error=str(exc)[:300])
        raise
    return LiveCode.objects.get(pk=code.pk)


def _push_list(code: LiveCode, client, at: datetime | None) -> None:
    for _attempt in range(3):
        stamp = at or now()
        users, overflowing = _wanted_users(code, stamp)
        if not code.config_id:
            answer = client.add_contact_way(type=2, scene=2, users=users, state=code.state, remark=code.name[:30], skip_verify=code.skip_verify)
            content = qr_content_from_url(answer.get("qr_code", ""))
            with transaction.atomic():
                LiveCode.objects.filter(pk=code.pk).update(
                    config_id=answer["config_id"],
                    qr_url=answer.get("qr_code", ""),
                    qr_content=content,
                    pushed_users=users,
                    pushed_at=now(),
                    push_error="",
                    overflowing=overflowing,
                )
        elif users != code.pushed_users:
            client.update_contact_way(code.config_id, user=users, skip_verify=code.skip_verify, remark=code.name[:30])
            LiveCode.objects.filter(pk=code.pk).update(pushed_users=users, pushed_at=now(), push_error="", overflowing=overflowing)
        else:
            if code.overflowing != overflowing or code.push_error:
                LiveCode.objects.filter(pk=code.pk).update(overflowing=overflowing, push_error="")
            return
        # Another worker may have pushed meanwhile: loop until what we pushed is still wanted.
        code.refresh_from_db()


def _push_exact(code: LiveCode, client) -> None:
    have = set(LiveCodeStaffWay.objects.filter(live_code=code).values_list("staff_id", flat=True))
    for seat in routing.pool(code):
        if seat.staff_id not in have:
            staff_way_create(code, seat, client)
    if code.push_error:
        LiveCode.objects.filter(pk=code.pk).update(push_error="")


def staff_way_create(code: LiveCode, seat: routing.Seat, client) -> LiveCodeStaffWay:
    answer = client.add_contact_way(type=1, scene=2, users=[seat.userid], state=code.state, remark=code.name[:30], skip_verify=code.skip_verify)
    try:
        with transaction.atomic():
            return LiveCodeStaffWay.objects.create(
                corp=code.corp, live_code=code, staff_id=seat.staff_id, config_id=answer["config_id"], qr_url=answer.get("qr_code", "")
            )
    except IntegrityError:
        # Two scans raced to create it: keep the first, drop ours in WeCom.
        client.del_contact_way(answer["config_id"])
        return LiveCodeStaffWay.objects.get(live_code=code, staff_id=seat.staff_id)


def _push_deleted(code: LiveCode, client) -> None:
    ways = [code.config_id] if code.config_id else []
    ways += list(LiveCodeStaffWay.objects.filter(live_code=code).values_list("config_id", flat=True))
    for config_id in ways:
        try:
            client.del_contact_way(config_id)
        except WeComError as exc:
            if exc.errcode != 41044:  # already gone
                raise
    LiveCodeStaffWay.objects.filter(live_code=code).delete()
    LiveCode.objects.filter(pk=code.pk).update(config_id="", pushed_users=[], push_error="")


def live_codes_refresh_due(*, at: datetime | None = None) -> int:
    """The worker's minute tick: queue a refresh for list-mode codes whose WeCom list is out of date
    (a schedule slot began or ended, a new day reset the caps, the code expired), and for codes
    WeCom has not taken yet (never pushed, or the last push failed). Expired landing-page holds
    are cleared here too, off the scan's path (routing only counts live ones)."""
    at = at or now()
    LiveCodeHold.objects.filter(expires_at__lte=at).delete()
    queued = 0
    for code in LiveCode.objects.filter(status=LiveCode.Status.ACTIVE).select_related("corp"):
        is_list = code.mode == LiveCode.Mode.WECOM_LIST
        if code.push_error or (is_list and not code.config_id):
            due = True
        elif is_list:
            users, overflowing = _wanted_users(code, at)
            due = users != code.pushed_users or overflowing != code.overflowing
        else:
            due = False
        if due and code.push_status != "pushing":
            live_code_push_schedule(code.pk)
            queued += 1
    return queued


# -- scans and adds --------------------------------------------------------------------------------
def assign_staff_for_scan(*, live_code: LiveCode, at: datetime | None = None, rng: random.Random | None = None) -> routing.Seat:
    """Exact mode: pick the staff member for one scan; the pick holds a place under their cap
    until the visitor adds them or the hold expires.

    The live code row is locked for the decision, so concurrent scans are decided one after
    another and each sees the holds of those before it.
    """
    at = at or now()
    with transaction.atomic():
        code = LiveCode.objects.select_for_update().select_related("corp").get(pk=live_code.pk)
        if code.mode != LiveCode.Mode.EXACT:
            raise InvalidInput(_("Only exact-mode live codes route at scan time."), code="not_exact_mode")
        day = routing.local_now(code, at).date()
        counts, held = routing.today_counts(code, day), routing.live_holds(code, at)
        candidates = routing.available(code, routing.pool_for_scan(code), at, counts, held)
        if not candidates:
            raise NoStaffAvailable(_("Nobody can take new customers on this code right now."))
        load = {s.staff_id: counts.get(s.staff_id, 0) + held.get(s.staff_id, 0) for s in candidates}
        seat = routing.choose(code, candidates, load, rng)
        _count(code, seat.staff_id, day, "picks")
        LiveCodeHold.objects.create(
            corp_id=code.corp_id, live_code=code, staff_id=seat.staff_id, expires_at=at + timedelta(minutes=settings.SIYU_LIVE_CODE_HOLD_MINUTES)
        )
        LiveCode.objects.filter(pk=code.pk).update(turn=F("turn") + 1)
    return seat


def assign_release(*, live_code: LiveCode, staff_id: int, at: datetime) -> None:
    """Take back a pick whose guide was never shown (WeCom failed to give the visitor a code)."""
    with transaction.atomic():
        _hold_taken(live_code, staff_id, at, newest=True)
        day = routing.local_now(live_code, at).date()
        LiveCodeDay.objects.filter(live_code=live_code, staff_id=staff_id, day=day, picks__gt=0).update(picks=F("picks") - 1)


def _hold_taken(code: LiveCode, staff_id: int, at: datetime, *, newest: bool = False) -> None:
    """Give up one of a guide's holds live at `at`: the oldest when an add arrives (a visitor
    came; an add a sync brings in from the past finds none), the newest when a pick is taken back."""
    # WeCom's times are whole seconds, on WeCom's clock: a minute's slack either way.
    hold_for = timedelta(minutes=settings.SIYU_LIVE_CODE_HOLD_MINUTES + 1)
    holds = LiveCodeHold.objects.filter(live_code=code, staff_id=staff_id, expires_at__gt=at, expires_at__lte=at + hold_for)
    hold = holds.order_by(*(("-expires_at", "-id") if newest else ("expires_at", "id"))).values_list("pk", flat=True).first()
    if hold is not None:
        LiveCodeHold.objects.filter(pk=hold).delete()


def staff_way_for(live_code: LiveCode, seat: routing.Seat, *, client=None) -> LiveCodeStaffWay:
    way = LiveCodeStaffWay.objects.filter(live_code=live_code, staff_id=seat.staff_id).first()
    if way is None:
        way = staff_way_create(live_code, seat, client or WeComClient(live_code.corp))
    return way


def _count(code: LiveCode, staff_id: int, day, field: str) -> int:
    """Add one to a staff member's picks or adds on a live code for a day; returns the new count."""
    row, _created = LiveCodeDay.objects.get_or_create(corp_id=code.corp_id, live_code=code, staff_id=staff_id, day=day)
    LiveCodeDay.objects.filter(pk=row.pk).update(**{field: F(field) + 1})
    return getattr(row, field) + 1


def _code_for_state(corp: Corp, state: str, code_cache: dict | None) -> LiveCode | None:
    if not state:
        return None
    cache = {} if code_cache is None else code_cache
    if state not in cache:
        cache[state] = LiveCode.objects.filter(corp=corp, state=state).first()
    return cache[state]


def _add_tasks_pending(corp: Corp, code_cache: dict | None) -> bool:
    # A full sync adds thousands of follows: ask once per run whether any task is waiting.
    pending = code_cache.get("_add_tasks_pending") if code_cache is not None else None
    if pending is None:
        pending = has_pending_tasks(corp)
        if code_cache is not None:
            code_cache["_add_tasks_pending"] = pending
    return pending


def acquisitions_record(*, corp: Corp, follows: list, code_cache: dict | None = None) -> None:
    """Attribute new follows. Those that carry no live code's or lead's state (a first sync is
    mostly adds from before Siyu) are recorded in one insert, which skips a follow recorded
    before; the others one at a time, with their live code's counts and holds."""
    plain = []
    for follow in follows:
        if follow.state.startswith(LEAD_PREFIX) or _code_for_state(corp, follow.state, code_cache) is not None:
            acquisition_record(corp=corp, follow=follow, code_cache=code_cache)
        else:
            plain.append(follow)
    tz, fields = corp.tzinfo, ["corp_id", "follow_id", "customer_id", "staff_id", "state", "campaign_id", "added_at", "day", "lost_by"]
    rows = [(corp.pk, f.pk, f.customer_id, f.staff_id, f.state, "", f.added_at, f.added_at.astimezone(tz).date(), "") for f in plain]
    insert_many(Acquisition, fields, rows, ignore_conflicts=True)
    if plain and _add_tasks_pending(corp, code_cache):
        for follow in plain:  # matching is idempotent: a task done once is not open any more
            add_tasks_match(corp=corp, follow=follow)


def acquisition_record(*, corp: Corp, follow, campaign_id: str = "", code_cache: dict | None = None) -> Acquisition | None:
    """Attribute a new follow to its live code and channel (by `state`), once per add.

    Returns None when this add was recorded before (a replayed callback, a second sync).
    """
    code = lead = None
    if follow.state.startswith(LEAD_PREFIX):
        # A lead's own temporary code: attributed to the live code that routed it.
        lead = lead_for_state(corp, follow.state)
        code = lead.live_code if lead else None
    else:
        code = _code_for_state(corp, follow.state, code_cache)
    day = follow.added_at.astimezone(corp.tzinfo).date()
    try:
        with transaction.atomic():
            acq = Acquisition.objects.create(
                corp=corp,
                follow=follow,
                customer_id=follow.customer_id,
                staff_id=follow.staff_id,
                live_code=code,
                lead=lead,
                channel_id=code.channel_id if code else None,
                state=follow.state,
                campaign_id=campaign_id or (lead.campaign_id if lead else ""),
                added_at=follow.added_at,
                day=day,
            )
    except IntegrityError:
        return None
    if lead is not None:
        lead_match(lead=lead, follow=follow)

    if _add_tasks_pending(corp, code_cache):
        add_tasks_match(corp=corp, follow=follow)
    if code is not None:
        adds = _count(code, follow.staff_id, day, "adds")
        # Only today's adds move today's list; a sync bringing in past days' follows queues nothing.
        today = now().astimezone(corp.tzinfo).date()
        if code.mode == LiveCode.Mode.EXACT:
            _hold_taken(code, follow.staff_id, follow.added_at)
        if (
            code.mode == LiveCode.Mode.WECOM_LIST
            and code.status == LiveCode.Status.ACTIVE
            and day == today
            and _may_have_crossed_a_cap(code, follow.staff_id, adds)
        ):
            live_code_push_schedule(code.pk)
    return acq


def acquisition_lost(*, follow, at: datetime, by: str) -> int:
    """The relationship ended: mark the add it began as lost, for churn statistics. Idempotent."""
    acq = Acquisition.objects.filter(follow=follow, added_at__lte=at, lost_at__isnull=True).order_by("-added_at").first()
    if acq is None:
        return 0
    after = max(0, int((at - acq.added_at).total_seconds()))
    return Acquisition.objects.filter(pk=acq.pk, lost_at__isnull=True).update(lost_at=at, lost_by=by, lost_after_s=after)


def _may_have_crossed_a_cap(code: LiveCode, staff_id: int, adds_today: int) -> bool:
    if code.total_cap is not None and routing.total_used(code) >= code.total_cap:
        return True
    caps = LiveCodeMember.objects.filter(live_code=code, daily_cap__isnull=False).values_list("staff_id", "daily_cap")
    # Department members' caps apply to each of their staff; checking "any cap reached" is enough.
    return any((sid == staff_id or sid is None) and adds_today >= cap for sid, cap in caps)


def lead_match(*, lead: Lead, follow) -> None:
    """The add with the lead's state arrived: the answers are the customer's now."""
    if lead.customer_id is None:
        Lead.objects.filter(pk=lead.pk, customer__isnull=True).update(customer_id=follow.customer_id, matched_at=now())
    customer_add_phones(customer=follow.customer, phones=[lead.phone])
    fills = {q["customer_field"]: lead.answers[q["key"]] for q in lead.form.fields if q.get("customer_field") and q["key"] in lead.answers}
    if fills:
        customer_fields_fill(customer=follow.customer, values=fills, by=f"lead_form:{lead.form_id}")


def lead_for_state(corp: Corp, state: str) -> Lead | None:
    if not state.startswith(LEAD_PREFIX):
        return None
    return Lead.objects.select_related("live_code").filter(corp=corp, state=state).first()


# Read for every add (its welcome, its tags): compiled once, as the ORM's building costs more than the read.
_LIVE_CODE_BY_STATE = CompiledQuery(lambda corp, state: LiveCode.objects.filter(corp_id=corp, state=state).order_by("pk")[:1], int, str)


def live_code_for_state(corp: Corp, state: str) -> LiveCode | None:
    """The live code behind an add's `state`: the code itself, or the one that routed a lead."""
    if not state:
        return None
    if state.startswith(LEAD_PREFIX):
        lead = lead_for_state(corp, state)
        return lead.live_code if lead else None
    return _LIVE_CODE_BY_STATE.first(corp.pk, state)


def live_code_tags_for_add(corp: Corp, state: str) -> list[str]:
    """The WeCom tag ids a new customer of this `state` gets (marked before the contact is read)."""
    code = live_code_for_state(corp, state)
    if code is None:
        return []
    return [t for t in code.tags.filter(deleted_at__isnull=True).values_list("wecom_tag_id", flat=True) if t]


# -- QR content ------------------------------------------------------------------------------------
def qr_content_from_url(url: str) -> str:
    """What WeCom's QR image encodes, so Siyu can draw it crisp at any size (empty if unreadable)."""
    try:
        return qr.decode_image_url(url) if url else ""
    except Exception as exc:  # noqa: BLE001 — the original image still works; we only lose re-drawing
        log.warning("could not read the QR at %s: %s", url, exc)
        return ""
