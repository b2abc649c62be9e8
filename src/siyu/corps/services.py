"""Writes for tenants, staff, accounts and tokens. Keyword-only; the caller owns the transaction."""

import secrets

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.crypto import encrypt_secret
from siyu.kit.errors import Conflict, Forbidden, InvalidInput
from siyu.kit.tenancy import Actor, Role

from .models import ApiToken, Corp, Department, Membership, Staff, User, hash_token, validate_timezone

TOKEN_PREFIX = "siyu_"


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


def corp_set_credentials(*, corp: Corp, secret: str = "", token: str = "", aes_key: str = "", save: bool = True) -> Corp:
    if aes_key and len(aes_key) != 43:
        raise InvalidInput(_("The EncodingAESKey must be exactly 43 characters."), field="aes_key")
    if secret:
        corp.secret_encrypted = encrypt_secret(secret)
    if token:
        corp.token_encrypted = encrypt_secret(token)
    if aes_key:
        corp.aes_key_encrypted = encrypt_secret(aes_key)
    if save:
        corp.save(update_fields=["secret_encrypted", "token_encrypted", "aes_key_encrypted"])
    return corp


def department_upsert(*, corp: Corp, wecom_id: int, name: str, parent: Department | None = None, order: int = 0) -> Department:
    dept, _created = Department.objects.update_or_create(corp=corp, wecom_id=wecom_id, defaults={"name": name, "parent": parent, "order": order})
    return dept


def staff_upsert(*, corp: Corp, userid: str, name: str, department: Department | None = None, position: str = "", status: str = Staff.Status.ACTIVE) -> Staff:
    staff, _created = Staff.objects.update_or_create(
        corp=corp, userid=userid, defaults={"name": name, "department": department, "position": position, "status": status}
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


def corp_credentials_save(*, actor: Actor, secret: str = "", token: str = "", aes_key: str = "") -> Corp:
    """The corp settings page: WeCom credentials are an admin's to change."""
    actor.require_admin()
    return corp_set_credentials(corp=actor.corp, secret=secret, token=token, aes_key=aes_key)


def corp_register(*, user: User, **fields) -> Corp:
    """A superuser registers a corp (and owns it); the CLI and tests use corp_create directly."""
    corp_register_check(user)
    corp = corp_create(**fields)
    membership_grant(user=user, corp=corp, role=Role.OWNER)
    return corp


def corp_register_check(user: User) -> None:
    if not user.is_superuser:
        raise Forbidden(_("Only a superuser may register corps."), code="role_forbidden")
