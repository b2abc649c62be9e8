"""What journeys hear: events that start journeys, end a wait for an event, convert or exit a walk.

In the publisher's transaction (a rolled-back change enrolls no one), after the domains below have
done their part; for a corp without journeys each handler costs one cached read. An add, on the
path of every callback, only records its arrival (one row); the engine enrolls it seconds later.
"""

from datetime import timedelta

from django.db.models import Q

from siyu.acquisition.models import Acquisition
from siyu.analytics.models import Segment
from siyu.analytics.segments import SegmentFilters, customers_matching
from siyu.customers.events import CustomerFieldsChanged, CustomerStagesChanged, FollowTagsChanged
from siyu.customers.models import Follow
from siyu.groups.events import GroupMemberJoined
from siyu.guides.events import CustomerConversed
from siyu.kit.clock import now
from siyu.kit.events import subscribe
from siyu.orders.events import OrderPaid, OrderRefunded, OrdersImported
from siyu.wecom.events import CALLBACK, ContactLost, ContactsAdded, NewFollow

from .engine import arrival_record, definition_of, enroll, event_seen, exits_on, goal_reached, has_walks, live_journeys, system_actor
from .models import Journey

RECENT = timedelta(days=2)
ORDER = 300  # after attribution (acquisition) and auto-tags: a journey sees the customer as they now are


def _trigger(journey) -> dict:
    return definition_of(journey.live_version_id)["trigger"]


@subscribe(ContactsAdded, order=ORDER)
def _contacts_added(event: ContactsAdded) -> None:
    if event.source != CALLBACK:  # a relationship a sync found is not a new customer's arrival
        return
    for added in event.added:
        _arrived(event.corp, added)


def _arrived(corp, added: NewFollow) -> None:
    follow = added.follow
    came: dict | None = None

    def attribution() -> dict:  # read once, and only when a journey asks where the customer came from
        nonlocal came
        if came is None:
            rows = Acquisition.objects.filter(follow=follow).order_by("-added_at")
            came = rows.values("channel_id", "live_code_id", "lead_id", "lead__form_id").first() or {}
        return came

    starting = []
    for journey in live_journeys(corp.pk, "contact_added"):
        trigger = _trigger(journey)
        if trigger.get("channel_ids") or trigger.get("live_code_ids"):
            came_by = attribution()
            if came_by.get("channel_id") not in (trigger.get("channel_ids") or []) and came_by.get("live_code_id") not in (trigger.get("live_code_ids") or []):
                continue
        starting.append(journey)
    # A lead form's visitor becomes a customer to act on when they add the guide the form showed.
    for journey in live_journeys(corp.pk, "lead_submitted"):
        forms, came_by = _trigger(journey).get("form_ids") or [], attribution()
        if came_by.get("lead_id") and (not forms or came_by.get("lead__form_id") in forms):
            starting.append(journey)
    if starting:  # enrolled by the engine's next pass: the callback writes one row, whatever it starts
        arrival_record(corp.pk, follow, starting, new_customer=added.customer_created)


def segment_entries(corp_id: int, customer_ids) -> int:
    """Customers whose data just changed enter the journeys that start on a segment they now match
    (the daily pass catches the rest: changes no event announces, time passing)."""
    journeys = [j for j in live_journeys(corp_id, "*") if j.status == Journey.Status.ACTIVE and j.trigger_kind == "segment"]
    entered = 0
    for journey in journeys:
        segment = Segment.objects.filter(corp_id=corp_id, pk=_trigger(journey).get("segment_id")).first()
        if segment is None:
            continue  # the pass pauses the journey with its alert
        inside = customers_matching(system_actor(journey), SegmentFilters.from_json(segment.filters)).filter(pk__in=list(customer_ids))
        ids = list(inside.values_list("pk", flat=True))
        if ids:
            entered += enroll(journey, ids, entry_key=f"segment:{now().astimezone(journey.corp.tzinfo).date()}")
    return entered


@subscribe(ContactLost, order=ORDER)
def _contact_lost(event: ContactLost) -> None:
    if event.by == "customer" and has_walks(event.corp.pk):
        exits_on(event.corp.pk, event.follow.customer_id, "lost", at=event.at)


