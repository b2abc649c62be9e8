"""A thin WeCom API client: one corp, its base URL, its shared token, bounded retries; its JSON
calls over kit.http.JsonHttp (httpx for uploads, proxies and tests' in-process apps).

Policy (shared/wecom-protocol.md §1):
- 40014 / 42001 / 40001: the token is refreshed and the call retried once, never more
  (wechatpy recurses without bound here).
- -1 (system busy): retried at most 3 times with backoff.
- 45009 / 45033 (rate limits): the whole corp pauses — recorded in the database so every worker
  waits — with growing backoff, a bounded number of times.
- any other errcode: WeComError carrying errcode and errmsg.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import connections, transaction

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.crypto import decrypt_secret, encrypt_secret
from siyu.kit.http import HttpFailure, json_http, routed_http, shared_http

from .models import ApiState

log = logging.getLogger(__name__)

TOKEN_ERRORS = {40014, 42001, 40001}
BUSY = -1
RATE_LIMITED = {45009, 45033}
REFRESH_MARGIN = timedelta(minutes=5)
# A read of the corp's pause stands for this process's calls that follow within this many seconds:
# a welcome's two calls, a batch of contact reads, the welcomes of a busy second, read it once. A
# pause another process sets meanwhile is met as WeCom's own 45009, which pauses again.
PAUSE_FRESH = 1.0

# Per process, shared by its clients: the token last used for a corp's secret, and the last read
# of the corp's pause. A welcome makes a client of its own, so a client's own memory saved nothing
# across welcomes: each read ApiState and decrypted the secret and the token again. Keyed by the
# corp's row and its encrypted secret: a new secret, or another row that reuses an id, starts
# afresh. A token refreshed elsewhere is met as 40014, which refreshes once.
_tokens: dict[tuple, tuple[str, object]] = {}  # key → (token, expires_at)
_pauses: dict[tuple, tuple] = {}  # key → (paused_until, time.monotonic() of the read)


def known_state_forget() -> None:
    """Forget every corp's token and pause this process holds (each test starts afresh)."""
    _tokens.clear()
    _pauses.clear()


