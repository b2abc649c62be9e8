"""Group live codes (群活码): writes, and keeping WeCom's join way in step with the pool.

Like every WeCom call in Siyu, `group_code_push` runs outside a database transaction; saves
reach it through `transaction.on_commit`, group changes through a task.
"""

from __future__ import annotations

import logging
import secrets

from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.due import DueWork
from siyu.kit.errors import InvalidInput
from siyu.kit.events import publish
from siyu.kit.tenancy import Actor
from siyu.wecom.client import WeComClient, WeComError

from .events import GroupCodeSaved
from .models import CustomerGroup, GroupCode, GroupCodeGroup, GroupMember

log = logging.getLogger(__name__)
JOIN_WAY_MAX = 5
POOL_MAX = 1000
STATE_PREFIX = "gc"
PRIORITY_REFRESH = 50
# As with live codes, the minute tick schedules a code still out of step again: a printed group
# code's push never gives up for good.
GROUP_CODE_PUSH = DueWork.push("group code push", GroupCode, task="siyu.groups.tasks.refresh_group_code")


def _new_state(corp: Corp) -> str:
    while True:
        state = STATE_PREFIX + secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")
        if not GroupCode.objects.filter(corp=corp, state=state).exists():
            return state


def group_code_save(
    *,
    actor: Actor,
    code: GroupCode | None = None,
    name: str,
    group_ids: list[int],
    member_limit: int = 200,
    auto_create: bool = False,
    room_base_name: str = "",
    room_base_id: int = 1,
    low_pool_alert: int = 1,
    welcome_text: str = "",
    welcome_attachments: list[dict] = (),
) -> GroupCode:
    """Create a group code or replace its rules and pool (in the order given)."""
    actor.require_manager()
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_("A group code needs a name."), field="name")
    if not 1 <= member_limit <= 500:
        raise InvalidInput(_("The member limit is 1 to 500 (WeCom's group size)."), field="member_limit")
    if not group_ids or len(group_ids) > POOL_MAX:
        raise InvalidInput(_("Choose 1 to %(pool_max)s groups.") % {"pool_max": POOL_MAX}, code="empty_pool", field="group_ids")
    if len(set(group_ids)) != len(group_ids):
        raise InvalidInput(_("A group is listed twice."), code="duplicate_group", field="group_ids")
    groups = {g.pk: g for g in CustomerGroup.objects.filter(corp=actor.corp, pk__in=group_ids)}
    missing = [g for g in group_ids if g not in groups]
    if missing:
        raise InvalidInput(_("No group %(group)s in this corp.") % {"group": missing[0]}, code="unknown_group", field="group_ids")
    if any(groups[g].status != CustomerGroup.Status.ACTIVE for g in group_ids):
        raise InvalidInput(_("A dismissed group cannot take new members."), code="dismissed_group", field="group_ids")
    if auto_create and not room_base_name.strip():
        raise InvalidInput(_("Auto-create needs a base name for the new groups."), field="room_base_name")
    code = code or GroupCode(corp=actor.corp, state=_new_state(actor.corp))
    code.name, code.member_limit, code.auto_create = name[:64], member_limit, auto_create
    code.room_base_name, code.room_base_id, code.low_pool_alert = room_base_name.strip()[:40], max(1, room_base_id), max(0, low_pool_alert)
    code.save()
    GroupCodeGroup.objects.filter(group_code=code).delete()
    GroupCodeGroup.objects.bulk_create([GroupCodeGroup(corp=actor.corp, group_code=code, group_id=g, order=i) for i, g in enumerate(group_ids)])
    publish(GroupCodeSaved(actor=actor, code=code, welcome={"text": welcome_text, "attachments": list(welcome_attachments)}))
    code_id = code.pk
    group_code_push_schedule(code_id, inline=True)
    return code


def group_code_set_status(*, actor: Actor, code: GroupCode, status: str) -> GroupCode:
    actor.require_manager()
    if status not in GroupCode.Status.values:
        raise InvalidInput(_("Unknown status %(status)r.") % {"status": status}, field="status")
    code.status = status
    code.save(update_fields=["status"])
    publish(GroupCodeSaved(actor=actor, code=code, welcome=None))
    code_id = code.pk
    group_code_push_schedule(code_id, inline=True)
    return code


def window(code: GroupCode) -> tuple[list[str], int]:
    """The groups the join way should hold now (≤ 5, pool order, below the limit) and how many
    groups in the pool still have room."""
    pool = list(GroupCodeGroup.objects.filter(group_code=code).select_related("group").order_by("order", "id"))
    open_groups = [p.group for p in pool if p.group.status == CustomerGroup.Status.ACTIVE and p.group.member_count < code.member_limit]
    chats = [g.chat_id for g in open_groups[:JOIN_WAY_MAX]]
    if not chats:
        live = [p.group.chat_id for p in pool if p.group.status == CustomerGroup.Status.ACTIVE]
        # Every group is at Siyu's limit. With auto-create, WeCom opens the next group once the
        # last is full by its own count; without, keep the code working on what it had.
        chats = live[-1:] if code.auto_create else (list(code.pushed_chat_ids) or live[-1:])
    return chats, len(open_groups)


