"""Tenant scoping: every corp-owned row is read through `for_corp`, every request acts as an Actor.

An Actor is "this user, in this corp, with this role" — the one thing selectors and services take
to decide what may be seen or changed. A row of another corp is reported exactly like a missing
row, so ids cannot be probed across tenants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

from .errors import Forbidden, NotFound

if TYPE_CHECKING:
    from siyu.corps.models import Corp, User


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    OPERATOR = "operator", _("Operator")
    GUIDE = "guide", _("Guide")


# Roles allowed to change corp-wide things (the tag library, other people's customers).
MANAGING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.OPERATOR})
ADMIN_ROLES = frozenset({Role.OWNER, Role.ADMIN})


@dataclass(frozen=True)
class Actor:
    user: User | None  # None: the system acting (seeding, sync), not a person
    corp: Corp
    role: str
    staff_id: int | None = None

    @property
    def is_guide(self) -> bool:
        return self.role == Role.GUIDE

    @property
    def role_label(self) -> str:
        return Role(self.role).label

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGING_ROLES

    def require_manager(self) -> None:
        if not self.can_manage:
            raise Forbidden(_("Your role may not change this."), code="role_forbidden")

    def require_admin(self) -> None:
        # Corp plumbing (credentials, sync, the callback inbox) is for owners and admins only.
        if self.role not in ADMIN_ROLES:
            raise Forbidden(_("Only owners and admins may do this."), code="role_forbidden")


class CorpQuerySet(models.QuerySet):
    def for_corp(self, corp) -> CorpQuerySet:
        return self.filter(corp=corp)


class CorpOwned(models.Model):
    """Base for every tenant-owned table: the corp column and the scoped manager."""

    corp = models.ForeignKey("corps.Corp", on_delete=models.CASCADE, related_name="+")

    objects = CorpQuerySet.as_manager()

    class Meta:
        abstract = True


def get_for(actor: Actor, queryset: CorpQuerySet, missing: str = "", **lookup):
    """The row matching `lookup` in the actor's corp, or NotFound — also for other corps' rows."""
    obj = queryset.for_corp(actor.corp).filter(**lookup).first()
    if obj is None:
        raise NotFound(missing or _("Not found."))
    return obj
