"""Auto-tag rules run on new relationships and group joins WeCom reports (registered in
AutotagConfig.ready()). Not on a sync's: backfilling is the rules' own tool there."""

from siyu.customers.models import Follow
from siyu.groups.events import GroupChanged
from siyu.kit.events import subscribe
from siyu.wecom.events import CALLBACK, ContactsAdded

from .services import rules_apply

# After acquisition's attribution (order 20): conditions on channel and live code read it.
RULES_ORDER = 50


@subscribe(ContactsAdded, order=RULES_ORDER)
def rules_on_add(event: ContactsAdded) -> None:
    if event.source == CALLBACK:
        rules_apply(corp=event.corp, follows=[a.follow for a in event.added])


@subscribe(GroupChanged, order=RULES_ORDER)
def rules_on_join(event: GroupChanged) -> None:
    if event.source == CALLBACK and event.joined_customer_ids:
        rules_apply(corp=event.corp, follows=list(Follow.objects.filter(corp=event.corp, customer_id__in=event.joined_customer_ids)))
