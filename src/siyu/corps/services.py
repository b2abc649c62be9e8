"""Writes for tenants, staff, accounts and tokens. Keyword-only; the caller owns the transaction."""

import re
import secrets
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.crypto import encrypt_secret
from siyu.kit.errors import Conflict, Forbidden, InvalidInput
from siyu.kit.tenancy import Actor, Role

from .models import ApiToken, Corp, Department, Invitation, Membership, Staff, User, hash_token, validate_timezone

TOKEN_PREFIX = "siyu_"
OA_APPID = re.compile(r"wx[0-9a-zA-Z]{16}")


def corp_create(
    *, corp_id: str, name: str, timezone: str = "Asia/Shanghai", secret: str = "", token: str = "", aes_key: str = "", api_base: str | None = None
) -> Corp:
    if not corp_id.strip():
        raise InvalidInput(_("The corp ID is required."), field="corp_id")
    if not name.strip():
        raise InvalidInput(_("The name is required."), field="name")
    try:
        validate_timezone(timezone)
    except Exception:
        raise InvalidInput(_("Unknown timezone %(timezone)s.") % {"timezone": timezone}, field="timezone") from None
    if Corp.objects.filter(corp_id=corp_id).exists():
        raise Conflict(_("A corp with ID %(corp_id)s already exists.") % {"corp_id": corp_id}, code="corp_exists", field="corp_id")
    corp = Corp(corp_id=corp_id.strip(), name=name.strip(), timezone=timezone)
    if api_base:
        corp.api_base = api_base
    corp_set_credentials(corp=corp, secret=secret, token=token, aes_key=aes_key, save=False)
    corp.save()
    return corp


def corp_set_credentials(
    *, corp: Corp, secret: str = "", token: str = "", aes_key: str = "", oa_appid: str = "", oa_secret: str = "", save: bool = True
) -> Corp:
    if aes_key and len(aes_key) != 43:
        raise InvalidInput(_("The EncodingAESKey must be exactly 43 characters."), field="aes_key")
    oa_appid = oa_appid.strip()
    if oa_appid and not OA_APPID.fullmatch(oa_appid):
        raise InvalidInput(_("An Official Account's AppID is wx followed by 16 letters or digits."), code="bad_oa_appid", field="oa_appid")
    if oa_appid:
        corp.oa_appid = oa_appid
    if oa_secret:
        corp.oa_secret_encrypted = encrypt_secret(oa_secret)
    if secret:
        corp.secret_encrypted = encrypt_secret(secret)
    if token:
        corp.token_encrypted = encrypt_secret(token)
    if aes_key:
        corp.aes_key_encrypted = encrypt_secret(aes_key)
    if save:
        corp.save(update_fields=["secret_encrypted", "token_encrypted", "aes_key_encrypted", "oa_appid", "oa_secret_encrypted"])
    return corp


def department_upsert(*, corp: Corp, wecom_id: int, name: str, parent: Department | None = None, order: int = 0) -> Department:
    dept, _created = Department.objects.update_or_create(corp=corp, wecom_id=wecom_id, defaults={"name": name, "parent": parent, "order": order})
    return dept


def staff_upsert(
    *, corp: Corp, userid: str, name: str, department: Department | None = None, position: str = "", status: str = Staff.Status.ACTIVE, is_leader: bool = False
) -> Staff:
    staff, _created = Staff.objects.update_or_create(
        corp=corp, userid=userid, defaults={"name": name, "department": department, "position": position, "status": status, "is_leader": is_leader}
    )
    return staff


def user_create(*, username: str, password: str, email: str = "", is_superuser: bool = False) -> User:
    if User.objects.filter(username=username).exists():
        raise Conflict(_("The user %(username)s already exists.") % {"username": username}, code="user_exists", field="username")
    if len(password) < 8:
        raise InvalidInput(_("The password must have at least 8 characters."), field="password")
    if is_superuser:
        return User.objects.create_superuser(username=username, password=password, email=email)
    return User.objects.create_user(username=username, password=password, email=email)


def membership_grant(*, user: User, corp: Corp, role: str, staff: Staff | None = None) -> Membership:
    if role not in Role.values:
        raise InvalidInput(_("Unknown role %(role)r; choose one of %(value)s.") % {"role": role, "value": ", ".join(Role.values)}, field="role")
    if role == Role.GUIDE and staff is None:
        raise InvalidInput(_("A guide must be linked to a staff member."), field="staff")
    if staff is not None and staff.corp_id != corp.id:
        raise InvalidInput(_("The staff member belongs to another corp."), field="staff")
    membership, _created = Membership.objects.update_or_create(user=user, corp=corp, defaults={"role": role, "staff": staff})
    return membership


def guide_membership_for_staff(*, corp: Corp, staff: Staff) -> Membership:
    """The Siyu sign-in of a staff member WeCom vouched for: theirs if they have one, else a guide's,
    made now. Guides are thousands and are not invited one by one: inside WeCom, being the corp's
    active staff is the invitation, as it is for the chat sidebar, and a guide sees only their own
    customers. The user has no password; they sign in only through WeCom. A user an administrator
    switched off stays off: refused, not made again."""
    with transaction.atomic():
        found = list(Membership.objects.select_for_update().filter(corp=corp, staff=staff).select_related("user").order_by("id"))
        username = f"wecom:{corp.corp_id}:{staff.userid}"[:150]
        made = User.objects.filter(username=username).first()
        if any(m.user.is_active for m in found):
            return next(m for m in found if m.user.is_active)
        if found or (made is not None and not made.is_active):
            raise Forbidden(_("Your Siyu sign-in is switched off: ask your administrator."), code="signin_off")
        user = made or User.objects.create_user(username=username, password=None, first_name=staff.name[:150])
        return membership_grant(user=user, corp=corp, role=Role.GUIDE, staff=staff)