@subscribe(FollowTagsChanged, order=ORDER)
def _tags_changed(event: FollowTagsChanged) -> None:
    if not has_walks(event.corp_id):
        return
    customers = dict(Follow.objects.filter(pk__in=[c[0] for c in event.changes]).values_list("pk", "customer_id"))
    added: dict[int, set] = {}
    removed: dict[int, set] = {}
    for follow_id, plus, minus in event.changes:
        added.setdefault(customers[follow_id], set()).update(plus)
        removed.setdefault(customers[follow_id], set()).update(minus)
    for name, changes in (("tag_added", added), ("tag_removed", removed)):
        journeys = live_journeys(event.corp_id, name)
        for customer_id, tag_ids in changes.items():
            if not tag_ids:
                continue
            if name == "tag_added":
                event_seen(event.corp_id, customer_id, "tag_added", tag_ids=tag_ids)
                exits_on(event.corp_id, customer_id, "tag_added", tag_ids=tag_ids)
            for journey in journeys:
                if set(_trigger(journey).get("tag_ids") or []) & tag_ids:
                    enroll(journey, [customer_id], entry_key=f"{name}:{sorted(tag_ids)[0]}:{_stamp()}")
    segment_entries(event.corp_id, set(added) | set(removed))


def _stamp() -> str:
    """An occasion's key for an event that is itself a change (it is published once per change)."""
    return f"{now():%Y%m%d%H%M%S%f}"


@subscribe(CustomerFieldsChanged, order=ORDER)
def _fields_changed(event: CustomerFieldsChanged) -> None:
    if not has_walks(event.corp_id):
        return
    keys = {key for key, _old, new in event.changed}
    for key in keys:
        event_seen(event.corp_id, event.customer_id, "field_changed", field=key)
    for journey in live_journeys(event.corp_id, "field_changed"):
        if _trigger(journey).get("field") in keys:
            enroll(journey, [event.customer_id], entry_key=f"field:{_stamp()}")
    segment_entries(event.corp_id, [event.customer_id])


@subscribe(CustomerStagesChanged, order=ORDER)
def _stages_changed(event: CustomerStagesChanged) -> None:
    journeys = live_journeys(event.corp_id, "stage_entered")
    for journey in journeys:
        wanted = set(_trigger(journey).get("stage_ids") or [])
        entering: dict[int, list[int]] = {}
        for customer_id, _old, new in event.changes:
            if new in wanted:
                entering.setdefault(new, []).append(customer_id)
        for stage_id, ids in entering.items():
            enroll(journey, ids, entry_key=f"stage:{stage_id}:{now():%Y%m%d}")
    if has_walks(event.corp_id):  # a stage-started journey is one too
        segment_entries(event.corp_id, [customer_id for customer_id, _old, _new in event.changes])


@subscribe(OrderPaid, order=ORDER)
def _order_paid(event: OrderPaid) -> None:
    order = event.order
    if order.customer_id is None or not has_walks(event.corp.pk):
        return
    goal_reached(event.corp.pk, order.customer_id, order.paid_at)
    event_seen(event.corp.pk, order.customer_id, "order_paid")
    if order.paid_at < now() - RECENT:  # an old order imported now is history, not an occasion
        return
    for journey in live_journeys(event.corp.pk, "order_paid"):
        enroll(journey, [order.customer_id], entry_key=f"order:{order.pk}")
    segment_entries(event.corp.pk, [order.customer_id])


@subscribe(OrdersImported, order=ORDER)
def _orders_imported(event: OrdersImported) -> None:
    """A history import's orders, as OrderPaid and OrderRefunded: nothing to read without journeys."""
    if not has_walks(event.corp.pk):
        return
    refund_journeys = live_journeys(event.corp.pk, "order_refunded")
    for order in event.orders(Q(customer__isnull=False)):
        _order_paid(OrderPaid(corp=event.corp, order=order))
        if order.refunded_fen and refund_journeys:
            _order_refunded(OrderRefunded(corp=event.corp, order=order, previous_fen=0))


@subscribe(OrderRefunded, order=ORDER)
def _order_refunded(event: OrderRefunded) -> None:
    order = event.order
    if order.customer_id is None:
        return
    for journey in live_journeys(event.corp.pk, "order_refunded"):
        enroll(journey, [order.customer_id], entry_key=f"refund:{order.pk}:{order.refunded_fen}")


@subscribe(GroupMemberJoined, order=ORDER)
def _group_joined(event: GroupMemberJoined) -> None:
    customer_id = event.member.customer_id
    if customer_id is None or not has_walks(event.corp.pk):
        return
    event_seen(event.corp.pk, customer_id, "group_joined", group_id=event.group.pk)
    for journey in live_journeys(event.corp.pk, "group_joined"):
        groups = _trigger(journey).get("group_ids") or []
        if not groups or event.group.pk in groups:
            enroll(journey, [customer_id], entry_key=f"group:{event.group.pk}:{event.member.pk}")


@subscribe(CustomerConversed, order=ORDER)
def _conversed(event: CustomerConversed) -> None:
    if not has_walks(event.corp_id):
        return
    event_seen(event.corp_id, event.customer_id, "replied", at=event.at)
    exits_on(event.corp_id, event.customer_id, "replied", at=event.at)
