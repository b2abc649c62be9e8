"""WeChat's side of the pages a customer opens in WeChat (articles, check-in, coupons): the
brand's Official Account's web OAuth and WeCom's unionid conversion.

- The sandbox's WeChat client (`/sandbox/wechat/open`) remembers who is using it (a cookie), as
  WeChat knows its user: a customer of the corp, or a stranger a customer shared a page with.
- `connect/oauth2/authorize` with the Official Account's appid: a code for that user, handed to
  `redirect_uri` with the page's `state`. `snsapi_userinfo` asks the user first (允许).
  Outside the client it says what WeChat says (请在微信客户端打开链接) and offers the sandbox's chooser.
- `sns/oauth2/access_token` exchanges a code once, within 5 minutes, for the openid (per
  account), the unionid and a web token; `sns/userinfo` answers for that token when the scope
  was snsapi_userinfo (48001 otherwise).
- `externalcontact/unionid_to_external_userid` (WeCom): the corp's external_userid when the user
  is its customer, else a pending_id.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt

from siyu.kit.clock import now

from .models import SbCorp, SbCustomer, SbFollow, SbWechatCode, SbWechatToken, SbWechatUser, oa_openid
from .views import error, wecom_api

CODE_TTL = timedelta(minutes=5)
TOKEN_TTL = 7200
WECHAT_COOKIE = "sb_wechat"
SCOPES = ("snsapi_base", "snsapi_userinfo")


def _wx_error(errcode: int, errmsg: str) -> JsonResponse:
    # api.weixin.qq.com answers errors with errcode and errmsg, and no errcode on success.
    return JsonResponse({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"})


def wechat_user_for(corp: SbCorp, customer: SbCustomer | None = None, nickname: str = "") -> SbWechatUser:
    """The WeChat user behind a customer (their unionid, minted when the customer has none yet),
    or a new stranger."""
    if customer is not None:
        if not customer.unionid:
            customer.unionid = "oSB" + hashlib.sha256(f"{corp.corpid}:{customer.external_userid}".encode()).hexdigest()[:25]
            SbCustomer.objects.filter(pk=customer.pk).update(unionid=customer.unionid)
        found = SbWechatUser.objects.filter(corp=corp, unionid=customer.unionid).first()
        if found:
            return found
        try:
            with transaction.atomic():
                return SbWechatUser.objects.create(
                    corp=corp, unionid=customer.unionid, nickname=customer.name, avatar=customer.avatar, key=secrets.token_urlsafe(24)
                )
        except IntegrityError:
            return SbWechatUser.objects.get(corp=corp, unionid=customer.unionid)
    unionid = "oSBn" + secrets.token_hex(12)
    return SbWechatUser.objects.create(corp=corp, unionid=unionid, nickname=nickname or f"微信用户{unionid[-4:]}", key=secrets.token_urlsafe(24))


def _user(request, corp: SbCorp) -> SbWechatUser | None:
    key = request.COOKIES.get(WECHAT_COOKIE, "")
    return SbWechatUser.objects.filter(corp=corp, key=key).first() if key else None


def open_in_wechat(request):
    """The sandbox's WeChat client opens a link: as the customer `external_userid`, as a new
    stranger (`stranger=1`), or as whoever last used it. The link is then opened as in WeChat."""
    corp = SbCorp.objects.filter(corpid=request.GET.get("corpid", "")).first()
    url = request.GET.get("url", "")
    if corp is None or not url.startswith(("http://", "https://", "/")):
        return HttpResponseBadRequest("corpid and the page's url are needed")
    user = _user(request, corp)
    if external_userid := request.GET.get("external_userid"):
        customer = SbCustomer.objects.filter(corp=corp, external_userid=external_userid).first()
        if customer is None:
            return HttpResponseBadRequest("external_userid: no such customer")
        user = wechat_user_for(corp, customer)
    elif request.GET.get("stranger") or user is None:
        user = wechat_user_for(corp, nickname=request.GET.get("nickname", ""))
    response = redirect(url)
    response.set_cookie(WECHAT_COOKIE, user.key, httponly=True, samesite="Lax")
    return response


def authorize(request, corp: SbCorp):
    """connect/oauth2/authorize for the Official Account `corp.oa_appid`."""
    redirect_uri, scope = request.GET.get("redirect_uri", ""), request.GET.get("scope", "")
    if request.GET.get("response_type") != "code" or not redirect_uri.startswith(("http://", "https://")):
        return HttpResponseBadRequest("response_type=code and an absolute redirect_uri are needed")
    if scope not in SCOPES:
        return HttpResponseBadRequest("scope 参数错误或没有 scope 权限 (10005)")
    user = _user(request, corp)
    if user is None:
        here = request.get_full_path()

        def choice(c):
            query = urlencode({"corpid": corp.corpid, "external_userid": c.external_userid, "url": here})
            return f'<li><a href="/sandbox/wechat/open?{escape(query)}">{escape(c.name)}</a></li>'

        choices = "".join(choice(c) for c in SbCustomer.objects.filter(corp=corp, type=1).order_by("id")[:30])
        stranger = f"/sandbox/wechat/open?{urlencode({'corpid': corp.corpid, 'stranger': 1, 'url': here})}"
        return HttpResponse(
            "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><title>微信</title>"
            f"<p>请在微信客户端打开链接</p><p>沙箱：以谁的微信打开？</p><ul>{choices}</ul><p><a href='{escape(stranger)}'>一位新的微信用户</a></p>"
        )
    if scope == "snsapi_userinfo" and request.GET.get("consent") != "1":
        allow = f"{request.path}?{urlencode({**request.GET.dict(), 'consent': '1'})}"
        return HttpResponse(
            "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><title>微信授权</title>"
            f"<p>{escape(corp.name)} 申请获取你的昵称、头像</p><p><a id='allow' href='{escape(allow)}'>允许</a> · <a href='{escape(redirect_uri)}'>拒绝</a></p>"
        )
    code = secrets.token_urlsafe(24)
    SbWechatCode.objects.create(corp=corp, code=code, user=user, scope=scope, expires_at=now() + CODE_TTL)
    joiner = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{joiner}{urlencode({'code': code, 'state': request.GET.get('state', '')})}")


@csrf_exempt
@transaction.non_atomic_requests
def sns_access_token(request):
    corp = SbCorp.objects.filter(oa_appid=request.GET.get("appid", "")).first()
    if corp is None:
        return _wx_error(40013, "invalid appid")
    if request.GET.get("secret") != corp.oa_secret:
        return _wx_error(40125, "invalid appsecret")
    if request.GET.get("grant_type") != "authorization_code":
        return _wx_error(40002, "invalid grant_type")
    code = request.GET.get("code", "")
    row = SbWechatCode.objects.select_related("user").filter(corp=corp, code=code).first()
    if row is None or row.expires_at <= now():
        return _wx_error(40029, "invalid code")
    if not SbWechatCode.objects.filter(pk=row.pk, used=False).update(used=True):
        return _wx_error(40163, "code been used")
    token = SbWechatToken.objects.create(
        corp=corp, token=secrets.token_urlsafe(48), user=row.user, scope=row.scope, expires_at=now() + timedelta(seconds=TOKEN_TTL)
    )
    return JsonResponse(
        {
            "access_token": token.token,
            "expires_in": TOKEN_TTL,
            "refresh_token": secrets.token_urlsafe(48),
            "openid": oa_openid(corp.oa_appid, row.user.unionid),
            "scope": row.scope,
            "unionid": row.user.unionid,
        }
    )


@csrf_exempt
@transaction.non_atomic_requests
def sns_userinfo(request):
    token = SbWechatToken.objects.select_related("corp", "user").filter(token=request.GET.get("access_token", "")).first()
    if token is None:
        return _wx_error(40001, "invalid credential, access_token is invalid or not latest")
    if token.expires_at <= now():
        return _wx_error(42001, "access_token expired")
    if token.scope != "snsapi_userinfo":
        return _wx_error(48001, "api unauthorized")
    openid = oa_openid(token.corp.oa_appid, token.user.unionid)
    if request.GET.get("openid") != openid:
        return _wx_error(40003, "invalid openid")
    user = token.user
    profile = {"nickname": user.nickname, "sex": 0, "province": "", "city": "", "country": "", "headimgurl": user.avatar, "privilege": []}
    return JsonResponse({"openid": openid, **profile, "unionid": user.unionid})


@wecom_api("externalcontact/unionid_to_external_userid")
def unionid_to_external_userid(request, corp, body):
    unionid, openid = str(body.get("unionid", "")), str(body.get("openid", ""))
    if not unionid or not openid:
        return error(40058, "unionid and openid are required")
    if openid != oa_openid(corp.oa_appid, unionid):
        return error(40003, "openid does not belong to this unionid")
    customer = SbCustomer.objects.filter(corp=corp, unionid=unionid).first()
    if customer is not None and SbFollow.objects.filter(customer=customer).exists():
        return {"external_userid": customer.external_userid}
    return {"pending_id": "p" + hashlib.sha256(f"{corp.corpid}:{unionid}".encode()).hexdigest()[:30]}
