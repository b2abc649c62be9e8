"""Reads for customer groups and group codes, within the actor's corp."""

from django.utils.translation import gettext as _

from siyu.kit.tenancy import Actor, get_for

from .models import CustomerGroup, GroupCode


def groups(actor: Actor):
    qs = CustomerGroup.objects.for_corp(actor.corp).select_related("owner")
    if actor.is_guide:
        qs = qs.filter(owner_id=actor.staff_id)
    return qs.order_by("-id")


def group_choices(actor: Actor, *, active_only: bool = False, limit: int = 1000):
    """Groups to pick from in a form (rules, group codes): the corp's, by name."""
    qs = CustomerGroup.objects.for_corp(actor.corp)
    if active_only:
        qs = qs.filter(status=CustomerGroup.Status.ACTIVE)
    return qs.order_by("name", "id")[:limit]


def group_codes(actor: Actor):
    """Group codes are a manager's."""
    actor.require_manager()
    return GroupCode.objects.for_corp(actor.corp).exclude(status=GroupCode.Status.DELETED).prefetch_related("pool__group").order_by("-id")


def group_code_get(actor: Actor, code_id: int) -> GroupCode:
    return get_for(actor, group_codes(actor), _("No such group code."), pk=code_id)
