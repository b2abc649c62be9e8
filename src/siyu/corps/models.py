import hashlib
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from siyu.kit.crypto import decrypt_secret, mask
from siyu.kit.tenancy import CorpOwned, Role

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown timezone: %(tz)s"), params={"tz": value})


class User(AbstractUser):
    """A console or API account. What it may see is decided per corp by its Membership."""


class Corp(models.Model):
    """A tenant: one WeCom enterprise. Every other business row belongs to exactly one."""

    corp_id = models.CharField(max_length=64, unique=True, help_text="WeCom corpid")
    name = models.CharField(max_length=100)
    timezone = models.CharField(max_length=64, default="Asia/Shanghai", validators=[validate_timezone])
    api_base = models.URLField(max_length=300, default=DEFAULT_API_BASE)
    # Fernet ciphertexts (kit.crypto); the plaintext never reaches a template or an API response.
    secret_encrypted = models.TextField(blank=True, default="")
    token_encrypted = models.TextField(blank=True, default="")
    aes_key_encrypted = models.TextField(blank=True, default="")
    # The corp's self-built app: how Siyu messages staff (a reminder that a mass send waits).
    agent_id = models.PositiveIntegerField(null=True, blank=True)
    # The brand's WeChat Official Account (公众号): its web OAuth tells who opens a customer page.
    # Its AppSecret is stored like the corp's.
    oa_appid = models.CharField(max_length=32, blank=True, default="")
    oa_secret_encrypted = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def secret_masked(self) -> str:
        return mask(decrypt_secret(self.secret_encrypted))

    @property
    def oa_secret_masked(self) -> str:
        return mask(decrypt_secret(self.oa_secret_encrypted))

    @property
    def callback_url(self) -> str:
        return settings.SIYU_PUBLIC_URL + reverse("wecom_callback", args=[self.corp_id])

    @property
    def has_callback_credentials(self) -> bool:
        return bool(self.token_encrypted and self.aes_key_encrypted)

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    class Meta:
        verbose_name = _("corp")
        verbose_name_plural = _("corps")


class Department(CorpOwned):
    wecom_id = models.BigIntegerField(help_text="WeCom department id")
    name = models.CharField(max_length=64)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    order = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [models.UniqueConstraint(fields=["corp", "wecom_id"], name="department_unique_wecom_id")]

    def __str__(self) -> str:
        return self.name


class Staff(CorpOwned):
    """A WeCom member who owns customer relationships (a guide, a customer-service agent)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        LEFT = "left", _("Left")

    userid = models.CharField(max_length=64, help_text="WeCom userid")
    name = models.CharField(max_length=64)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff")
    position = models.CharField(max_length=64, blank=True, default="")
    # WeCom's is_leader_in_dept for the main department: a store's manager, told when its guides fall behind.
    is_leader = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        constraints = [models.UniqueConstraint(fields=["corp", "userid"], name="staff_unique_userid")]

    def __str__(self) -> str:
        return f"{self.name} ({self.userid})"


class Membership(CorpOwned):
    """A user's role in one corp. A guide is tied to the Staff whose customers they may see."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="memberships")

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "corp"], name="membership_unique_user_corp"),
            # A guide without a staff member would see nothing and could do nothing.
            models.CheckConstraint(
                condition=~models.Q(role=Role.GUIDE) | models.Q(staff__isnull=False),
                name="membership_guide_has_staff",
            ),
        ]


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(CorpOwned):
    """A bearer token acting as one membership. Only its SHA-256 is stored; the raw value is shown once."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")


class Invitation(CorpOwned):
    """A console account made by an admin, waiting for its person to choose a password through a
    one-time link. Only the link key's SHA-256 is stored; the link is shown to the admin once."""

    membership = models.OneToOneField(Membership, on_delete=models.CASCADE, related_name="invitation")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