def group_code_push_schedule(code_id: int, *, inline: bool = False) -> None:
    """Mark the code's push due; after commit, push now in this process (a save) or queue it."""
    run = (lambda: group_code_push_due(code_id)) if inline else None
    GROUP_CODE_PUSH.schedule(code_id, priority=PRIORITY_REFRESH, inline=run)


def group_code_push_due(code_id: int, *, client=None) -> str:
    """The push as due work: claimed once, retried with backoff when WeCom refuses."""

    def push(claim) -> str:
        code = group_code_push(code_id, client=client)
        return f"join way holds {len(code.pushed_chat_ids)} group(s)" + (f"; {code.alert}" if code.alert else "")

    return GROUP_CODE_PUSH.run(code_id, push)


def group_code_push(code_id: int, *, client=None) -> GroupCode:
    """Make WeCom's join way match the code."""

    code = GroupCode.objects.select_related("corp").get(pk=code_id)
    client = client or WeComClient(code.corp)
    try:
        if code.status == GroupCode.Status.DELETED:
            if code.config_id:
                try:
                    client.del_join_way(code.config_id)
                except WeComError as exc:
                    if exc.errcode != 41044:
                        raise
            GroupCode.objects.filter(pk=code.pk).update(config_id="", pushed_chat_ids=[], push_error="")
            return GroupCode.objects.get(pk=code.pk)
        chats, with_room = window(code)
        if not chats:
            raise InvalidInput(_("The group code has no active group."), code="empty_pool", field="group_ids")
        fields = {"auto_create_room": int(code.auto_create), "room_base_name": code.room_base_name, "room_base_id": code.room_base_id}
        if not code.config_id:
            config_id = client.add_join_way(
                chat_ids=chats,
                scene=2,
                remark=code.name[:30],
                state=code.state,
                auto_create_room=code.auto_create,
                room_base_name=code.room_base_name,
                room_base_id=code.room_base_id,
            )
            qr_url = client.get_join_way(config_id).get("qr_code", "")
            GroupCode.objects.filter(pk=code.pk).update(config_id=config_id, qr_url=qr_url)
        elif chats != code.pushed_chat_ids:
            client.update_join_way(code.config_id, chat_id_list=chats, **fields)
        low = with_room <= code.low_pool_alert and not code.auto_create
        alert = f"{with_room} group(s) with room left of {GroupCodeGroup.objects.filter(group_code=code).count()}" if low else ""
        GroupCode.objects.filter(pk=code.pk).update(
            pushed_chat_ids=chats,
            pushed_at=now(),
            push_error="",
            alert=alert,
            **({"alert_at": now()} if low and not code.alert else {}),
        )
        if low and not code.alert:
            log.warning("group code %s (%s) is running low: %s", code.pk, code.name, alert)
    except WeComError as exc:
        GroupCode.objects.filter(pk=code.pk).update(push_error=str(exc)[:300])
        raise
    return GroupCode.objects.get(pk=code.pk)


def group_codes_after_change(*, corp: Corp, group: CustomerGroup) -> int:
    """After a group's members changed: adopt a group WeCom opened for a code (its members came
    with the code's state), and queue a refresh for each code whose join way should now differ."""
    states = set(GroupMember.objects.filter(group=group, state__startswith=STATE_PREFIX).values_list("state", flat=True))
    for code in GroupCode.objects.filter(corp=corp, state__in=states).exclude(status=GroupCode.Status.DELETED):
        if not GroupCodeGroup.objects.filter(group_code=code, group=group).exists():
            last = GroupCodeGroup.objects.filter(group_code=code).order_by("-order").values_list("order", flat=True).first() or 0
            GroupCodeGroup.objects.create(corp=corp, group_code=code, group=group, order=last + 1)
            GroupCode.objects.filter(pk=code.pk).update(room_base_id=code.room_base_id + 1)
    queued = 0
    codes = GroupCode.objects.filter(corp=corp, status=GroupCode.Status.ACTIVE, pool__group=group).exclude(config_id="").distinct()
    for code in codes:
        if window(code)[0] != code.pushed_chat_ids:
            group_code_push_schedule(code.pk)
            queued += 1
    return queued


def group_codes_refresh_due() -> int:
    """The worker's minute tick: codes WeCom has not taken yet (never pushed, or the push failed)."""
    due = GroupCode.objects.filter(status=GroupCode.Status.ACTIVE).exclude(push_error="") | GroupCode.objects.filter(
        status=GroupCode.Status.ACTIVE, config_id=""
    )
    n = 0
    for code_id in due.exclude(push_status="pushing").values_list("pk", flat=True).distinct():
        group_code_push_schedule(code_id)
        n += 1
    return n
