"""The demo corp's WeCom is the sandbox: the same staff, tags, customers and follows, so a sync
finds nothing to change, and the simulated population's callbacks reach the demo corp live."""

from __future__ import annotations

import base64
import random
import secrets
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from siyu.corps.models import Corp, Department, Staff
from siyu.corps.services import corp_set_credentials
from siyu.customers.models import Customer, CustomerPhone, Follow, FollowTag
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbBehavior, SbCorp, SbCustomer, SbDepartment, SbFollow, SbGroup, SbGroupDay, SbStaff, SbTag, SbTagGroup
from siyu.tags.models import Tag, TagGroup

DEMO_GROUPS = 24
CHINA = ZoneInfo("Asia/Shanghai")  # WeCom's days


@transaction.atomic
def back_with_sandbox(corp: Corp, *, base_url: str, seed: int = 7) -> tuple[SbCorp, bool]:
    """Make (once) the sandbox corp that mirrors `corp`, then point both at `base_url`.

    Returns (sandbox corp, created). The addresses are refreshed on every call because the demo
    may be served on another port next time.
    """
    sb = SbCorp.objects.filter(corpid=corp.corp_id).first()
    created = sb is None
    if created:
        aes_key = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        sb = sandbox.corp_create(corpid=corp.corp_id, name=corp.name, callback_token=secrets.token_hex(16), callback_aes_key=aes_key)
        corp_set_credentials(corp=corp, secret=sb.secret, token=sb.callback_token, aes_key=sb.callback_aes_key)
        _mirror(corp, sb, random.Random(seed))
    if not corp.oa_appid:  # the brand's Official Account is the sandbox's: customer pages sign in through it
        corp_set_credentials(corp=corp, oa_appid=sb.oa_appid, oa_secret=sb.oa_secret)
    base_url = base_url.rstrip("/")
    Corp.objects.filter(pk=corp.pk).update(api_base=f"{base_url}/sandbox/cgi-bin/")
    SbCorp.objects.filter(pk=sb.pk).update(callback_url=f"{base_url}/wecom/callback/{corp.corp_id}/", toolbar_url=f"{base_url}/sidebar/{corp.corp_id}/")
    sb.refresh_from_db()
    return sb, created


def _mirror(corp: Corp, sb: SbCorp, rng: random.Random) -> None:
    depts = list(Department.objects.filter(corp=corp).order_by("wecom_id"))
    root = depts[0].wecom_id if depts else 1
    by_pk = {d.pk: d for d in depts}

    def parent_of(d: Department) -> int:
        if d.wecom_id == root:
            return 0
        return by_pk[d.parent_id].wecom_id if d.parent_id in by_pk else root

    SbDepartment.objects.bulk_create([SbDepartment(corp=sb, dept_id=d.wecom_id, name=d.name, parent_id=parent_of(d), order=d.order) for d in depts])
    # The sandbox's tree has a root; Siyu learns the same tree, so a sync later changes nothing.
    by_wecom = {d.wecom_id: d for d in depts}
    Department.objects.filter(corp=corp, parent__isnull=True).exclude(wecom_id=root).update(parent=by_wecom.get(root))
    staff = {s.id: s for s in Staff.objects.filter(corp=corp).select_related("department")}
    sb_staff = {
        sid: SbStaff(
            corp=sb, userid=s.userid, name=s.name, department=s.department.wecom_id if s.department else root, position=s.position, is_leader=s.is_leader
        )
        for sid, s in staff.items()
    }
    SbStaff.objects.bulk_create(sb_staff.values())

    tag_ids = {}
    for group in TagGroup.objects.filter(corp=corp, deleted_at__isnull=True).order_by("order", "id"):
        sb_group = SbTagGroup.objects.create(
            corp=sb, group_id="et" + secrets.token_hex(11), name=group.name, order=group.order, create_time=int(group.created_at.timestamp())
        )
        TagGroup.objects.filter(pk=group.pk).update(wecom_group_id=sb_group.group_id)
        for tag in group.tags.filter(deleted_at__isnull=True).order_by("order", "id"):
            sb_tag = SbTag.objects.create(group=sb_group, tag_id="et" + secrets.token_hex(11), name=tag.name, order=tag.order, create_time=sb_group.create_time)
            Tag.objects.filter(pk=tag.pk).update(wecom_tag_id=sb_tag.tag_id)
            tag_ids[tag.id] = sb_tag.tag_id

    customers = {
        c.id: SbCustomer(corp=sb, external_userid=c.external_userid, name=c.name, unionid=c.unionid, gender=c.gender, type=c.type)
        for c in Customer.objects.filter(corp=corp)
    }
    SbCustomer.objects.bulk_create(customers.values(), batch_size=5000)
    phones = defaultdict(list)
    for customer_id, phone in CustomerPhone.objects.filter(corp=corp).values_list("customer_id", "phone"):
        phones[customer_id].append(phone)
    follow_tags = defaultdict(list)
    for follow_id, tag_id in FollowTag.objects.filter(corp=corp).values_list("follow_id", "tag_id"):
        if tag_id in tag_ids:
            follow_tags[follow_id].append(tag_ids[tag_id])
    follows, seen_phone = [], set()
    live = Follow.objects.filter(corp=corp, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True).order_by("id")
    for f in live:
        mobiles = phones[f.customer_id] if f.customer_id not in seen_phone else []
        seen_phone.add(f.customer_id)
        follows.append(
            SbFollow(
                corp=sb,
                customer=customers[f.customer_id],
                staff=sb_staff[f.staff_id],
                remark=f.remark,
                description=f.description,
                createtime=int(f.added_at.timestamp()),
                add_way=f.add_way,
                state=f.state,
                remark_mobiles=mobiles,
                tag_ids=follow_tags[f.id],
            )
        )
    SbFollow.objects.bulk_create(follows, batch_size=5000)
    _groups(sb, follows, rng)
    _behaviour(sb, list(sb_staff.values()), follows, rng)


