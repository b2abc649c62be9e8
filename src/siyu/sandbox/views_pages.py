"""WeCom's side of the pages a member opens inside the client (the chat sidebar, app pages):

- OAuth2: the authorize page (`/sandbox/connect/oauth2/authorize`) gives the page a code for the
  member using the client; `auth/getuserinfo` exchanges it once, within 5 minutes, for the userid;
- the app's JS-SDK ticket (`ticket/get?type=agent_config`, 100 an hour), valid 7,200 s (Siyu's
  pages need no wx.config: agentConfig alone has served since WeCom 3.0.24, so the corp ticket
  is not served);
- a stand-in for the JS-SDK (`/sandbox/jssdk/jwxwork.js`) with WeCom's `wx`/`ww` names: it checks
  `agentConfig`'s signature against the app's tickets as WeCom does, answers
  `getCurExternalContact`, `getContext` and `sendChatMessage` from the chat the client has open
  (the sandbox's chat page sets it), and records every call (`SbJsInvoke`) for tests to read.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt

from siyu.kit.clock import now
from siyu.kit.wecom_crypto import jsapi_signature

from . import views_wechat
from .models import SbChatContext, SbCorp, SbJsInvoke, SbMedia, SbOAuthCode, SbStaff, SbTicket
from .views import error, wecom_api

CODE_TTL = timedelta(minutes=5)
TICKET_TTL = 7200
TICKETS_PER_HOUR = {"agent_config": 100}
CHAT_COOKIE = "sb_chat"
# What the JS-SDK answers only after agentConfig, and from which entries sendChatMessage works.
NEEDS_AGENT_CONFIG = {"getCurExternalContact", "getCurExternalChat", "sendChatMessage", "shareToExternalContact", "getContext", "scanQRCode"}
CHAT_ENTRIES = {"single_chat_tools", "group_chat_tools", "chat_attachment", "single_kf_tools"}


def _context(request, corp: SbCorp | None = None) -> SbChatContext | None:
    key = request.COOKIES.get(CHAT_COOKIE, "")
    rows = SbChatContext.objects.filter(key=key) if key else SbChatContext.objects.none()
    if corp is not None:
        rows = rows.filter(corp=corp)
    return rows.select_related("corp").first()


# -- the client opens a chat ------------------------------------------------------------------------------
def chat(request, corpid: str):
    """The member opens a chat with a customer and taps the app in the chat toolbar: the client
    remembers the chat and opens the app's page (`url`)."""
    corp = SbCorp.objects.filter(corpid=corpid).first()
    userid, url = request.GET.get("userid", ""), request.GET.get("url", "")
    if corp is None or not SbStaff.objects.filter(corp=corp, userid=userid).exists() or not url.startswith(("http://", "https://", "/")):
        return HttpResponseBadRequest("corpid, a member's userid and the page's url are needed")
    ctx = SbChatContext.objects.create(
        corp=corp,
        key=secrets.token_urlsafe(24),
        userid=userid,
        external_userid=request.GET.get("external_userid", ""),
        entry=request.GET.get("entry", "single_chat_tools"),
        created=now(),
    )
    response = redirect(url)
    response.set_cookie(CHAT_COOKIE, ctx.key, httponly=False, samesite="Lax")
    return response


def camera(request):
    """What the WeCom client's camera will see next in the open chat (a customer holds up a QR)."""
    ctx = _context(request)
    if ctx is None:
        return HttpResponseBadRequest("open a chat first")
    SbChatContext.objects.filter(pk=ctx.pk).update(camera=request.GET.get("text", "")[:500])
    return HttpResponse("ok")


