"""Writes for customer groups. WeCom's groupchat/get answer is applied as a whole, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime

from siyu.corps.models import Corp, Staff
from siyu.customers.models import Customer, TimelineEvent
from siyu.customers.services import timeline_record, timeline_record_many
from siyu.kit.clock import now
from siyu.kit.events import publish
from siyu.wecom.events import SYNC

from .events import GroupChanged, GroupDismissed, GroupMemberJoined, GroupMemberLeft
from .models import CustomerGroup, GroupMember


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


MEMBER_FIELDS = ["type", "name", "group_nickname", "join_time", "join_scene", "invitor_userid", "state", "customer", "left_at"]


def group_apply(
    *, corp: Corp, data: dict, source: str = SYNC, removed: set[str] = frozenset(), fetched_at: datetime | None = None
) -> tuple[CustomerGroup, dict]:
    """Upsert a group and its members from groupchat/get's group_chat; returns (group, counts).

    The answer is the whole truth about the group now, so applying an older event late, or the
    same event twice, lands on the same rows. `removed`: members the event says were removed by
    an admin rather than leaving themselves (groupchat/get cannot tell). `fetched_at`: when the
    answer was read; an answer older than the one already applied is skipped.
    """
    fetched_at = fetched_at or now()
    stale = CustomerGroup.objects.filter(corp=corp, chat_id=data["chat_id"], fetched_at__gt=fetched_at).first()
    if stale is not None:
        return stale, {"joined": 0, "left": 0, "stale": 1}
    owner = Staff.objects.filter(corp=corp, userid=data.get("owner", "")).first()
    group, created = CustomerGroup.objects.update_or_create(
        corp=corp,
        chat_id=data["chat_id"],
        defaults={
            "name": data.get("name", "")[:100],
            "owner": owner,
            "notice": data.get("notice", ""),
            "created_at_wecom": _ts(data.get("create_time")),
            "status": CustomerGroup.Status.ACTIVE,
            "member_version": data.get("member_version", ""),
            "fetched_at": fetched_at,
        },
    )
    group.corp = corp  # the events name it; no query to fetch it again
    existing = {m.userid: m for m in GroupMember.objects.filter(group=group)}
    for member in existing.values():
        member.group = group
    externals = [m["userid"] for m in data.get("member_list", []) if int(m.get("type", 1)) == 2]
    customers = {c.external_userid: c for c in Customer.objects.filter(corp=corp, external_userid__in=externals)}
    counts = {"joined": 0, "left": 0}
    seen, joined_customers = set(), set()
    # Every event re-reads the whole group: one insert of the new members, one update of those
    # whose row differs, one insert of the joins' timeline entries.
    new, changed, joins = [], [], []
    for m in data.get("member_list", []):
        seen.add(m["userid"])
        fields = {
            "type": int(m.get("type", 1)),
            "name": m.get("name", "")[:64],
            "group_nickname": m.get("group_nickname", "")[:64],
            "join_time": _ts(m.get("join_time")),
            "join_scene": int(m.get("join_scene", 0) or 0),
            "invitor_userid": (m.get("invitor") or {}).get("userid", ""),
            "state": m.get("state", "")[:30],
            # By id: comparing the related object would fetch each member's customer.
            "customer_id": getattr(customers.get(m["userid"]), "id", None),
            "left_at": None,
        }
        member = existing.get(m["userid"])
        if member is None:
            member = GroupMember(corp=corp, group=group, userid=m["userid"], **fields)
            new.append(member)
            joins.append(member)
        else:
            if member.left_at is not None:
                joins.append(member)
            diff = [k for k, v in fields.items() if getattr(member, k) != v]
            for k in diff:
                setattr(member, k, fields[k])
            if diff:
                changed.append(member)
    GroupMember.objects.bulk_create(new)
    GroupMember.objects.bulk_update(changed, MEMBER_FIELDS)
    entries = []
    for member in joins:
        counts["joined"] += 1
        publish(GroupMemberJoined(corp=corp, group=group, member=member, source=source))
        if member.customer_id:
            joined_customers.add(member.customer_id)
            entries.append(
                TimelineEvent(
                    corp_id=corp.pk,
                    customer=customers[member.userid],
                    kind=TimelineEvent.Kind.JOINED_GROUP,
                    occurred_at=member.join_time or now(),
                    data={"group": group.name or group.chat_id, "state": member.state},
                    dedupe_key=f"group-joined:{group.id}:{member.userid}:{int(member.join_time.timestamp()) if member.join_time else 0}",
                )
            )
    timeline_record_many(entries)
    for userid, member in existing.items():
        if userid in seen:
            continue
        if member.left_at is None:
            member_left(member=member, how="removed" if userid in removed else "left")
            counts["left"] += 1
        elif userid in removed:
            # An earlier event's answer already showed the departure; only this one knows it was a removal.
            TimelineEvent.objects.filter(corp=corp, dedupe_key=_left_key(member)).update(data={"group": group.name or group.chat_id, "how": "removed"})
    group.member_count = len(seen)
    group.save(update_fields=["member_count"])
    publish(GroupChanged(corp=corp, group=group, created=created, joined_customer_ids=frozenset(joined_customers), source=source))
    return group, counts


def member_left(*, member: GroupMember, at: datetime | None = None, how: str = "left") -> None:
    member.left_at = at or now()
    member.save(update_fields=["left_at"])
    publish(GroupMemberLeft(corp=member.group.corp, group=member.group, member=member, how=how))
    if member.customer_id:
        timeline_record(
            customer=member.customer,
            kind=TimelineEvent.Kind.LEFT_GROUP,
            occurred_at=member.left_at,
            data={"group": member.group.name or member.group.chat_id, "how": how},
            dedupe_key=_left_key(member),
        )


def _left_key(member: GroupMember) -> str:
    # One stay in a group (from its join time) ends once, however many events report it.
    return f"group-left:{member.group_id}:{member.userid}:{int(member.join_time.timestamp()) if member.join_time else 0}"


def group_dismissed(*, corp: Corp, chat_id: str, at: datetime | None = None) -> bool:
    """The group is gone: it stays on record as dismissed, and everyone in it has left."""
    group = CustomerGroup.objects.filter(corp=corp, chat_id=chat_id).first()
    if group is None:
        return False
    if group.status != CustomerGroup.Status.DISMISSED:
        group.status, group.member_count = CustomerGroup.Status.DISMISSED, 0
        group.save(update_fields=["status", "member_count"])
    for member in group.members.filter(left_at__isnull=True).select_related("customer", "group__corp"):
        member_left(member=member, at=at, how="dismissed")
    publish(GroupDismissed(corp=corp, group=group, at=at or now()))
    return True
