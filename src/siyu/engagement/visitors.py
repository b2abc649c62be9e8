"""Who opens a customer page: WeChat's sign-in through the brand's Official Account, then a
signed session, and the customer behind it.

- **Sign-in.** A page without a session sends the visitor to WeChat's authorize page. What to open
  afterwards and a one-time nonce wait in a signed cookie. WeChat hands back `state` (the nonce,
  well within WeChat's 128 bytes) and a code. The state must match the cookie: a code delivered to
  someone else's browser (a login-fixation attempt) is refused. The code is spent once at WeChat.
- **The customer.** A unionid the corp's customers already carry names the customer at once.
  Otherwise WeCom converts it (`unionid_to_external_userid`). A visitor who is not yet a customer
  keeps WeCom's pending_id, and is matched on a later visit once their unionid arrives with the
  contact.
- **The session** is a signed cookie per corp: the visitor and their `session_epoch`, for 30 days.
  An altered cookie is ignored (the page signs in again); bumping the epoch ends every session of
  the visitor.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.customers.models import Customer
from siyu.kit.clock import now
from siyu.kit.errors import DomainError, Forbidden, InvalidInput
from siyu.wecom.client import WeComError
from siyu.wecom.wechat import WechatUser, external_userid_for, oa_authorize_url, oa_user_for_code, oa_userinfo

from .models import WechatVisitor

log = logging.getLogger(__name__)

SESSION_SALT = "siyu-visitor"
NEXT_SALT = "siyu-visitor-next"
SESSION_AGE = 30 * 86400
NEXT_AGE = 600  # seconds a sign-in may take between leaving for WeChat and coming back


def session_cookie(corp: Corp) -> str:
    return f"siyu_wx_{corp.pk}"


def next_cookie(corp: Corp) -> str:
    return f"siyu_wx_next_{corp.pk}"


@dataclass(frozen=True)
class SignIn:
    """Where to send the visitor, and the cookie that must come back with WeChat's answer."""

    url: str
    cookie: str
    value: str


def sign_in_start(corp: Corp, *, next_path: str, redirect_uri: str, scope: str = "snsapi_base") -> SignIn:
    if not (corp.oa_appid and corp.oa_secret_encrypted):
        raise InvalidInput(_("The brand has not connected its Official Account yet."), code="no_official_account", field="oa_appid")
    nonce = secrets.token_urlsafe(16)
    value = signing.dumps({"n": nonce, "p": next_path}, salt=NEXT_SALT)
    return SignIn(oa_authorize_url(corp, redirect_uri=redirect_uri, state=nonce, scope=scope), next_cookie(corp), value)


def sign_in_finish(corp: Corp, *, code: str, state: str, waiting: str) -> tuple[WechatVisitor, str]:
    """The visitor WeChat's code names, and the path they set out for. `waiting` is the cookie
    sign_in_start set; its nonce must be the state WeChat returned."""
    try:
        started = signing.loads(waiting, salt=NEXT_SALT, max_age=NEXT_AGE)
    except signing.BadSignature:
        started = None
    if not started or not state or not secrets.compare_digest(str(started.get("n", "")), state):
        raise Forbidden(_("This sign-in was not started here or took too long; open the page again."), code="bad_state")
    user = oa_user_for_code(corp, code)
    visitor = visitor_save(corp, user, oa_userinfo(corp, user))
    path = str(started.get("p", ""))
    home = reverse("h5_home", args=[corp.corp_id])
    if not path.startswith(home) or not url_has_allowed_host_and_scheme(path, allowed_hosts=None):
        path = home
    return visitor, path


def visitor_save(corp: Corp, user: WechatUser, profile: dict) -> WechatVisitor:
    stamp = now()
    fields = {"unionid": user.unionid, "last_seen_at": stamp, **{k: v for k, v in profile.items() if v}}
    try:
        with transaction.atomic():
            visitor, created = WechatVisitor.objects.get_or_create(corp=corp, openid=user.openid, defaults={**fields, "first_seen_at": stamp})
    except IntegrityError:  # the same person signing in from two tabs at once
        visitor, created = WechatVisitor.objects.get(corp=corp, openid=user.openid), False
    if not created:
        for key, value in fields.items():
            setattr(visitor, key, value)
        visitor.save(update_fields=list(fields))
    if visitor.customer_id is None:
        customer_link(corp, visitor, user)
    return visitor


def _customer_by_unionid(corp: Corp, unionid: str) -> int | None:
    found = list(Customer.objects.filter(corp=corp, unionid=unionid).values_list("pk", flat=True)[:2]) if unionid else []
    return found[0] if len(found) == 1 else None


def customer_link(corp: Corp, visitor: WechatVisitor, user: WechatUser | None = None) -> None:
    """Name the visitor's customer: by the unionid the corp's customers carry, else (at sign-in,
    when WeChat's answer is at hand) by WeCom's conversion. A failure leaves the visitor unnamed."""
    customer_id = _customer_by_unionid(corp, visitor.unionid)
    pending = visitor.pending_id
    if customer_id is None and user is not None and user.unionid:
        try:
            external_userid, pending = external_userid_for(corp, user)
        except (WeComError, DomainError) as exc:
            log.warning("unionid conversion failed for visitor %s: %s", visitor.pk, exc)
            external_userid = ""
        if external_userid:
            customer_id = Customer.objects.filter(corp=corp, external_userid=external_userid).values_list("pk", flat=True).first()
    if customer_id is not None or pending != visitor.pending_id:
        visitor.customer_id, visitor.pending_id = customer_id, pending or ""
        WechatVisitor.objects.filter(pk=visitor.pk).update(customer_id=customer_id, pending_id=visitor.pending_id)


def session_value(visitor: WechatVisitor) -> str:
    return f"{visitor.pk}.{visitor.session_epoch}"


def visitor_for_session(corp: Corp, value: str) -> WechatVisitor | None:
    """The visitor a (verified) session value names, still valid; their customer looked up again
    when not yet known."""
    pk, _dot, epoch = value.partition(".")
    if not pk.isdigit() or not epoch.isdigit():
        return None
    visitor = WechatVisitor.objects.filter(corp=corp, pk=int(pk), session_epoch=int(epoch)).first()
    if visitor is not None and visitor.customer_id is None and visitor.unionid:
        customer_link(corp, visitor)
    return visitor


def sessions_end(*, visitor: WechatVisitor) -> None:
    WechatVisitor.objects.filter(pk=visitor.pk).update(session_epoch=visitor.session_epoch + 1)