class WeComError(Exception):
    def __init__(self, errcode: int, errmsg: str, api: str = ""):
        super().__init__(f"WeCom {api} errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api


class WeComUnavailable(WeComError):
    """Retries used up on a transient condition (busy, rate limited, network)."""


class WeComClient:
    def __init__(
        self,
        corp: Corp,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        busy_retries: int = 3,
        busy_backoff: float = 0.2,
        rate_retries: int = 6,
        rate_backoff: float = 1.0,
        rate_backoff_max: float = 60.0,
        timeout: float = 10.0,
        deadline: float | None = None,
    ):
        self.corp = corp
        self.base = corp.api_base.rstrip("/") + "/"
        # httpx when given one, or when a test routes the process's calls to an in-process app;
        # otherwise the lean JSON client (kit.http.JsonHttp), and httpx for uploads.
        self.http = http or routed_http()
        self.timeout = timeout
        # time.monotonic() past which no request starts and none waits longer (pages a visitor waits on).
        self.deadline = deadline
        self.sleep = sleep
        self.busy_retries = busy_retries
        self.busy_backoff = busy_backoff
        self.rate_retries = rate_retries
        self.rate_backoff = rate_backoff
        self.rate_backoff_max = rate_backoff_max
        self.calls = 0  # HTTP requests made, gettoken included: for sync reports and benchmarks
        self._key = (corp.pk, corp.secret_encrypted)

    @classmethod
    def for_page(cls, corp: Corp, **kwargs) -> WeComClient:
        """A client for a request a visitor waits on: everything, token and retries included, is
        over within SIYU_WECOM_PAGE_SECONDS; a rate limit or a pause fails at once rather than waits."""
        seconds = settings.SIYU_WECOM_PAGE_SECONDS
        return cls(corp, busy_retries=1, rate_retries=0, rate_backoff_max=0.0, timeout=seconds, deadline=time.monotonic() + seconds, **kwargs)

    def _time_left(self, api: str) -> float:
        if self.deadline is None:
            return self.timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise WeComUnavailable(BUSY, "out of time for this page", api)
        return min(self.timeout, left)

    # -- token ---------------------------------------------------------------------------------
    def _state(self) -> ApiState:
        state, _ = ApiState.objects.get_or_create(corp=self.corp)
        return state

    def access_token(self, force_refresh: bool = False) -> str:
        """The shared token for (corp, secret): reused until 5 minutes before expiry. The process
        keeps the one its clients used for their later calls: one read of the database, not one
        per call or per client."""
        known = _tokens.get(self._key)
        if not force_refresh and known is not None and known[1] - REFRESH_MARGIN > now():
            return known[0]
        state = self._state()
        # Read with the token: the call that follows checks the corp's pause without a second query.
        _pauses[self._key] = (state.paused_until, time.monotonic())
        secret = decrypt_secret(self.corp.secret_encrypted)
        fingerprint = hashlib.sha256(f"{self.corp.corp_id}:{secret}".encode()).hexdigest()
        fresh = state.token_encrypted and state.token_expires_at and state.token_expires_at - REFRESH_MARGIN > now()
        if not force_refresh and fresh and state.secret_fingerprint == fingerprint:
            token = decrypt_secret(state.token_encrypted)
            _tokens[self._key] = (token, state.token_expires_at)
            return token
        data = self.call("GET", "gettoken", params={"corpid": self.corp.corp_id, "corpsecret": secret}, authenticated=False)
        token = data["access_token"]
        expires_at = now() + timedelta(seconds=int(data.get("expires_in", 7200)))
        # Written outside the caller's transaction would be nicer, but a rollback only costs one
        # extra gettoken; the token is valid either way.
        ApiState.objects.filter(pk=state.pk).update(token_encrypted=encrypt_secret(token), token_expires_at=expires_at, secret_fingerprint=fingerprint)
        _tokens[self._key] = (token, expires_at)
        return token

    # -- transport ------------------------------------------------------------------------------
    def _send(self, method: str, api: str, *, params: dict, json_body: dict | None, files: dict | None = None) -> dict:
        self._wait_for_pause(api)
        timeout = self._time_left(api)
        self.calls += 1
        try:
            lean = json_http()
            if self.http is None and files is None and not lean.proxied:
                return lean.request(method, self.base + api, params=params, json_body=json_body, timeout=timeout)
            http = self.http or shared_http(self.timeout)
            return http.request(method, self.base + api, params=params, json=json_body, files=files, timeout=timeout).json()
        except (httpx.TransportError, HttpFailure, ValueError) as exc:
            # A dropped connection or a non-JSON answer is treated like "system busy".
            log.warning("WeCom %s transport failure: %s", api, exc)
            return {"errcode": BUSY, "errmsg": f"transport: {exc}", "transport": True}

    def _wait_for_pause(self, api: str) -> None:
        seen = _pauses.get(self._key)
        if seen is None or time.monotonic() - seen[1] > PAUSE_FRESH:
            seen = _pauses[self._key] = (ApiState.objects.filter(corp=self.corp).values_list("paused_until", flat=True).first(), time.monotonic())
        paused_until = seen[0]
        if paused_until:
            wait = (paused_until - now()).total_seconds()
            if wait > 0 and self.deadline is not None:
                raise WeComUnavailable(45009, "the corp's WeCom calls are paused (rate limited)", api)
            if wait > 0:
                self.sleep(min(wait, self.rate_backoff_max))

    def _pause_corp(self, seconds: float) -> None:
        _pauses.pop(self._key, None)  # the next call reads the pause written here
        with transaction.atomic():
            ApiState.objects.filter(corp=self.corp).update(paused_until=now() + timedelta(seconds=seconds))

    def call(
        self,
        method: str,
        api: str,
        *,
        params: dict | None = None,
        json_body: dict | None = None,
        files: dict | None = None,
        authenticated: bool = True,
        idempotent: bool = True,
    ) -> dict:
        """One API call with the retry policy above; returns the JSON body (errcode 0).

        Not `idempotent` (add_msg_template makes a task each time): a call whose answer was lost
        on the way may have been done, so it is not repeated here; the caller finds out."""
        # gettoken itself is not authenticated: a token error there is final, not a refresh.
        refreshed = not authenticated
        busy = rate = 0
        token = self.access_token() if authenticated else None
        while True:
            query = {**(params or {}), "access_token": token} if authenticated else dict(params or {})
            data = self._send(method, api, params=query, json_body=json_body, files=files)
            errcode = data.get("errcode", 0)
            if errcode == 0:
                return data
            errmsg = data.get("errmsg", "")
            if data.get("transport") and not idempotent:
                raise WeComUnavailable(errcode, errmsg, api)
            if errcode in TOKEN_ERRORS and not refreshed:
                refreshed = True
                token = self.access_token(force_refresh=True)
                continue
            if errcode == BUSY and busy < self.busy_retries:
                busy += 1
                self.sleep(self.busy_backoff * 2 ** (busy - 1))
                continue
            if errcode in RATE_LIMITED and rate < self.rate_retries:
                rate += 1
                delay = min(self.rate_backoff * 2 ** (rate - 1), self.rate_backoff_max)
                log.info("WeCom %s rate limited (%s); corp %s pauses %.1fs", api, errcode, self.corp.corp_id, delay)
                self._pause_corp(delay)
                continue
            if errcode == BUSY or errcode in RATE_LIMITED:
                raise WeComUnavailable(errcode, errmsg, api)
            raise WeComError(errcode, errmsg, api)

    def get(self, api: str, **params) -> dict:
        return self.call("GET", api, params=params)

    def post(self, api: str, body: dict, *, idempotent: bool = True) -> dict:
        return self.call("POST", api, json_body=body, idempotent=idempotent)

    # -- media ----------------------------------------------------------------------------------
    def upload_media(self, *, kind: str, filename: str, content: bytes, content_type: str = "") -> str:
        """A temporary media id (valid 3 days) for image, video or file attachments."""
        files = {"media": (filename, content, content_type or "application/octet-stream")}
        return self.call("POST", "media/upload", params={"type": kind}, files=files)["media_id"]

    # -- external contacts ----------------------------------------------------------------------
    def get_follow_user_list(self) -> list[str]:
        return self.get("externalcontact/get_follow_user_list").get("follow_user", [])

    def list_external_contacts(self, userid: str) -> list[str]:
        return self.get("externalcontact/list", userid=userid).get("external_userid", [])

    def get_external_contact(self, external_userid: str) -> dict:
        """The contact with every follow_user, walking follow_user's cursor."""
        data = self.get("externalcontact/get", external_userid=external_userid)
        follows = list(data.get("follow_user", []))
        cursor = data.get("next_cursor")
        while cursor:
            page = self.get("externalcontact/get", external_userid=external_userid, cursor=cursor)
            follows += page.get("follow_user", [])
            cursor = page.get("next_cursor")
        return {"external_contact": data["external_contact"], "follow_user": follows}

    def batch_get_by_user(self, userids: list[str], *, cursor: str = "", limit: int = 100) -> dict:
        if not 1 <= len(userids) <= 100:
            raise ValueError("batch/get_by_user takes 1 to 100 userids")
        return self.post("externalcontact/batch/get_by_user", {"userid_list": userids, "cursor": cursor, "limit": limit})

    def iter_contacts_by_user(self, userids: list[str], *, cursor: str = "", limit: int = 100) -> Iterator[tuple[list[dict], str]]:
        """Pages of (external_contact_list, cursor to resume after this page); '' after the last."""
        return self._pages(lambda c: self.batch_get_by_user(userids, cursor=c, limit=limit), "external_contact_list", cursor)

    @staticmethod
    def read_ahead(pages: Iterator) -> Iterator:
        """The same pages, the next one read from WeCom while the caller works on this one: a
        sync's apply and WeCom's answer overlap instead of taking turns. One page ahead at most;
        an error reading it is raised where that page would have come."""
        box: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()

        def read() -> None:
            try:
                for page in pages:
                    box.put((page, None))
                    if stop.is_set():
                        return
                box.put((None, StopIteration()))
            except BaseException as exc:  # noqa: BLE001 — handed to the reader below
                box.put((None, exc))
            finally:
                connections.close_all()  # the token and pauses it read were this thread's own connection

        reader = threading.Thread(target=read, daemon=True, name="wecom-read-ahead")
        reader.start()
        try:
            while True:
                page, error = box.get()
                if isinstance(error, StopIteration):
                    return
                if error is not None:
                    raise error
                yield page
        finally:
            stop.set()
            while reader.is_alive():  # let it finish the page in flight, so no connection is left open
                try:
                    box.get(timeout=0.1)
                except queue.Empty:
                    pass

    @staticmethod
    def _pages(fetch: Callable[[str], dict], key: str, cursor: str) -> Iterator[tuple[list[dict], str]]:
        while True:
            page = fetch(cursor)
            cursor = page.get("next_cursor", "")
            yield page.get(key, []), cursor
            if not cursor:
                return

    # -- contacts -------------------------------------------------------------------------------
    def department_list(self) -> list[dict]:
        return self.get("department/list").get("department", [])

    def user_list(self, department_id: int = 1, fetch_child: bool = True) -> list[dict]:
        return self.get("user/list", department_id=department_id, fetch_child=int(fetch_child)).get("userlist", [])

    # -- corp tags ------------------------------------------------------------------------------
    def get_corp_tag_list(self, tag_ids: list[str] | None = None, group_ids: list[str] | None = None) -> list[dict]:
        body = {k: v for k, v in (("tag_id", tag_ids), ("group_id", group_ids)) if v}
        return self.post("externalcontact/get_corp_tag_list", body).get("tag_group", [])

    def add_corp_tag(self, *, tags: list[dict], group_id: str = "", group_name: str = "", order: int = 0) -> dict:
        body = {"tag": tags, "order": order, **({"group_id": group_id} if group_id else {"group_name": group_name})}
        return self.post("externalcontact/add_corp_tag", body)["tag_group"]

    def edit_corp_tag(self, *, id: str, name: str | None = None, order: int | None = None) -> None:
        self.post(
            "externalcontact/edit_corp_tag", {"id": id, **({"name": name} if name is not None else {}), **({"order": order} if order is not None else {})}
        )

    def del_corp_tag(self, *, tag_ids: list[str] = (), group_ids: list[str] = ()) -> None:
        self.post("externalcontact/del_corp_tag", {"tag_id": list(tag_ids), "group_id": list(group_ids)})

    def mark_tag(self, *, userid: str, external_userid: str, add: list[str] = (), remove: list[str] = ()) -> None:
        self.post("externalcontact/mark_tag", {"userid": userid, "external_userid": external_userid, "add_tag": list(add), "remove_tag": list(remove)})

    # -- customer groups ------------------------------------------------------------------------
    def groupchat_list(self, *, owners: list[str] = (), status_filter: int = 0, cursor: str = "", limit: int = 1000) -> dict:
        # Without an owner filter WeCom refuses (81017) once the visible range passes 1,000 groups,
        # so callers that walk everything pass owners in chunks.
        body = {"status_filter": status_filter, "cursor": cursor, "limit": limit}
        if owners:
            body["owner_filter"] = {"userid_list": list(owners)}
        return self.post("externalcontact/groupchat/list", body)

    def iter_groupchats(self, *, owners: list[str] = (), cursor: str = "", limit: int = 1000) -> Iterator[tuple[list[dict], str]]:
        return self._pages(lambda c: self.groupchat_list(owners=owners, cursor=c, limit=limit), "group_chat_list", cursor)

    def groupchat_get(self, chat_id: str, *, need_name: bool = True) -> dict:
        return self.post("externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": int(need_name)})["group_chat"]

    def groupchat_statistic(
        self, *, day_begin: int, day_end: int | None = None, owners: list[str], order_by: int = 1, order_asc: bool = False, offset: int = 0, limit: int = 500
    ) -> dict:
        body = {
            "day_begin_time": day_begin,
            "owner_filter": {"userid_list": list(owners)},
            "order_by": order_by,
            "order_asc": int(order_asc),
            "offset": offset,
            "limit": limit,
        }
        if day_end is not None:
            body["day_end_time"] = day_end
        return self.post("externalcontact/groupchat/statistic", body)

    # -- group join ways ------------------------------------------------------------------------
    def add_join_way(
        self,
        *,
        chat_ids: list[str],
        scene: int = 2,
        remark: str = "",
        state: str = "",
        auto_create_room: bool = True,
        room_base_name: str = "",
        room_base_id: int = 1,
        mark_source: bool = True,
    ) -> str:
        body = {
            "scene": scene,
            "remark": remark,
            "auto_create_room": int(auto_create_room),
            "room_base_name": room_base_name,
            "room_base_id": room_base_id,
            "chat_id_list": list(chat_ids),
            "state": state,
            "mark_source": mark_source,
        }
        return self.post("externalcontact/groupchat/add_join_way", body)["config_id"]

    def get_join_way(self, config_id: str) -> dict:
        return self.post("externalcontact/groupchat/get_join_way", {"config_id": config_id})["join_way"]

    def update_join_way(self, config_id: str, **fields) -> None:
        self.post("externalcontact/groupchat/update_join_way", {"config_id": config_id, **fields})

    def del_join_way(self, config_id: str) -> None:
        self.post("externalcontact/groupchat/del_join_way", {"config_id": config_id})

    # -- group welcome templates (入群欢迎语素材) -------------------------------------------------
    def add_group_welcome_template(self, *, text: str, attachments: dict | None = None) -> str:
        return self.post("externalcontact/group_welcome_template/add", {"text": {"content": text}, **(attachments or {})})["template_id"]

    def edit_group_welcome_template(self, template_id: str, *, text: str, attachments: dict | None = None) -> None:
        self.post("externalcontact/group_welcome_template/edit", {"template_id": template_id, "text": {"content": text}, **(attachments or {})})

    def get_group_welcome_template(self, template_id: str) -> dict:
        return self.post("externalcontact/group_welcome_template/get", {"template_id": template_id})

    def del_group_welcome_template(self, template_id: str) -> None:
        self.post("externalcontact/group_welcome_template/del", {"template_id": template_id})

    # -- contact ways and welcome ---------------------------------------------------------------
    def add_contact_way(
        self,
        *,
        type: int,
        scene: int = 2,
        users: list[str] = (),
        parties: list[int] = (),
        state: str = "",
        remark: str = "",
        skip_verify: bool = True,
        style: int = 1,
        is_temp: bool = False,
        expires_in: int | None = None,
        chat_expires_in: int | None = None,
        unionid: str = "",
        conclusions: dict | None = None,
    ) -> dict:
        """Returns {"config_id", "qr_code"?}. `state` (≤30) comes back in the add callback."""
        body = {
            "type": type,
            "scene": scene,
            "style": style,
            "remark": remark,
            "skip_verify": skip_verify,
            "state": state,
            "user": list(users),
            "party": list(parties),
            "is_temp": is_temp,
        }
        optional = {"expires_in": expires_in, "chat_expires_in": chat_expires_in, "unionid": unionid or None, "conclusions": conclusions}
        body.update({k: v for k, v in optional.items() if v is not None})
        data = self.post("externalcontact/add_contact_way", body)
        return {k: data[k] for k in ("config_id", "qr_code") if k in data}

    def get_contact_way(self, config_id: str) -> dict:
        return self.post("externalcontact/get_contact_way", {"config_id": config_id})["contact_way"]

    def update_contact_way(self, config_id: str, **fields) -> None:
        """Fields as WeCom names them: user, party, state, remark, skip_verify, style, expires_in, …"""
        self.post("externalcontact/update_contact_way", {"config_id": config_id, **fields})

    def del_contact_way(self, config_id: str) -> None:
        self.post("externalcontact/del_contact_way", {"config_id": config_id})

    def iter_contact_ways(self, *, start_time: int | None = None, end_time: int | None = None, limit: int = 100) -> Iterator[tuple[list[dict], str]]:
        span = {k: v for k, v in (("start_time", start_time), ("end_time", end_time)) if v is not None}
        return self._pages(lambda c: self.post("externalcontact/list_contact_way", {**span, "cursor": c, "limit": limit}), "contact_way", "")

    def send_welcome_msg(self, welcome_code: str, *, text: str = "", attachments: list[dict] = ()) -> None:
        """Usable once, within 20 s of the add event; WeCom refuses anything later."""
        body = {"welcome_code": welcome_code, "attachments": list(attachments)}
        if text:
            body["text"] = {"content": text}
        self.post("externalcontact/send_welcome_msg", body)

    def remark(
        self, *, userid: str, external_userid: str, remark: str | None = None, description: str | None = None, remark_mobiles: list[str] | None = None
    ) -> None:
        body = {"userid": userid, "external_userid": external_userid}
        body.update({k: v for k, v in (("remark", remark), ("description", description), ("remark_mobiles", remark_mobiles)) if v is not None})
        self.post("externalcontact/remark", body)

    # -- mass sends -----------------------------------------------------------------------------
    def add_msg_template(
        self,
        *,
        chat_type: str = "single",
        external_userids: list[str] = (),
        chat_ids: list[str] = (),
        sender: str = "",
        tag_filter: list[list[str]] = (),
        text: str = "",
        attachments: list[dict] = (),
        allow_select: bool = False,
    ) -> dict:
        """Creates a mass-send task (members still confirm it); returns {"msgid", "fail_list"}."""
        body = {"chat_type": chat_type, "allow_select": allow_select, "attachments": list(attachments)}
        if external_userids:
            body["external_userid"] = list(external_userids)
        if chat_ids:
            body["chat_id_list"] = list(chat_ids)
        if sender:
            body["sender"] = sender
        if tag_filter:
            body["tag_filter"] = {"group_list": [{"tag_list": list(g)} for g in tag_filter]}
        if text:
            body["text"] = {"content": text}
        data = self.post("externalcontact/add_msg_template", body, idempotent=False)
        return {"msgid": data["msgid"], "fail_list": data.get("fail_list", [])}

    def iter_groupmsg_list(
        self, *, start_time: int, end_time: int, chat_type: str = "single", creator: str = "", filter_type: int = 2, limit: int = 50
    ) -> Iterator[tuple[list[dict], str]]:
        body = {
            "chat_type": chat_type,
            "start_time": start_time,
            "end_time": end_time,
            "filter_type": filter_type,
            "limit": limit,
            **({"creator": creator} if creator else {}),
        }
        return self._pages(lambda c: self.post("externalcontact/get_groupmsg_list_v2", {**body, "cursor": c}), "group_msg_list", "")

    def groupmsg_tasks(self, msgid: str) -> list[dict]:
        pages = self._pages(lambda c: self.post("externalcontact/get_groupmsg_task", {"msgid": msgid, "limit": 1000, "cursor": c}), "task_list", "")
        return [row for page, _ in pages for row in page]

    def remind_groupmsg_send(self, msgid: str) -> None:
        """Notify the members of a mass send again: WeCom allows 3 per message in 24 hours."""
        self.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})

    def cancel_groupmsg_send(self, msgid: str) -> None:
        self.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})

    def app_textcard(self, *, agentid: int, userids: list[str], title: str, description: str, url: str) -> dict:
        """A card from the corp's self-built app to members (message/send): {"msgid", "invaliduser"}."""
        body = {"touser": "|".join(userids), "msgtype": "textcard", "agentid": agentid, "textcard": {"title": title, "description": description, "url": url}}
        data = self.post("message/send", body)
        return {"msgid": data.get("msgid", ""), "invaliduser": data.get("invaliduser", "")}

    def unionid_to_external_userid(self, *, unionid: str, openid: str, subject_type: int = 0) -> dict:
        """A WeChat user (their unionid and the Official Account's openid) as the corp's customer:
        {"external_userid"} when they are one, else {"pending_id"}, mapped later by WeCom."""
        data = self.post("externalcontact/unionid_to_external_userid", {"unionid": unionid, "openid": openid, "subject_type": subject_type})
        return {k: data[k] for k in ("external_userid", "pending_id") if data.get(k)}

    def getuserinfo(self, code: str) -> dict:
        """The member an OAuth2 code was given for (auth/getuserinfo): {"userid", …}; codes are single-use."""
        return self.get("auth/getuserinfo", code=code)

    def agent_ticket(self) -> dict:
        """The app's JS-SDK ticket for wx.agentConfig: {"ticket", "expires_in"}."""
        return self.get("ticket/get", type="agent_config")

    def iter_groupmsg_send_result(self, msgid: str, userid: str, *, limit: int = 1000) -> Iterator[tuple[list[dict], str]]:
        return self._pages(
            lambda c: self.post("externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": userid, "limit": limit, "cursor": c}), "send_list", ""
        )

    # -- transfers ------------------------------------------------------------------------------
    def transfer_customer(self, *, handover: str, takeover: str, external_userids: list[str], message: str = "", resigned: bool = False) -> list[dict]:
        """Per customer {"external_userid", "errcode"}; at most 100 per call, twice per customer in 90 days."""
        if not 1 <= len(external_userids) <= 100:
            raise ValueError("transfer_customer takes 1 to 100 customers")
        body = {"handover_userid": handover, "takeover_userid": takeover, "external_userid": list(external_userids)}
        if message and not resigned:
            body["transfer_success_msg"] = message
        return self.post("externalcontact/resigned/transfer_customer" if resigned else "externalcontact/transfer_customer", body)["customer"]

    def transfer_results(self, *, handover: str, takeover: str, resigned: bool = False) -> list[dict]:
        api = "externalcontact/resigned/transfer_result" if resigned else "externalcontact/transfer_result"
        pages = self._pages(lambda c: self.post(api, {"handover_userid": handover, "takeover_userid": takeover, "cursor": c}), "customer", "")
        return [row for page, _ in pages for row in page]

    def groupchat_transfer(self, *, chat_ids: list[str], new_owner: str, resigned: bool) -> list[dict]:
        """The chats WeCom could not move, [{"chat_id", "errcode", "errmsg"}]; at most 100 a call."""
        if not 1 <= len(chat_ids) <= 100:
            raise ValueError("groupchat transfer takes 1 to 100 chats")
        api = "externalcontact/groupchat/transfer" if resigned else "externalcontact/groupchat/onjob_transfer"
        return self.post(api, {"chat_id_list": list(chat_ids), "new_owner": new_owner})["failed_chat_list"]

    def iter_unassigned(self, *, page_size: int = 1000) -> Iterator[tuple[list[dict], str]]:
        return self._pages(lambda c: self.post("externalcontact/get_unassigned_list", {"cursor": c, "page_size": page_size}), "info", "")

    # -- statistics and moments -----------------------------------------------------------------
    def user_behavior_data(self, *, start_time: int, end_time: int, userids: list[str] = (), party_ids: list[int] = ()) -> list[dict]:
        """One row per day (several members aggregated); at most 30 days, within the last 180."""
        body = {"userid": list(userids), "partyid": list(party_ids), "start_time": start_time, "end_time": end_time}
        return self.post("externalcontact/get_user_behavior_data", body)["behavior_data"]

    def add_moment_task(
        self, *, text: str = "", attachments: list[dict] = (), senders: list[str] = (), departments: list[int] = (), tags: list[str] = ()
    ) -> str:
        visible = {"sender_list": {"user_list": list(senders), "department_list": list(departments)}, "external_contact_list": {"tag_list": list(tags)}}
        body = {"attachments": list(attachments), "visible_range": visible, **({"text": {"content": text}} if text else {})}
        return self.post("externalcontact/add_moment_task", body, idempotent=False)["jobid"]

    def moment_task_result(self, jobid: str) -> dict:
        return self.get("externalcontact/get_moment_task_result", jobid=jobid)

    def moment_tasks(self, moment_id: str) -> list[dict]:
        """Each executor's publish status: [{"userid", "publish_status" 0/1}]."""
        pages = self._pages(lambda c: self.post("externalcontact/get_moment_task", {"moment_id": moment_id, "cursor": c, "limit": 1000}), "task_list", "")
        return [row for page, _ in pages for row in page]

    def iter_moment_send_result(self, moment_id: str, userid: str) -> Iterator[tuple[list[dict], str]]:
        """The customers a member's published moment showed to."""
        body = {"moment_id": moment_id, "userid": userid, "limit": 5000}
        return self._pages(lambda c: self.post("externalcontact/get_moment_send_result", {**body, "cursor": c}), "customer_list", "")

    def moment_comments(self, moment_id: str, userid: str) -> dict:
        """{"comment_list": [{external_userid, create_time}], "like_list": [...]} on a member's moment."""
        data = self.post("externalcontact/get_moment_comments", {"moment_id": moment_id, "userid": userid})
        return {"comment_list": data.get("comment_list", []), "like_list": data.get("like_list", [])}

    def cancel_moment_task(self, moment_id: str) -> None:
        self.post("externalcontact/cancel_moment_task", {"moment_id": moment_id})

    def iter_moments(self, *, start_time: int, end_time: int, creator: str = "", limit: int = 20) -> Iterator[tuple[list[dict], str]]:
        body = {"start_time": start_time, "end_time": end_time, "limit": limit, **({"creator": creator} if creator else {})}
        return self._pages(lambda c: self.post("externalcontact/get_moment_list", {**body, "cursor": c}), "moment_list", "")
