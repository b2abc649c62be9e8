"""Changes Siyu makes in WeCom's customer data: corp tags it needs, tags on follows.

Like every WeCom call, these run outside any database transaction: read, call, then write.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from siyu.corps.models import Corp
from siyu.customers.models import Follow, FollowTag
from siyu.tags.models import Tag

from .client import WeComClient, WeComError

# mark_tag for a relationship that no longer exists, or a tag deleted meanwhile.
GONE = {84061, 41017}


def tags_ensure_in_wecom(corp: Corp, tags: list[Tag], client) -> None:
    """Create in WeCom the corp tags that exist only in Siyu, so mark_tag can use them."""
    for tag in tags:
        if tag.wecom_tag_id:
            continue
        group = tag.group
        answer = client.add_corp_tag(tags=[{"name": tag.name}], **({"group_id": group.wecom_group_id} if group.wecom_group_id else {"group_name": group.name}))
        created = {t["name"]: t["id"] for t in answer.get("tag", [])}
        with transaction.atomic():
            if not group.wecom_group_id:
                group.wecom_group_id = answer["group_id"]
                group.save(update_fields=["wecom_group_id"])
            tag.wecom_tag_id = created.get(tag.name)
            tag.save(update_fields=["wecom_tag_id"])


def follow_tags_push(*, corp_pk: int, changes: list, client: WeComClient | None = None) -> str:
    """Mark in WeCom tag changes Siyu made on follows: [[follow id, add tag ids, remove tag ids], …].

    Afterwards the added tags are ensured on the follow again: a contact read applied between the
    change and this push (it mirrors WeCom, which did not have them yet) would have dropped them.
    """
    corp = Corp.objects.get(pk=corp_pk)
    client = client or WeComClient(corp)
    tag_ids = {t for _, plus, minus in changes for t in (*plus, *minus)}
    tags = {t.pk: t for t in Tag.objects.filter(corp=corp, pk__in=tag_ids).select_related("group")}
    tags_ensure_in_wecom(corp, [t for t in tags.values() if t.deleted_at is None], client)
    follows = {f.pk: f for f in Follow.objects.filter(corp=corp, pk__in=[c[0] for c in changes]).select_related("customer", "staff")}
    outcome = defaultdict(int)
    for follow_id, plus, minus in changes:
        follow = follows.get(follow_id)
        add = [tags[t].wecom_tag_id for t in plus if t in tags and tags[t].wecom_tag_id]
        remove = [tags[t].wecom_tag_id for t in minus if t in tags and tags[t].wecom_tag_id]
        if follow is None or not follow.is_active or not (add or remove):
            outcome["skipped"] += 1
            continue
        try:
            client.mark_tag(userid=follow.staff.userid, external_userid=follow.customer.external_userid, add=add, remove=remove)
        except WeComError as exc:
            if exc.errcode in GONE:
                outcome["gone"] += 1
                continue
            raise
        FollowTag.objects.bulk_create([FollowTag(corp=corp, follow=follow, tag_id=t) for t in plus if t in tags], ignore_conflicts=True)
        outcome["marked"] += 1
    return ", ".join(f"{k} {v}" for k, v in sorted(outcome.items())) or "nothing"
