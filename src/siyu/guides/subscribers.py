"""What guide tasks do when other domains announce (kit.events)."""

from siyu.customers.events import CustomerNoted, FollowTagsChanged
from siyu.kit.events import subscribe

from .services import items_noted, items_tagged


@subscribe(CustomerNoted)
def revisits_done(event: CustomerNoted) -> None:
    items_noted(corp_id=event.corp_id, customer_id=event.customer_id, staff_id=event.staff_id, at=event.at)


@subscribe(FollowTagsChanged)
def tags_done(event: FollowTagsChanged) -> None:
    items_tagged(corp_id=event.corp_id, changes=event.changes)
