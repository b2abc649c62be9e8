"""Reading the library's content (内容阅览): each opening recorded, how long and how far it was
read, shares, interest tags, and the guide told that their customer is reading.

- **An opening** records the visitor, their customer when known, the link's staff member and send,
  and the sharer when the page was opened from someone's shared copy.
- **Dwell and scroll** arrive from the open page (a beacon every few seconds and on leaving),
  keyed by the view's secret key. They only grow, and are capped: a tab left open all night
  reads as four hours.
- **Interest rules**: on a customer's first opening of an item, each active rule whose library tag
  the item carries counts the different items with that tag the customer has opened; at the
  rule's count the customer gets its tag (through the same tagging as the console's, so WeCom is
  marked too).
- **"客户正在浏览"**: the staff member whose customer opens an item gets an app card, at most once
  per customer and item in 30 minutes. The card is sent by a worker task after commit, never on
  the reader's request.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Least
from django.urls import reverse
from django.utils.translation import gettext as _

from siyu.corps.models import Corp, Staff
from siyu.customers.models import Customer, Follow, FollowTag
from siyu.customers.services import customers_tags_change
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.library import LinkOpened
from siyu.messaging.models import ContentItem
from siyu.tags.models import Tag
from siyu.wecom.client import WeComClient

from . import earning, points_tasks
from .models import ContentView, InterestRule, PointsTask, WechatVisitor

MAX_DWELL = 4 * 3600
ALERT_QUIET = timedelta(minutes=30)


@transaction.atomic
def content_opened(*, corp: Corp, item: ContentItem, visitor: WechatVisitor, link: LinkOpened, shared_by: WechatVisitor | None = None) -> ContentView:
    stamp = now()
    staff_id = link.staff_id if link.staff_id and Staff.objects.filter(corp=corp, pk=link.staff_id).exists() else None
    customer_id = visitor.customer_id
    if shared_by is not None and shared_by.pk == visitor.pk:
        shared_by = None  # reopening one's own shared copy is not a share
    earlier = (
        ContentView.objects.filter(corp=corp, customer_id=customer_id, item=item).values_list("opened_at", flat=True).order_by("-opened_at").first()
        if customer_id
        else None
    )
    view = ContentView.objects.create(
        corp=corp,
        item=item,
        visitor=visitor,
        customer_id=customer_id,
        staff_id=staff_id,
        via=link.via,
        shared_by=shared_by,
        opened_at=stamp,
        key=secrets.token_urlsafe(16),
    )
    WechatVisitor.objects.filter(pk=visitor.pk).update(last_seen_at=stamp)
    if customer_id:
        if earlier is None:
            interest_rules_apply(corp, customer_id, item)
            earning.content_read(corp, customer_id, item.pk)
            points_tasks.completed(corp, customer_id, PointsTask.Kind.READ, item_id=item.pk, at=stamp)
        if earlier is None or earlier < stamp - ALERT_QUIET:
            enqueue_after_commit("siyu.engagement.tasks.reading_alert", view.pk)
    if shared_by is not None and shared_by.customer_id and shared_by.customer_id != customer_id:
        points_tasks.completed(corp, shared_by.customer_id, PointsTask.Kind.SHARE, item_id=item.pk, at=stamp)
    return view


def view_progress(*, corp_id: str, key: str, dwell: int, scroll: int) -> bool:
    """Dwell (seconds) and scroll depth (percent) of an open view; False for an unknown key. The
    corp is named by its WeCom id, as in the page's address: a reader's page sends a beacon every
    few seconds, and this is its one statement."""
    dwell, scroll = max(0, min(int(dwell), MAX_DWELL)), max(0, min(int(scroll), 100))
    return bool(
        ContentView.objects.filter(corp__corp_id=corp_id, key=key).update(
            dwell_seconds=Greatest(F("dwell_seconds"), Value(dwell)), scroll_percent=Least(Value(100), Greatest(F("scroll_percent"), Value(scroll)))
        )
    )


def interest_rules_apply(corp: Corp, customer_id: int, item: ContentItem) -> list[int]:
    """Tag ids given to the customer by the rules this item's tags reach."""
    rules = [r for r in InterestRule.objects.filter(corp=corp, active=True, tag__deleted_at__isnull=True).select_related("tag") if r.content_tag in item.tags]
    given = []
    # A library holds hundreds of items, not millions: their tags are read once and matched here
    # (a JSON containment lookup would not run on SQLite).
    library = list(ContentItem.objects.filter(corp=corp).values_list("pk", "tags")) if rules else []
    for rule in rules:
        tagged = [pk for pk, tags in library if rule.content_tag in (tags or [])]
        read = ContentView.objects.filter(corp=corp, customer_id=customer_id, item_id__in=tagged).values("item_id").distinct().count()
        if read < rule.reads:
            continue
        if FollowTag.objects.filter(tag=rule.tag, follow__customer_id=customer_id).exists():
            continue
        actor = Actor(user=None, corp=corp, role=Role.ADMIN)
        customers_tags_change(actor=actor, customers=Customer.objects.filter(corp=corp, pk=customer_id), add=[rule.tag])
        given.append(rule.tag_id)
    return given


def reading_alert(view_pk: int, client: WeComClient | None = None) -> str:
    """The app card to the staff member whose customer is reading (the link's sender when they
    follow the customer, else the customer's latest follower)."""
    view = ContentView.objects.select_related("corp", "item", "customer", "staff").filter(pk=view_pk).first()
    if view is None or view.customer is None or not view.corp.agent_id:
        return "nobody"
    follows = Follow.objects.filter(
        corp=view.corp, customer=view.customer, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True, staff__status=Staff.Status.ACTIVE
    ).select_related("staff")
    follow = follows.filter(staff_id=view.staff_id).first() if view.staff_id else None
    follow = follow or follows.order_by("-added_at").first()
    if follow is None:
        return "no follower"
    url = settings.SIYU_PUBLIC_URL + reverse("console:customer", args=[view.customer_id])
    (client or WeComClient(view.corp)).app_textcard(
        agentid=view.corp.agent_id,
        userids=[follow.staff.userid],
        title="客户正在浏览",
        description=f"{view.customer.name} 正在浏览《{view.item.title}》",
        url=url,
    )
    return "sent"


def interest_rule_create(*, actor: Actor, content_tag: str, reads: int, tag_id: int) -> InterestRule:
    actor.require_manager()
    content_tag = (content_tag or "").strip()
    if not content_tag or len(content_tag) > 16:
        raise InvalidInput(_("Name the library tag (at most 16 characters)."), code="bad_content_tag", field="content_tag")
    if not isinstance(reads, int) or not 1 <= reads <= 100:
        raise InvalidInput(_("Reads is a whole number from 1 to 100."), code="bad_reads", field="reads")
    tag = Tag.objects.filter(corp=actor.corp, pk=tag_id, deleted_at__isnull=True).first()
    if tag is None:
        raise InvalidInput(_("No such tag."), code="no_such_tag", field="tag_id")
    try:
        with transaction.atomic():
            return InterestRule.objects.create(corp=actor.corp, content_tag=content_tag, reads=reads, tag=tag)
    except IntegrityError:
        raise Conflict(_("This library tag already gives that tag."), code="rule_exists", field="content_tag") from None


def interest_rule_set_active(*, actor: Actor, rule: InterestRule, active: bool) -> InterestRule:
    actor.require_manager()
    rule.active = active
    rule.save(update_fields=["active"])
    return rule
