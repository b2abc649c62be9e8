"""Writes to the corp tag library. Later issues mirror these to WeCom (add/edit/del_corp_tag)."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Actor

from .models import NAME_MAX, Tag, TagGroup


def _clean_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_("A name is required."), field=field)
    if len(name) > NAME_MAX:
        raise InvalidInput(_("The name is longer than %(name_max)s characters.") % {"name_max": NAME_MAX}, code="name_too_long", field=field)
    return name


def _save_unique(obj, message: str, field: str = "name"):
    # The partial unique constraints are the truth under concurrency; this only translates them.
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise Conflict(message, code="duplicate_name", field=field) from None
    return obj


def tag_group_create(*, actor: Actor, name: str, order: int = 0, tag_names: list[str] | None = None) -> TagGroup:
    """A group with its first tags: as in WeCom, a group has at least one (its last tag's deletion deletes it)."""
    actor.require_manager()
    name = _clean_name(name)
    if not tag_names:
        raise InvalidInput(_("A tag group needs at least one tag."), code="empty_group", field="tags")
    group = _save_unique(TagGroup(corp=actor.corp, name=name, order=order), _("A tag group named “%(name)s” already exists.") % {"name": name})
    for position, tag_name in enumerate(tag_names or []):
        tag_create(actor=actor, group=group, name=tag_name, order=position)
    return group


def _rename_or_reorder(obj, *, name: str | None, order: int | None, conflict: str):
    if name is not None:
        obj.name = _clean_name(name)
    if order is not None:
        obj.order = order
    return _save_unique(obj, conflict)


def tag_group_update(*, actor: Actor, group: TagGroup, name: str | None = None, order: int | None = None) -> TagGroup:
    actor.require_manager()
    return _rename_or_reorder(group, name=name, order=order, conflict=_("A tag group named “%(name)s” already exists.") % {"name": name})


def tag_group_delete(*, actor: Actor, group: TagGroup) -> None:
    actor.require_manager()
    stamp = now()
    Tag.objects.filter(group=group, deleted_at__isnull=True).update(deleted_at=stamp)
    group.deleted_at = stamp
    group.save(update_fields=["deleted_at"])


def tag_create(*, actor: Actor, group: TagGroup, name: str, order: int = 0) -> Tag:
    actor.require_manager()
    return _save_unique(
        Tag(corp=actor.corp, group=group, name=_clean_name(name), order=order), _("The group already has a tag named “%(name)s”.") % {"name": name}
    )


def tag_update(*, actor: Actor, tag: Tag, name: str | None = None, order: int | None = None) -> Tag:
    actor.require_manager()
    return _rename_or_reorder(tag, name=name, order=order, conflict=_("The group already has a tag named “%(name)s”.") % {"name": name})


def tag_delete(*, actor: Actor, tag: Tag) -> None:
    """Soft delete; like WeCom, a group whose last tag goes is deleted with it."""
    actor.require_manager()
    stamp = now()
    tag.deleted_at = stamp
    tag.save(update_fields=["deleted_at"])
    if not Tag.objects.filter(group_id=tag.group_id, deleted_at__isnull=True).exists():
        TagGroup.objects.filter(pk=tag.group_id).update(deleted_at=stamp)
