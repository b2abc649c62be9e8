"""Reads for tenants and people."""

from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for

from .models import ApiToken, Department, Membership, Staff, User, hash_token


def memberships_of(user: User):
    return Membership.objects.filter(user=user).select_related("corp", "staff").order_by("corp__name")


def actor_for(user: User, corp_id: int | None) -> Actor | None:
    """The Actor for `user` in corp `corp_id`, or in their first corp when that one is not theirs."""
    memberships = memberships_of(user)
    membership = None
    if corp_id is not None:
        membership = memberships.filter(corp_id=corp_id).first()
    if membership is None:
        membership = memberships.first()
    if membership is None:
        return None
    return Actor(user=user, corp=membership.corp, role=membership.role, staff_id=membership.staff_id)


def actor_for_token(raw: str) -> Actor | None:
    token = ApiToken.objects.filter(key_hash=hash_token(raw), revoked_at__isnull=True).select_related("membership__user", "membership__corp").first()
    if token is None or not token.membership.user.is_active:
        return None
    # Touch at most once a minute: a busy client should not turn every read into a write.
    stamp = now()
    if token.last_used_at is None or (stamp - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=stamp)
    m = token.membership
    return Actor(user=m.user, corp=m.corp, role=m.role, staff_id=m.staff_id)


def staff_list(actor: Actor):
    qs = Staff.objects.for_corp(actor.corp).select_related("department")
    if actor.is_guide:
        qs = qs.filter(pk=actor.staff_id)
    return qs.order_by("name", "id")


def staff_resolve(actor: Actor, staff_id: int, field: str) -> Staff:
    """A staff member named in input: unknown or another corp's is the client's mistake (400), naming the field."""
    staff = Staff.objects.for_corp(actor.corp).filter(pk=staff_id).first()
    if staff is None:
        raise InvalidInput(_("Unknown staff member %(staff_id)s.") % {"staff_id": staff_id}, code="unknown_staff", field=field)
    return staff


def staff_get(actor: Actor, staff_id: int) -> Staff:
    """A staff member named in the path: another corp's answers 404 like a missing one."""
    return get_for(actor, Staff.objects.all(), _("No such staff member."), pk=staff_id)


def department_list(actor: Actor):
    return Department.objects.for_corp(actor.corp).order_by("order", "name", "id")


def corp_settings_for(actor: Actor):
    """The corp whose settings page the actor opens: an admin's."""
    actor.require_admin()
    return actor.corp