BEHAVIOUR_DAYS = 90


def _behaviour(sb: SbCorp, staff: list[SbStaff], follows: list[SbFollow], rng: random.Random) -> None:
    """WeCom's contact statistics for the last 90 days, which Siyu pulls once the demo runs: new
    contacts from the follows themselves, chats and replies at each guide's own pace (some answer
    nearly every chat, some let a third go unanswered)."""
    today = datetime.now(CHINA).date()
    adds = defaultdict(int)
    for f in follows:
        adds[(f.staff.userid, datetime.fromtimestamp(f.createtime, CHINA).date())] += 1
    rows = []
    for member in staff:
        pace, care = rng.uniform(2, 12), rng.uniform(0.65, 0.98)
        for back in range(1, BEHAVIOUR_DAYS + 1):
            day = today - timedelta(days=back)
            chats = max(0, int(rng.gauss(pace, pace / 3)))
            replied = sum(rng.random() < care for _ in range(chats))
            rows.append(
                SbBehavior(
                    corp=sb,
                    staff=member,
                    day=day,
                    chat_cnt=chats,
                    message_cnt=chats * rng.randint(2, 6),
                    replied_chat_cnt=replied,
                    reply_minutes_total=sum(rng.randint(1, 40) for _ in range(replied)),
                    negative_feedback_cnt=int(rng.random() < 0.05),
                    new_apply_cnt=0,
                    new_contact_cnt=adds[(member.userid, day)],
                )
            )
    SbBehavior.objects.bulk_create(rows, batch_size=5000)


def _groups(sb: SbCorp, follows: list[SbFollow], rng: random.Random) -> None:
    """Customer groups exist only in "WeCom" at first; the demo's first sync brings them in."""
    by_staff = defaultdict(list)
    for f in follows:
        by_staff[f.staff].append(f.customer)
    owners = [s for s, cs in by_staff.items() if len(cs) >= 3]
    for n in range(min(DEMO_GROUPS, len(owners))):
        owner = owners[n % len(owners)]
        members = rng.sample(by_staff[owner], min(len(by_staff[owner]), rng.randint(8, 40)))
        group = sandbox.group_add(corp=sb, owner=owner, name=f"{owner.name}的宝妈群 {n + 1}", members=members, state=rng.choice(("", "group-qr")))
        _group_chat(group, [owner.userid] + [c.external_userid for c in members], rng)


def _group_chat(group: SbGroup, people: list[str], rng: random.Random) -> None:
    """The group's chat over the last 90 days, for WeCom's group statistics: busy groups talk most
    days, quiet ones now and then."""
    today, liveliness = datetime.now(CHINA).date(), rng.uniform(0.2, 0.9)
    rows = []
    for back in range(1, BEHAVIOUR_DAYS + 1):
        if rng.random() < liveliness:
            speakers = rng.sample(people, min(len(people), rng.randint(1, 6)))
            rows.append(SbGroupDay(group=group, day=today - timedelta(days=back), messages=len(speakers) * rng.randint(1, 5), speakers=speakers))
    SbGroupDay.objects.bulk_create(rows)
