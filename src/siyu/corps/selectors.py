"""Reads for tenants and people."""

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import ADMIN_ROLES, Actor, Role, get_for

from .models import ApiToken, Department, Invitation, Membership, Staff, User, hash_token


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


ROLE_RANK = {Role.OWNER: 0, Role.ADMIN: 1, Role.OPERATOR: 2, Role.GUIDE: 3}


def team_members(actor: Actor) -> list[Membership]:
    """The corp's console accounts, owners first: an owner's or admin's page."""
    actor.require_admin()
    members = Membership.objects.for_corp(actor.corp).select_related("user", "staff", "invitation")
    return sorted(members, key=lambda m: (ROLE_RANK.get(m.role, 9), m.user.username.lower()))


def membership_get(actor: Actor, membership_id: int) -> Membership:
    actor.require_admin()
    return get_for(actor, Membership.objects.select_related("user", "staff"), _("No such member."), pk=membership_id)


def api_tokens_for(actor: Actor):
    """API tokens in this corp: an owner or admin sees everyone's, anyone else their own."""
    tokens = ApiToken.objects.for_corp(actor.corp).select_related("membership__user")
    if actor.role not in ADMIN_ROLES:
        tokens = tokens.filter(membership__user=actor.user)
    return tokens.order_by("revoked_at", "-created_at", "-id")


def api_token_get(actor: Actor, token_id: int) -> ApiToken:
    return get_for(actor, api_tokens_for(actor), _("No such API token."), pk=token_id)


def staff_directory(actor: Actor, *, department_id: int | None = None, q: str = "", status: str = ""):
    """Staff as WeCom has them (sync keeps them), with their department and console accounts: a manager's."""
    actor.require_manager()
    staff = Staff.objects.for_corp(actor.corp).select_related("department").prefetch_related("memberships__user")
    if department_id:
        staff = staff.filter(department_id=department_id)
    if q.strip():
        staff = staff.filter(Q(name__icontains=q.strip()) | Q(userid__icontains=q.strip()))
    if status:
        staff = staff.filter(status=status)
    return staff.order_by("name", "id")


def department_tree(actor: Actor) -> list[tuple[Department, int, int]]:
    """Departments in WeCom's order, each with its depth and how many staff it holds directly."""
    actor.require_manager()
    departments = list(department_list(actor).annotate(staff_count=Count("staff")))
    children: dict[int | None, list[Department]] = {}
    ids = {d.id for d in departments}
    for d in departments:
        children.setdefault(d.parent_id if d.parent_id in ids else None, []).append(d)
    out = []

    def walk(parent, depth):
        for d in children.get(parent, []):
            out.append((d, depth, d.staff_count))
            walk(d.id, depth + 1)

    walk(None, 0)
    return out


def invitation_corp(key: str):
    """The corp an invitation link is for, while it can still be used (None otherwise)."""
    invitation = Invitation.objects.select_related("corp").filter(key_hash=hash_token(key), accepted_at__isnull=True, expires_at__gt=now()).first()
    return invitation.corp if invitation else None
