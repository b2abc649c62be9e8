"""Pages a member opens inside WeCom (the chat sidebar, the app's pages): who they are, by WeCom's
OAuth2, and the JS-SDK's agentConfig, signed with the app's ticket.

- OAuth2: the page sends the member to WeCom's authorize URL with the app's agentid; WeCom sends
  them back with a code, exchanged once (auth/getuserinfo) for their userid → the corp's staff
  member. A forged, reused or expired code is refused by WeCom (40029) and here.
- agentConfig: sha1 over the app's ticket, a nonce, the time and the page's URL
  (kit.wecom_crypto.jsapi_signature). The ticket lives 7,200 s and WeCom issues 100 an hour per
  app, so one is kept per corp in ApiState and shared by every process until 5 minutes before it
  expires.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode

from django.utils.translation import gettext as _

from siyu.corps.models import DEFAULT_API_BASE, Corp, Staff
from siyu.kit.clock import now
from siyu.kit.errors import Forbidden, InvalidInput
from siyu.kit.wecom_crypto import jsapi_signature

from .client import WeComClient, WeComError
from .models import ApiState

WECOM_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
TICKET_MARGIN = timedelta(minutes=5)


def authorize_url(corp: Corp, *, redirect_uri: str, state: str) -> str:
    """Where a page sends a member who has no session yet. A corp served by another WeCom (the
    sandbox) has its authorize page beside its API."""
    base = WECOM_AUTHORIZE if corp.api_base == DEFAULT_API_BASE else corp.api_base.rstrip("/").removesuffix("cgi-bin") + "connect/oauth2/authorize"
    query = {"appid": corp.corp_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": "snsapi_base", "state": state, "agentid": corp.agent_id}
    return f"{base}?{urlencode(query)}#wechat_redirect"


def staff_for_code(corp: Corp, code: str, client: WeComClient | None = None) -> Staff:
    """The corp's active staff member an OAuth2 code names; refused when WeCom refuses the code or
    names someone who is not (or no longer) staff."""
    if not code or len(code) > 512:
        raise InvalidInput(_("The sign-in code is missing."), code="bad_code", field="code")
    try:
        answer = (client or WeComClient(corp)).getuserinfo(code)
    except WeComError as exc:
        raise Forbidden(
            _("WeCom did not accept the sign-in (%(errcode)s); open the page again from WeCom.") % {"errcode": exc.errcode}, code="bad_code"
        ) from exc
    staff = Staff.objects.filter(corp=corp, userid=answer.get("userid", ""), status=Staff.Status.ACTIVE).first()
    if staff is None:
        raise Forbidden(_("This WeCom account is not one of the corp's staff."), code="not_staff")
    return staff


def agent_ticket(corp: Corp, client: WeComClient | None = None) -> str:
    state, _created = ApiState.objects.get_or_create(corp=corp)
    if state.agent_ticket and state.agent_ticket_expires_at and state.agent_ticket_expires_at - TICKET_MARGIN > now():
        return state.agent_ticket
    # Fetched outside any transaction (WeCom is never called holding the database). Two processes
    # at the same moment may both fetch one: each counts against WeCom's 100 an hour, and a
    # refresh comes once in two hours.
    answer = (client or WeComClient(corp)).agent_ticket()
    ticket, expires_at = answer["ticket"], now() + timedelta(seconds=int(answer.get("expires_in", 7200)))
    ApiState.objects.filter(pk=state.pk).update(agent_ticket=ticket, agent_ticket_expires_at=expires_at)
    return ticket


def agent_config(corp: Corp, url: str, client: WeComClient | None = None) -> dict:
    """What a page passes to wx.agentConfig for `url` (its address without the #fragment)."""
    if not corp.agent_id:
        raise InvalidInput(_("The corp has no self-built app (agent id) for its pages."), code="no_app", field="agent_id")
    nonce, timestamp = secrets.token_urlsafe(12), int(time.time())
    return {
        "corpid": corp.corp_id,
        "agentid": corp.agent_id,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": jsapi_signature(agent_ticket(corp, client), nonce, timestamp, url),
    }