# -- OAuth2 ---------------------------------------------------------------------------------------------
def authorize(request):
    """open.weixin.qq.com/connect/oauth2/authorize: a code for the member using the client, handed
    to `redirect_uri` with the page's `state`. Outside a chat the sandbox asks who is using it."""
    appid = request.GET.get("appid", "")
    corp = SbCorp.objects.filter(corpid=appid).first()
    redirect_uri = request.GET.get("redirect_uri", "")
    if corp is None and (account := SbCorp.objects.filter(oa_appid=appid).first()):
        return views_wechat.authorize(request, account)
    if corp is None:
        return HttpResponseBadRequest("appid: no such corp")
    if request.GET.get("response_type") != "code" or not redirect_uri.startswith(("http://", "https://")):
        return HttpResponseBadRequest("response_type=code and an absolute redirect_uri are needed")
    if corp.trusted_domain and urlsplit(redirect_uri).hostname != corp.trusted_domain:
        return HttpResponseBadRequest("redirect_uri 需使用应用可信域名")
    ctx = _context(request, corp)
    userid = ctx.userid if ctx else request.GET.get("userid", "")
    if not SbStaff.objects.filter(corp=corp, userid=userid).exists():
        links = "".join(
            f'<li><a href="?{escape(urlencode({**request.GET.dict(), "userid": s.userid}))}">{escape(s.name)}</a></li>'
            for s in SbStaff.objects.filter(corp=corp).order_by("id")[:50]
        )
        return HttpResponse(f"<!doctype html><meta charset=utf-8><title>选择成员</title><p>沙箱：谁在使用企业微信？</p><ul>{links}</ul>")
    code = secrets.token_urlsafe(24)
    agentid = request.GET.get("agentid", "")
    SbOAuthCode.objects.create(corp=corp, code=code, userid=userid, agentid=int(agentid) if agentid.isdigit() else None, expires_at=now() + CODE_TTL)
    joiner = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{joiner}{urlencode({'code': code, 'state': request.GET.get('state', '')})}")


@wecom_api("auth/getuserinfo")
def getuserinfo(request, corp, body):
    code = request.GET.get("code", "")
    with transaction.atomic():
        won = SbOAuthCode.objects.filter(corp=corp, code=code, used=False, expires_at__gt=now()).update(used=True)
    if not won:
        return error(40029, "invalid code")
    row = SbOAuthCode.objects.get(code=code)
    return {"userid": row.userid, "user_ticket": "", "expires_in": 1800}


# -- tickets --------------------------------------------------------------------------------------------
def _ticket(corp: SbCorp, kind: str):
    stamp = now()
    if SbTicket.objects.filter(corp=corp, kind=kind, issued_at__gt=stamp - timedelta(hours=1)).count() >= TICKETS_PER_HOUR[kind]:
        return error(45009, f"{kind} tickets: {TICKETS_PER_HOUR[kind]} an hour")
    ticket = SbTicket.objects.create(corp=corp, kind=kind, ticket=secrets.token_urlsafe(48), issued_at=stamp, expires_at=stamp + timedelta(seconds=TICKET_TTL))
    return {"ticket": ticket.ticket, "expires_in": TICKET_TTL}


@wecom_api("ticket/get")
def ticket_get(request, corp, body):
    if request.GET.get("type") != "agent_config":
        return error(40058, "type must be agent_config")
    return _ticket(corp, "agent_config")


# -- the JS-SDK stand-in --------------------------------------------------------------------------------
STAND_IN = """// The sandbox's stand-in for WeCom's JS-SDK (jwxwork): the same wx / ww names, answered by the sandbox.
(function () {
  var configured = false;
  function call(api, args) {
    return fetch(ROOT + "call", {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({api: api, args: args || {}, url: location.href})}).then(function (r) { return r.json(); });
  }
  var wx = {
    agentConfig: function (o) {
      var args = {corpid: o.corpid, agentid: o.agentid, timestamp: o.timestamp, nonceStr: o.nonceStr, signature: o.signature, jsApiList: o.jsApiList};
      call("agentConfig", args).then(function (a) {
        if (a.errCode) { (o.fail || function () {})(a); } else { configured = true; (o.success || function () {})(a); }
      });
    },
    invoke: function (api, args, cb) { call(api, args).then(function (a) { (cb || function () {})(a); }); },
    scanQRCode: function (o) {
      call("scanQRCode", {needResult: o.needResult, scanType: o.scanType}).then(function (a) {
        if (a.errMsg === "scanQRCode:ok") { (o.success || function () {})(a); } else { (o.fail || function () {})(a); }
      });
    },
    ready: function (f) { f(); },
    error: function () {}
  };
  window.wx = wx;
  window.jWeixin = wx;
  window.ww = {
    getContext: function (o) { return call("getContext", {}).then(function (a) { (o && o.success || function () {})(a); return a; }); },
    sendChatMessage: function (o) { return call("sendChatMessage", o).then(function (a) { (o && o.success || function () {})(a); return a; }); }
  };
})();
"""


def jssdk(request):
    script = f'var ROOT = "{request.path.rsplit("/", 1)[0]}/";\n{STAND_IN}'
    return HttpResponse(script, content_type="application/javascript; charset=utf-8")


