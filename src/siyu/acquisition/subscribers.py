"""What acquisition does with WeCom's events (registered in AcquisitionConfig.ready())."""

from siyu.kit.events import subscribe
from siyu.wecom.events import ContactAddReading, ContactLost, ContactsAdded

from .services import acquisition_lost, acquisitions_record, live_code_tags_for_add

# Attribution comes before the subscribers that read it (auto-tag conditions on channel and live code).
ATTRIBUTION_ORDER = 20


@subscribe(ContactAddReading)
def live_code_tags(event: ContactAddReading) -> list[str]:
    return live_code_tags_for_add(event.corp, event.state)


@subscribe(ContactsAdded, order=ATTRIBUTION_ORDER)
def attribute_adds(event: ContactsAdded) -> None:
    acquisitions_record(corp=event.corp, follows=[a.follow for a in event.added], code_cache=event.cache.setdefault("acquisition", {}))


@subscribe(ContactLost)
def mark_lost(event: ContactLost) -> None:
    acquisition_lost(follow=event.follow, at=event.at, by=event.by)
