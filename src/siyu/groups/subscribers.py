"""What groups do when other domains' events arrive (registered in GroupsConfig.ready())."""

from siyu.customers.events import CustomersIdentified
from siyu.kit.events import subscribe

from .models import GroupMember


@subscribe(CustomersIdentified)
def link_memberships(event: CustomersIdentified) -> None:
    # A group member who becomes a known customer later gets linked to the customer row.
    if not event.created:
        return
    by_userid = {c.external_userid: c.pk for c in event.customers}
    members = list(GroupMember.objects.filter(corp_id=event.corp_id, userid__in=list(by_userid), customer__isnull=True).only("pk", "userid"))
    for member in members:
        member.customer_id = by_userid[member.userid]
    GroupMember.objects.bulk_update(members, ["customer"])
