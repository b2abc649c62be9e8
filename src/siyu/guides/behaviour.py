"""Staff behaviour data (联系客户统计) and their groups' chat (群聊数据统计) from WeCom, pulled
daily and backfilled.

`get_user_behavior_data` aggregates the members it is given, so a member's own figures take a call
of their own: at most 30 days a call, no further back than 180 days. A corp of 10,000 guides is
10,000 calls a day, which its per-API limit (10,000 a minute) allows; the work is split into
tasks of `CHUNK` members so several workers share it, and the client waits out 45009 as it does
everywhere.

`groupchat/statistic` answers for up to 100 owners at once, summed over the days asked: a chunk's
owners take one call per day (its window is 30 days, back to 180). Its figures land on the same
rows, and a row counts as pulled only once both have (`groups_pulled_at`).

What needs pulling is found, not remembered: every hour, each corp's active members who lack a
day of the window (yesterday back to `WINDOW_DAYS`, or the whole 180 days for a member who has
no row yet) are queued. A chunk that failed leaves its rows missing, so the next hour asks again;
a pull writes each (member, day) row once and a second pull of the same day overwrites it with
WeCom's figures, which is how late corrections arrive.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef

from siyu.corps.models import Corp, Staff
from siyu.kit.clock import day_start, now
from siyu.kit.queue import enqueue_many, pending
from siyu.wecom.client import WeComClient, WeComError

from .models import StaffDay

log = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")  # WeCom's days
CHUNK = 100  # members a worker task pulls (and the most owners groupchat/statistic takes)
GROUP_FIELDS = ["group_chats", "active_groups", "group_members", "active_members", "group_messages", "groups_pulled_at"]
SPAN_DAYS = 30  # get_user_behavior_data's longest window
HISTORY_DAYS = 180  # and how far back it answers
WINDOW_DAYS = 7  # the days re-checked every hour once a corp has its history


def wecom_today() -> date:
    return now().astimezone(CHINA).date()


def _stamp(day: date) -> int:
    return int(day_start(day, CHINA).timestamp())


def behaviour_missing(corp: Corp, first: date, last: date, *, who: str | None = None) -> list[int]:
    """Active members with fewer rows than days in [first, last]: the ones to pull. `who` "new"
    keeps the members with no row at all, "known" the others."""
    days = (last - first).days + 1
    pulled = StaffDay.objects.filter(corp=corp, day__gte=first, day__lte=last, groups_pulled_at__isnull=False)
    have = dict(pulled.values("staff_id").annotate(n=Count("id")).values_list("staff_id", "n"))
    active = Staff.objects.filter(corp=corp, status=Staff.Status.ACTIVE).order_by("id")
    if who is not None:
        rows = StaffDay.objects.filter(staff_id=OuterRef("pk"))
        active = active.filter(~Exists(rows)) if who == "new" else active.filter(Exists(rows))
    return [pk for pk in active.values_list("id", flat=True) if have.get(pk, 0) < days]


def behaviour_queue(corp: Corp, first: date | None = None, last: date | None = None) -> int:
    """Queue pulls of the members missing days; returns the members queued. Unasked, the window is
    the last `WINDOW_DAYS`, and the whole history for members who have no row yet (a new corp, a
    new guide, one whose first pull failed)."""
    today = wecom_today()
    last = min(last or today - timedelta(days=1), today - timedelta(days=1))
    oldest = today - timedelta(days=HISTORY_DAYS)
    if first is not None:
        windows = [(max(first, oldest), None)]
    else:
        windows = [(oldest, "new"), (last - timedelta(days=WINDOW_DAYS - 1), "known")]
    queued: set[int] = set()
    args = []
    for start, who in windows:
        if start > last:
            continue
        staff = [pk for pk in behaviour_missing(corp, start, last, who=who) if pk not in queued]
        queued.update(staff)
        args += [(corp.pk, staff[i : i + CHUNK], start.isoformat(), last.isoformat()) for i in range(0, len(staff), CHUNK)]
    enqueue_many(PULL_TASK, args)
    return len(queued)


PULL_TASK = "siyu.guides.tasks.pull_behaviour"


def behaviour_due() -> int:
    """Hourly: every corp that can call WeCom gets the pulls it lacks (unless its last ones are
    still queued or running)."""
    return sum(behaviour_queue(corp) for corp in Corp.objects.exclude(secret_encrypted="") if not pending(PULL_TASK, corp.pk))


def behaviour_pull(corp_id: int, staff_ids: list[int], first: date, last: date, client: WeComClient | None = None) -> int:
    """Each member's days from WeCom, `SPAN_DAYS` a call, with their groups' figures (asked first,
    for the whole chunk), written in one statement per member. A member WeCom refuses (left since)
    is logged and skipped; the rest still land."""
    corp = Corp.objects.get(pk=corp_id)
    client = client or WeComClient(corp)
    members = list(Staff.objects.filter(corp=corp, pk__in=staff_ids).order_by("id"))
    groups = _group_days(corp, client, [s.userid for s in members], first, last)
    written = 0
    for staff in members:
        rows: list[StaffDay] = []
        start = first
        try:
            while start <= last:
                end = min(start + timedelta(days=SPAN_DAYS - 1), last)
                for r in client.user_behavior_data(start_time=_stamp(start), end_time=_stamp(end), userids=[staff.userid]):
                    rows.append(_row(corp, staff, r, groups))
                start = end + timedelta(days=1)
        except WeComError as exc:
            log.warning("behaviour data of %s in corp %s: %s", staff.userid, corp.corp_id, exc)
            continue
        StaffDay.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["staff", "day"],
            update_fields=[
                "chats",
                "messages",
                "reply_percentage",
                "avg_reply_minutes",
                "replied_chats",
                "reply_minutes",
                "negative_feedback",
                "new_applies",
                "new_contacts",
                "pulled_at",
                *GROUP_FIELDS,
            ],
        )
        written += len(rows)
    return written


def _group_days(corp: Corp, client: WeComClient, userids: list[str], first: date, last: date) -> dict[date, dict[str, dict]]:
    """Per day, each owner's group figures (groupchat/statistic takes up to 100 owners: one call a
    day). A day WeCom refuses is left out, and its rows stay unpulled, so the next hour asks again."""
    days: dict[date, dict[str, dict]] = {}
    day = first
    while userids and day <= last:
        try:
            answer = client.groupchat_statistic(day_begin=_stamp(day), day_end=_stamp(day), owners=userids, limit=1000)
            days[day] = {item["owner"]: item.get("data") or {} for item in answer.get("items") or []}
        except WeComError as exc:
            log.warning("group statistics of corp %s on %s: %s", corp.corp_id, day, exc)
        day += timedelta(days=1)
    return days


def _row(corp: Corp, staff: Staff, r: dict, groups: dict[date, dict[str, dict]]) -> StaffDay:
    chats = int(r.get("chat_cnt") or 0)
    share = float(r.get("reply_percentage") or 0)
    minutes = int(round(float(r.get("avg_reply_time") or 0)))
    # WeCom gives the share to two decimals: chats × share recovers the replied chats exactly
    # below 10,000 chats a day.
    replied = round(chats * share / 100)
    day = datetime.fromtimestamp(int(r["stat_time"]), tz=CHINA).date()
    answered = groups.get(day)
    owned = (answered or {}).get(staff.userid, {})  # an owner of no group may be left out of WeCom's answer
    return StaffDay(
        corp=corp,
        staff=staff,
        day=day,
        group_chats=int(owned.get("chat_total") or 0),
        active_groups=int(owned.get("chat_has_msg") or 0),
        group_members=int(owned.get("member_total") or 0),
        active_members=int(owned.get("member_has_msg") or 0),
        group_messages=int(owned.get("msg_total") or 0),
        groups_pulled_at=now() if answered is not None else None,
        chats=chats,
        messages=int(r.get("message_cnt") or 0),
        reply_percentage=share,
        avg_reply_minutes=minutes,
        replied_chats=replied,
        reply_minutes=replied * minutes,
        negative_feedback=int(r.get("negative_feedback_cnt") or 0),
        new_applies=int(r.get("new_apply_cnt") or 0),
        new_contacts=int(r.get("new_contact_cnt") or 0),
        pulled_at=now(),
    )