def api_token_create(*, membership: Membership, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns it with the raw key, which is never retrievable again."""
    if not name.strip() or len(name) > 64:
        raise InvalidInput(_("A token name of 1 to 64 characters is required."), field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(corp_id=membership.corp_id, membership=membership, name=name.strip(), prefix=raw[:12], key_hash=hash_token(raw))
            return token, raw
        except IntegrityError:
            raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    raise RuntimeError("Could not create a unique API token.")


def api_token_revoke(*, token: ApiToken) -> None:
    token.revoked_at = now()
    token.save(update_fields=["revoked_at"])


def corp_credentials_save(*, actor: Actor, secret: str = "", token: str = "", aes_key: str = "", oa_appid: str = "", oa_secret: str = "") -> Corp:
    """The corp settings page: WeCom credentials are an admin's to change."""
    actor.require_admin()
    return corp_set_credentials(corp=actor.corp, secret=secret, token=token, aes_key=aes_key, oa_appid=oa_appid, oa_secret=oa_secret)


def corp_register(*, user: User, **fields) -> Corp:
    """A superuser registers a corp (and owns it); the CLI and tests use corp_create directly."""
    corp_register_check(user)
    corp = corp_create(**fields)
    membership_grant(user=user, corp=corp, role=Role.OWNER)
    return corp


def corp_register_check(user: User) -> None:
    if not user.is_superuser:
        raise Forbidden(_("Only a superuser may register corps."), code="role_forbidden")


# The team: console accounts, their roles and the staff a guide works as. Owners and admins
# manage it; only an owner makes, changes or removes an owner, and a corp keeps at least one.
INVITATION_DAYS = 7


def member_invite(*, actor: Actor, username: str, role: str, staff: Staff | None = None, email: str = "") -> tuple[Membership, str]:
    """A new console account in this corp with its role, and the one-time key of the link its
    person opens to choose a password (the account cannot log in before). Returns both."""
    actor.require_admin()
    username = username.strip()
    if not username or len(username) > 150 or not all(ch.isalnum() or ch in "@.+-_" for ch in username):
        raise InvalidInput(_("A username is 1 to 150 letters, digits and @ . + - _."), code="bad_username", field="username")
    _refuse_role(actor, role, None)
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(_("The username %(username)s is taken; choose another.") % {"username": username}, code="user_exists", field="username")
    user = User.objects.create_user(username=username, email=email.strip())  # no usable password until the link is used
    membership = membership_grant(user=user, corp=actor.corp, role=role, staff=staff)
    raw = secrets.token_urlsafe(32)
    Invitation.objects.create(
        corp=actor.corp, membership=membership, key_hash=hash_token(raw), created_by=actor.user, expires_at=now() + timedelta(days=INVITATION_DAYS)
    )
    return membership, raw


def invitation_accept(*, key: str, password: str) -> User:
    """The invited person chooses a password (Django's password rules); the link then is spent."""
    invitation = Invitation.objects.select_for_update().select_related("membership__user").filter(key_hash=hash_token(key)).first()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now():
        raise InvalidInput(_("This invitation link is used or expired; ask your admin for a new one."), code="invitation_gone", field="key")
    user = invitation.membership.user
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), code="weak_password", field="password") from None
    user.set_password(password)
    user.save(update_fields=["password"])
    invitation.accepted_at = now()
    invitation.save(update_fields=["accepted_at"])
    return user


def membership_change(*, actor: Actor, membership: Membership, role: str, staff: Staff | None) -> Membership:
    """A member's role and, for a guide, the staff member whose customers they work."""
    actor.require_admin()
    _refuse_role(actor, role, membership)
    if membership.role == Role.OWNER and role != Role.OWNER:
        _keep_an_owner(membership)
    return membership_grant(user=membership.user, corp=actor.corp, role=role, staff=staff)


def membership_remove(*, actor: Actor, membership: Membership) -> None:
    """The member loses this corp (and the API tokens acting as them in it); the account stays
    for any other corp it belongs to."""
    actor.require_admin()
    _refuse_role(actor, membership.role, membership)
    if membership.role == Role.OWNER:
        _keep_an_owner(membership)
    membership.delete()


def _refuse_role(actor: Actor, role: str, membership: Membership | None) -> None:
    if role not in Role.values:
        raise InvalidInput(_("Unknown role %(role)r; choose one of %(value)s.") % {"role": role, "value": ", ".join(Role.values)}, field="role")
    if actor.role != Role.OWNER and (role == Role.OWNER or (membership is not None and membership.role == Role.OWNER)):
        raise Forbidden(_("Only an owner may make, change or remove an owner."), code="owner_only")


def _keep_an_owner(membership: Membership) -> None:
    owners = Membership.objects.select_for_update().filter(corp_id=membership.corp_id, role=Role.OWNER)
    if not owners.exclude(pk=membership.pk).exists():
        raise InvalidInput(_("A corp keeps at least one owner: make someone else owner first."), code="last_owner", field="role")


def api_token_create_own(*, actor: Actor, name: str) -> tuple[ApiToken, str]:
    """A token acting as the actor in this corp, with the actor's role and scope."""
    membership = Membership.objects.get(user=actor.user, corp=actor.corp)
    return api_token_create(membership=membership, name=name)


def api_token_revoke_for(*, actor: Actor, token: ApiToken) -> ApiToken:
    """Anyone revokes their own tokens; owners and admins anyone's in the corp. Revoking twice is harmless."""
    if token.membership.user_id != actor.user.pk:
        actor.require_admin()
    if token.revoked_at is None:
        api_token_revoke(token=token)
    return token
