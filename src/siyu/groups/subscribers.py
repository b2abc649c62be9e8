"""What groups do when other domains' events arrive (registered in GroupsConfig.ready())."""

from siyu.customers.events import CustomerIdentified
from siyu.kit.events import subscribe

from .models import GroupMember


@subscribe(CustomerIdentified)
def link_memberships(event: CustomerIdentified) -> None:
    # A group member who becomes a known customer later gets linked to the customer row.
    if event.created:
        GroupMember.objects.filter(corp_id=event.customer.corp_id, userid=event.customer.external_userid, customer__isnull=True).update(customer=event.customer)
