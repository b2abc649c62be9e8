"""The brand's Official Account's web OAuth (公众号网页授权): who opens a customer page in WeChat.

- The page sends the visitor to the authorize URL with the account's appid and a scope:
  `snsapi_base` (silent: the openid and, with the open platform bound, the unionid) or
  `snsapi_userinfo` (asks the user; also the nickname and avatar).
- WeChat sends them back with a code, exchanged once (`sns/oauth2/access_token`) with the
  account's AppSecret. A forged, reused or expired code is refused by WeChat (40029, 40163) and
  here.
- WeCom converts the unionid to the corp's external_userid
  (`externalcontact/unionid_to_external_userid`): the customer, or a pending_id when the WeChat
  user has not added anyone of the corp yet.

Every call here is made while a visitor waits: bounded by SIYU_WECOM_PAGE_SECONDS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from siyu.corps.models import DEFAULT_API_BASE, Corp
from siyu.kit.crypto import decrypt_secret
from siyu.kit.errors import Forbidden, InvalidInput, Unavailable
from siyu.kit.http import shared_http

from .client import WeComClient, WeComError

log = logging.getLogger(__name__)

WECHAT_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
WECHAT_SNS = "https://api.weixin.qq.com/sns/"
SCOPES = ("snsapi_base", "snsapi_userinfo")


@dataclass(frozen=True)
class WechatUser:
    openid: str
    unionid: str
    scope: str
    access_token: str


def _beside_api(corp: Corp, path: str) -> str:
    """A corp served by another WeCom (the sandbox) has WeChat's pages and APIs beside its API."""
    return corp.api_base.rstrip("/").removesuffix("cgi-bin") + path


def oa_authorize_url(corp: Corp, *, redirect_uri: str, state: str, scope: str = "snsapi_base") -> str:
    if scope not in SCOPES:
        raise ValueError(scope)
    base = WECHAT_AUTHORIZE if corp.api_base == DEFAULT_API_BASE else _beside_api(corp, "connect/oauth2/authorize")
    query = {"appid": corp.oa_appid, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope, "state": state}
    return f"{base}?{urlencode(query)}#wechat_redirect"


def _sns(corp: Corp, api: str, params: dict) -> dict:
    base = WECHAT_SNS if corp.api_base == DEFAULT_API_BASE else _beside_api(corp, "sns/")
    try:
        answer = shared_http().get(base + api, params=params, timeout=settings.SIYU_WECOM_PAGE_SECONDS).json()
    except (httpx.TransportError, ValueError) as exc:
        log.warning("WeChat sns/%s failed: %s", api, exc)
        raise Unavailable(_("WeChat did not answer; open the page again."), code="wechat_unavailable") from exc
    if answer.get("errcode"):
        raise WeComError(int(answer["errcode"]), str(answer.get("errmsg", "")), f"sns/{api}")
    return answer


def oa_user_for_code(corp: Corp, code: str) -> WechatUser:
    """The WeChat user a web OAuth code was given for; the code is spent."""
    if not code or len(code) > 512:
        raise InvalidInput(_("The sign-in code is missing."), code="bad_code", field="code")
    params = {"appid": corp.oa_appid, "secret": decrypt_secret(corp.oa_secret_encrypted), "code": code, "grant_type": "authorization_code"}
    try:
        answer = _sns(corp, "oauth2/access_token", params)
    except WeComError as exc:
        raise Forbidden(_("WeChat did not accept the sign-in (%(errcode)s); open the page again.") % {"errcode": exc.errcode}, code="bad_code") from exc
    return WechatUser(openid=answer["openid"], unionid=answer.get("unionid", ""), scope=answer.get("scope", ""), access_token=answer["access_token"])


def oa_userinfo(corp: Corp, user: WechatUser) -> dict:
    """Nickname and avatar, when the user allowed snsapi_userinfo; {} otherwise."""
    if user.scope != "snsapi_userinfo":
        return {}
    try:
        answer = _sns(corp, "userinfo", {"access_token": user.access_token, "openid": user.openid, "lang": "zh_CN"})
    except WeComError as exc:
        log.info("WeChat userinfo refused (%s): the page goes on without a name", exc.errcode)
        return {}
    return {"nickname": str(answer.get("nickname", ""))[:64], "avatar": str(answer.get("headimgurl", ""))[:500]}


def external_userid_for(corp: Corp, user: WechatUser) -> tuple[str, str]:
    """(external_userid, pending_id): WeCom's answer for this WeChat user."""
    if not user.unionid:
        return "", ""
    answer = WeComClient.for_page(corp).unionid_to_external_userid(unionid=user.unionid, openid=user.openid)
    return answer.get("external_userid", ""), answer.get("pending_id", "")