@csrf_exempt
@transaction.non_atomic_requests
def jssdk_call(request):
    """One JS-SDK call from a page in the client, answered as WeCom would and recorded."""
    if request.method != "POST":
        return HttpResponseBadRequest("POST")
    try:
        body = json.loads(request.body or b"{}")
        api, args, url = str(body["api"]), dict(body.get("args") or {}), str(body.get("url", ""))
    except (ValueError, KeyError, TypeError):
        return HttpResponseBadRequest("api, args and url")
    ctx = _context(request)
    if ctx is None:
        return JsonResponse({"errMsg": f"{api}:fail not in the WeCom client", "errCode": -1})
    answer = _answer(ctx, api, args, url)
    SbJsInvoke.objects.create(corp=ctx.corp, context=ctx, api=api, args=args, answer=answer, url=url[:1000], created=now())
    return JsonResponse(answer)


def _answer(ctx: SbChatContext, api: str, args: dict, url: str) -> dict:
    page = url.split("#", 1)[0]
    if api == "agentConfig":
        kind = "agent_config"
        if str(args.get("agentid")) != str(ctx.corp.agentid):
            return {"errMsg": f"{api}:fail invalid agentid", "errCode": 40056}
        if str(args.get("corpid")) != ctx.corp.corpid:
            return {"errMsg": f"{api}:fail invalid corpid", "errCode": 40013}
        if ctx.corp.trusted_domain and urlsplit(page).hostname != ctx.corp.trusted_domain:
            return {"errMsg": f"{api}:fail not match any reliable domain", "errCode": 80001}
        live = SbTicket.objects.filter(corp=ctx.corp, kind=kind, expires_at__gt=now()).values_list("ticket", flat=True)
        timestamp, nonce, signature = str(args.get("timestamp", "")), str(args.get("nonceStr", "")), str(args.get("signature", ""))
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > TICKET_TTL:
            return {"errMsg": f"{api}:fail invalid timestamp", "errCode": 40093}
        if not any(jsapi_signature(t, nonce, timestamp, page) == signature for t in live):
            return {"errMsg": f"{api}:fail invalid signature", "errCode": 40093}
        SbJsInvoke.objects.create(corp=ctx.corp, context=ctx, api=f"{api}:page", args={"page": page}, answer={}, url=page, created=now())
        return {"errMsg": f"{api}:ok"}
    configured = SbJsInvoke.objects.filter(context=ctx, api="agentConfig:page", url=page).exists()
    if api in NEEDS_AGENT_CONFIG and not configured:
        return {"err_msg": f"{api}:fail no permission (agentConfig first)"}
    if api == "getContext":
        return {"err_msg": "getContext:ok", "entry": ctx.entry}
    if api == "getCurExternalContact":
        if ctx.entry not in ("single_chat_tools", "contact_profile", "single_kf_tools") or not ctx.external_userid:
            return {"err_msg": "getCurExternalContact:fail not in a single chat"}
        return {"err_msg": "getCurExternalContact:ok", "userId": ctx.external_userid}
    if api == "sendChatMessage":
        if ctx.entry not in CHAT_ENTRIES:
            return {"err_msg": "sendChatMessage:fail not from a chat"}
        kind = args.get("msgtype", "text")
        if kind not in ("text", "image", "video", "file", "news", "miniprogram"):
            return {"err_msg": "sendChatMessage:fail invalid msgtype"}
        body = args.get(kind) if isinstance(args.get(kind), dict) else {}
        if kind == "text" and not str(body.get("content", "")).strip():
            return {"err_msg": "sendChatMessage:fail empty content"}
        if kind in ("image", "video", "file"):
            # A media id this corp uploaded, of this type, not yet expired (media/upload's 3 days).
            if not SbMedia.objects.filter(corp=ctx.corp, media_id=str(body.get("mediaid", "")), type=kind, expires_at__gt=now()).exists():
                return {"err_msg": "sendChatMessage:fail invalid mediaid"}
        if kind == "news" and not (body.get("link") and body.get("title")):
            return {"err_msg": "sendChatMessage:fail news needs link and title"}
        if kind == "miniprogram" and not all(body.get(k) for k in ("appid", "title", "imgUrl", "page")):
            return {"err_msg": "sendChatMessage:fail miniprogram needs appid, title, imgUrl and page"}
        return {"err_msg": "sendChatMessage:ok"}
    if api == "scanQRCode":
        # What the member's camera sees: the sandbox's camera page sets it for the open chat.
        if not ctx.camera:
            return {"errMsg": "scanQRCode:cancel"}
        answer = {"errMsg": "scanQRCode:ok", "resultStr": ctx.camera} if args.get("needResult") == 1 else {"errMsg": "scanQRCode:ok"}
        SbChatContext.objects.filter(pk=ctx.pk).update(camera="")
        return answer
    return {"err_msg": f"{api}:fail not supported by the sandbox"}
