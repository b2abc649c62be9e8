"""Bringing WeCom's view of people into Siyu's tables. One code path for callbacks and full sync."""

from __future__ import annotations

from datetime import datetime, timezone as dt_timezone

from siyu.corps.models import Corp, Staff
from siyu.corps.services import staff_upsert
from siyu.customers.models import Customer, Follow, FollowTag
from siyu.customers.services import customer_add_phones, customer_upsert, follow_add
from siyu.tags.models import Tag


def _staff(corp: Corp, userid: str, cache: dict) -> Staff:
    if userid not in cache:
        staff = Staff.objects.filter(corp=corp, userid=userid).first()
        # A member we have not synced yet: keep the relationship, the name arrives with the staff sync.
        cache[userid] = staff or staff_upsert(corp=corp, userid=userid, name=userid)
    return cache[userid]


def follow_added_key(customer: Customer, staff: Staff, createtime: int) -> str:
    """The same follow found by a callback, an edit or a full sync is one "added" entry."""
    return f"follow-added:{customer.id}:{staff.id}:{createtime}"


def apply_contact(corp: Corp, contact: dict, follow_infos: list[dict], *, tag_cache: dict | None = None, staff_cache: dict | None = None) -> tuple[Customer, list[Follow]]:
    """Upsert the customer and the given follows (with their corp tags) from WeCom's JSON.

    `follow_infos` are follow_user entries (tags as objects) or batch follow_info entries (tag_id
    list); both shapes are accepted.
    """
    staff_cache = {} if staff_cache is None else staff_cache
    customer = customer_upsert(
        corp=corp, external_userid=contact["external_userid"], name=contact.get("name", "")[:64], unionid=contact.get("unionid", ""),
        avatar=contact.get("avatar", ""), gender=int(contact.get("gender", 0) or 0), type=int(contact.get("type", 1) or 1),
        corp_name=contact.get("corp_name", ""), phones=[],
    )
    follows = []
    for info in follow_infos:
        staff = _staff(corp, info["userid"], staff_cache)
        createtime = int(info.get("createtime") or 0)
        added_at = datetime.fromtimestamp(createtime, tz=dt_timezone.utc)
        follow = follow_add(
            customer=customer, staff=staff, added_at=added_at, remark=info.get("remark", "")[:64], description=info.get("description", "")[:300],
            add_way=int(info.get("add_way", 0) or 0), state=info.get("state", "")[:30], oper_userid=info.get("oper_userid", ""),
            dedupe_key=follow_added_key(customer, staff, createtime),
        )
        changed = [f for f in ("remark", "description") if getattr(follow, f) != info.get(f, "")[: Follow._meta.get_field(f).max_length]]
        for f in changed:
            setattr(follow, f, info.get(f, "")[: Follow._meta.get_field(f).max_length])
        if changed:
            follow.save(update_fields=changed)
        customer_add_phones(customer=customer, phones=info.get("remark_mobiles") or [])
        _mirror_tags(corp, follow, _wecom_tag_ids(info), tag_cache)
        follows.append(follow)
    return customer, follows


def _wecom_tag_ids(info: dict) -> set[str]:
    if "tag_id" in info:
        return set(info["tag_id"] or [])
    return {t["tag_id"] for t in info.get("tags", []) if int(t.get("type", 1)) == 1}


def _mirror_tags(corp: Corp, follow: Follow, wecom_ids: set[str], tag_cache: dict | None) -> None:
    """Make the follow's corp tags equal WeCom's, for tags Siyu knows (unknown ones wait for tag sync)."""
    if tag_cache is None:
        tag_cache = {}
    if "map" not in tag_cache:
        tag_cache["map"] = dict(Tag.objects.filter(corp=corp, deleted_at__isnull=True, wecom_tag_id__isnull=False).values_list("wecom_tag_id", "id"))
    wanted = {tag_cache["map"][w] for w in wecom_ids if w in tag_cache["map"]}
    current = set(FollowTag.objects.filter(follow=follow, tag__wecom_tag_id__isnull=False).values_list("tag_id", flat=True))
    FollowTag.objects.bulk_create([FollowTag(corp=corp, follow=follow, tag_id=t) for t in wanted - current], ignore_conflicts=True)
    if current - wanted:
        FollowTag.objects.filter(follow=follow, tag_id__in=current - wanted).delete()
