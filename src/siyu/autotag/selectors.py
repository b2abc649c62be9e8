"""Reads for auto-tag rules, within the actor's corp."""

from django.utils.translation import gettext as _

from siyu.kit.tenancy import Actor, get_for

from .models import TagRule


def rules(actor: Actor):
    """Auto-tag rules are a manager's."""
    actor.require_manager()
    return TagRule.objects.for_corp(actor.corp).prefetch_related("add_tags", "remove_tags").order_by("id")


def rule_get(actor: Actor, rule_id: int) -> TagRule:
    return get_for(actor, rules(actor), _("No such rule."), pk=rule_id)
