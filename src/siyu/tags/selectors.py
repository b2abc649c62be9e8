"""Reads of the corp tag library."""

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for

from .models import Tag, TagGroup


def live_tags(actor: Actor):
    return Tag.objects.for_corp(actor.corp).filter(deleted_at__isnull=True, group__deleted_at__isnull=True)


def tag_library(actor: Actor):
    """Live groups with their live tags, in display order."""
    tags = Tag.objects.filter(deleted_at__isnull=True).order_by("order", "id")
    return (
        TagGroup.objects.for_corp(actor.corp)
        .filter(deleted_at__isnull=True)
        .prefetch_related(Prefetch("tags", queryset=tags, to_attr="live_tags"))
        .order_by("order", "id")
    )


def tag_group_get(actor: Actor, group_id: int) -> TagGroup:
    return get_for(actor, TagGroup.objects.filter(deleted_at__isnull=True), _("No such tag group."), pk=group_id)


def tag_get(actor: Actor, tag_id: int) -> Tag:
    return get_for(actor, live_tags(actor).select_related("group"), _("No such tag."), pk=tag_id)


def resolve_tags(actor: Actor, tag_ids, field: str) -> list[Tag]:
    """The live tags with these ids, in the actor's corp; any unknown id is named in the error."""
    ids = list(dict.fromkeys(tag_ids))
    found = {t.id: t for t in live_tags(actor).filter(pk__in=ids).select_related("group")}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(_("Unknown tags: %(ids)s.") % {"ids": ", ".join(map(str, missing))}, code="unknown_tag", field=field)
    return [found[i] for i in ids]


# Everyone reads the tag library; changing it is a manager's.
def tag_library_for_editing(actor: Actor):
    actor.require_manager()
    return tag_library(actor)


def tag_for_editing(actor: Actor, tag_id: int) -> Tag:
    actor.require_manager()
    return tag_get(actor, tag_id)


def tag_group_for_editing(actor: Actor, group_id: int) -> TagGroup:
    actor.require_manager()
    return tag_group_get(actor, group_id)
