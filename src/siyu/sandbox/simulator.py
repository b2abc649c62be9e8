"""A population of simulated WeChat users doing what customers do, at a given rate.

Each step picks one behaviour and makes it happen in the sandbox, which sends the callbacks a
real WeCom would send: new customers scan a channel's contact way and add a guide, join and leave
groups, chat with their guide, delete the guide, and guides edit remarks and tags, confirm mass
sends and publish moments. Given where the client reaches the sandbox (`client_url`), guides also
work on a phone (`phone.Phone`): they open the task cards the app sent them, then chat with their
customers from the app's chat-toolbar page, putting a task's content into the chat, writing the
follow-up note a revisit asks for, or answering with a quick reply.
"""

from __future__ import annotations

import html
import io
import json
import logging
import random
import re
import threading
import time
import zlib
from urllib.parse import urlsplit

import httpx
import zxingcpp
from django.db import close_old_connections
from django.db.models import F
from PIL import Image

from . import callbacks, services
from .models import (
    SbAppMessage,
    SbBehavior,
    SbContactWay,
    SbCorp,
    SbCustomer,
    SbFollow,
    SbGroup,
    SbJoinWay,
    SbMoment,
    SbMomentReach,
    SbMomentTask,
    SbMsgSend,
    SbMsgTemplate,
    SbStaff,
    SbTag,
    china_today,
)
from .names import customer_name
from .phone import Phone, WechatPhone, attrs

log = logging.getLogger(__name__)

# Channel states a brand's live codes would carry, weighted by how many customers each brings.
CHANNELS = (("store", 30), ("web", 15), ("ground", 12), ("parcel", 15), ("xhs", 10), ("douyin", 8), ("ads", 10))
QR_IMG = re.compile(r'<img[^>]+src="([^"]+)"')
SCAN_URL = re.compile(r"/sandbox/scan/contact/([^/]+)/")
BEHAVIOURS = (
    ("scan", 50),
    ("chat", 16),
    ("join_group", 12),
    ("edit", 8),
    ("leave_group", 5),
    ("delete_staff", 6),
    ("new_group", 3),
    ("confirm_mass_send", 8),
    ("own_mass_send", 2),
    ("publish_moment", 3),
    ("react_to_moment", 4),
    ("work_tasks", 8),
    ("group_chat", 14),
    ("customer_pages", 12),
)
# One guide in ten never sends a given mass send: completion is rarely 100%.
NEVER_SENDS = 10
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SHARE_URL = re.compile(r'id="share-url" readonly value="([^"]+)"')
USABLE_COUPON = re.compile(r'class="card coupon active" data-code="([A-Z0-9]+)"')
KEY = re.compile(r'name="key" value="([^"]+)"')
MALL_ITEM = re.compile(r'name="item" value="(\d+)"><input type="hidden" name="key" value="([^"]+)">.*?</button>', re.S)
NOTES = ("宝宝最近喝奶正常，约了周末到店", "问了辅食，推荐了米粉", "妈妈在考虑换段，下周再聊", "已电话回访，满意", "想了解会员日活动")


class Simulator:
    def __init__(self, corp: SbCorp, *, seed: int | None = None, printed=None, client_url: str | None = None):
        """`printed`: a callable giving the URLs behind QR codes the brand printed that WeCom does
        not know (landing pages); the crowd scans those too, as phones do. `client_url`: where the
        sandbox is served, for guides' phones to reach it (none: guides do not use pages)."""
        self.corp = corp
        self.rng = random.Random(seed)
        self.printed = printed
        self.client_url = client_url
        self.done: dict[str, int] = {}

    def step(self) -> str:
        """One behaviour; returns its name (a behaviour with nothing to act on falls back to a scan)."""
        kind = self.rng.choices([b for b, _ in BEHAVIOURS], [w for _, w in BEHAVIOURS])[0]
        if not getattr(self, f"_{kind}")():
            kind = "scan"
            self._scan()
        self.done[kind] = self.done.get(kind, 0) + 1
        return kind

    # -- behaviours: each returns False when there is nothing to do it with ------------------------
    def _staff(self) -> SbStaff | None:
        staff = list(SbStaff.objects.filter(corp=self.corp, external_enabled=True).values_list("id", flat=True))
        return SbStaff.objects.get(pk=self.rng.choice(staff)) if staff else None

    def _follow(self) -> SbFollow | None:
        last = SbFollow.objects.filter(corp=self.corp).order_by("-id").values_list("id", flat=True).first()
        if not last:
            return None
        return SbFollow.objects.filter(corp=self.corp, id__gte=self.rng.randint(1, last)).select_related("customer", "staff", "corp").order_by("id").first()

    def _group(self) -> SbGroup | None:
        ids = list(SbGroup.objects.filter(corp=self.corp, dismissed=False).values_list("id", flat=True))
        return SbGroup.objects.select_related("corp").get(pk=self.rng.choice(ids)) if ids else None

    def _scan(self) -> bool:
        pages = self.printed() if self.printed else []
        if pages and self.rng.random() < 0.4 and self._scan_page(self.rng.choice(pages)):
            return True
        # Most customers arrive through the brand's contact ways (live codes) when it has some.
        ways = list(SbContactWay.objects.filter(corp=self.corp, deleted=False, is_temp=False).values_list("id", flat=True))
        if ways and self.rng.random() < 0.8:
            try:
                follow, _ = callbacks.customer_scans_contact_way(
                    SbContactWay.objects.get(pk=self.rng.choice(ways)), name=customer_name(self.rng), gender=self.rng.choice((1, 2, 2))
                )
                self._count(follow.staff, new_apply_cnt=1, new_contact_cnt=1)
                return True
            except callbacks.CodeRefused:
                pass
        staff = self._staff()
        if staff is None:
            return False
        channel = self.rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        state = f"store-{staff.userid[-4:]}" if channel == "store" else channel
        callbacks.customer_adds_staff(self.corp, staff, name=customer_name(self.rng), state=state, gender=self.rng.choice((1, 2, 2)))
        self._count(staff, new_apply_cnt=1, new_contact_cnt=1)
        return True

    def _scan_page(self, url: str) -> bool:
        """A phone opens the page behind a printed QR, then long-presses the staff code it shows."""
        try:
            with httpx.Client(timeout=10, follow_redirects=True) as phone:  # a new phone: no cookies
                page = phone.get(url)
                found = QR_IMG.search(page.text) if page.status_code == 200 else None
                if found is None:
                    return False
                image = phone.get(html.unescape(found.group(1)))
            decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.content)).convert("L"))
        except (httpx.HTTPError, OSError):
            return False
        scan = SCAN_URL.search(decoded[0].text) if decoded else None
        way = SbContactWay.objects.filter(corp=self.corp, config_id=scan.group(1)).first() if scan else None
        if way is None:
            return False
        try:
            follow, _ = callbacks.customer_scans_contact_way(way, name=customer_name(self.rng), gender=self.rng.choice((1, 2, 2)))
        except callbacks.CodeRefused:
            return False
        self._count(follow.staff, new_apply_cnt=1, new_contact_cnt=1)
        return True

    def _chat(self) -> bool:
        follow = self._follow()
        if follow is None:
            return False
        replied = self.rng.random() < 0.85
        SbFollow.objects.filter(pk=follow.pk).update(last_chat_at=int(time.time()))
        self._count(
            follow.staff,
            chat_cnt=1,
            message_cnt=self.rng.randint(1, 12),
            replied_chat_cnt=int(replied),
            reply_minutes_total=self.rng.randint(1, 30) if replied else 0,
            negative_feedback_cnt=int(self.rng.random() < 0.01),
        )
        return True

    def _confirm_mass_send(self) -> bool:
        """A guide opens 群发助手 and sends a task waiting for them (most do, within hours)."""
        waiting = list(
            SbMsgSend.objects.filter(template__corp=self.corp, template__cancelled=False, status=0).values_list("template_id", "userid").distinct()[:200]
        )
        waiting = [(t, u) for t, u in waiting if zlib.crc32(f"{t}:{u}".encode()) % NEVER_SENDS]
        if not waiting:
            return False
        template_id, userid = self.rng.choice(waiting)
        services.msg_template_confirm(template=SbMsgTemplate.objects.select_related("corp").get(pk=template_id), userid=userid)
        return True

    def _publish_moment(self) -> bool:
        """A guide publishes a moment HQ asked for (one in ten never does)."""
        waiting = list(SbMomentTask.objects.filter(moment__corp=self.corp, moment__cancelled=False, publish_status=0).values_list("moment_id", "userid")[:200])
        waiting = [(m, u) for m, u in waiting if zlib.crc32(f"m{m}:{u}".encode()) % NEVER_SENDS]
        if not waiting:
            return False
        moment_id, userid = self.rng.choice(waiting)
        services.moment_publish(moment=SbMoment.objects.select_related("corp").get(pk=moment_id), userid=userid)
        return True

    def _react_to_moment(self) -> bool:
        """A customer who sees a published moment likes it, and now and then comments."""
        reach = SbMomentReach.objects.filter(task__moment__corp=self.corp, liked_at=0).select_related("task__moment").order_by("?").first()
        if reach is None:
            return False
        services.moment_react(moment=reach.task.moment, external_userid=reach.external_userid, like=True, comment=self.rng.random() < 0.3)
        return True

    def _own_mass_send(self) -> bool:
        """A guide sends some of their customers a message on their own, from their phone."""
        staff = self._staff()
        if staff is None:
            return False
        customers = list(SbFollow.objects.filter(corp=self.corp, staff=staff).values_list("customer__external_userid", flat=True)[:50])
        if not customers:
            return False
        picked = self.rng.sample(customers, min(len(customers), self.rng.randint(1, 20)))
        services.staff_sends_own(staff=staff, external_userids=picked, text=self.rng.choice(("新品到店，欢迎来试", "会员日提醒", "宝宝用品上新")))
        return True

    def _work_tasks(self) -> bool:
        """A guide opens the newest task card the app sent them (or any guide, without cards), then
        opens the chat with one of their customers and the app's page beside it."""
        self.corp.refresh_from_db(fields=["toolbar_url"])
        if not (self.client_url and self.corp.toolbar_url):
            return False
        card = SbAppMessage.objects.filter(corp=self.corp, msgtype="textcard").order_by("-id").first()
        staff = None
        if card is not None:
            staff = SbStaff.objects.filter(corp=self.corp, userid=self.rng.choice(card.touser.split("|"))).first()
        staff = staff or self._staff()
        customers = list(SbFollow.objects.filter(corp=self.corp, staff=staff).values_list("customer__external_userid", flat=True)[:500]) if staff else []
        if not customers:
            return False
        with Phone(self.client_url, self.corp.corpid, staff.userid) as phone:
            try:
                if card is not None and card.content.get("url"):
                    task = phone.open_link(card.content["url"])  # reads the task on their phone
                    # Opened: the page the card leads to, past WeCom's sign-in.
                    self._did("opened_task" if task.status_code == 200 and not task.url.path.startswith("/sandbox/") else "card_refused")
                page = phone.open_toolbar(self.corp.toolbar_url, self.rng.choice(customers))
                if page.status_code == 200:
                    self._did(self._in_sidebar(phone, page, staff))
            except (httpx.HTTPError, ValueError, KeyError):
                return False
        return True

    @staticmethod
    def _sidebar_ready(phone: Phone, page: httpx.Response) -> tuple[str, dict, str, str] | None:
        """What Siyu's sidebar script does first: agentConfig with the page's signature, then the
        customer of the chat. (root, headers, page_url, external_userid), or None when refused."""
        page_url = str(page.url).split("#", 1)[0]
        root, csrf = attrs(page.text, "data-root"), CSRF.search(page.text)
        if not root or csrf is None:
            return None
        split = urlsplit(page_url)
        root = f"{split.scheme}://{split.netloc}{root[0]}"
        headers = {"X-CSRFToken": csrf.group(1), "Referer": page_url}
        cfg = phone.http.get(root + "config", params={"url": page_url}).json()
        if "error" in cfg:
            return None
        args = {k: cfg[k] for k in ("corpid", "agentid", "timestamp", "nonceStr", "signature")}
        api_list = ["getCurExternalContact", "sendChatMessage", "scanQRCode"]
        if phone.js("agentConfig", {**args, "jsApiList": api_list}, page_url).get("errMsg") != "agentConfig:ok":
            return None
        return root, headers, page_url, phone.js("getCurExternalContact", {}, page_url).get("userId", "")

    def _in_sidebar(self, phone: Phone, page: httpx.Response, staff: SbStaff) -> str:
        """What the guide does in the sidebar once it is ready: a task's content put into the chat
        (each message by sendChatMessage, then recorded), a revisit's note, or a quick reply."""
        ready = self._sidebar_ready(phone, page)
        if ready is None:
            return "sidebar_refused"
        root, headers, page_url, external_userid = ready
        card = phone.http.get(root + "customer", params={"external_userid": external_userid})
        if card.status_code != 200:
            return "sidebar_refused"
        sends, kinds, replies = attrs(card.text, "data-send"), attrs(card.text, "data-kind"), attrs(card.text, "data-reply")
        # What the guide came for, of what the page offers: a task's content, a revisit's note, or a
        # quick reply to what the customer asked (seven times in ten); else they only looked.
        choices = [*(["send"] if sends else []), *(["note"] if "revisit" in kinds else []), *(["reply"] if replies and self.rng.random() < 0.7 else [])]
        action = self.rng.choice(choices) if choices else ""
        if action == "note":
            phone.http.post(root + "note", data={"external_userid": external_userid, "text": self.rng.choice(NOTES)}, headers=headers).raise_for_status()
            return "sidebar_note"
        if not action:
            return "sidebar_looked"
        # A tap on content: its sendChatMessage calls, then Siyu records what went in.
        key, record = ("task_id", "sent") if action == "send" else ("reply_id", "reply-sent")
        picked = self.rng.choice(sends if action == "send" else replies)
        sent = self._put_in_chat(phone, root, page_url, {key: picked})
        if not sent:
            return "sidebar_cancelled"
        phone.http.post(root + record, data={key: picked, "external_userid": external_userid}, headers=headers).raise_for_status()
        replied = {"replied_chat_cnt": 1, "reply_minutes_total": self.rng.randint(1, 10)} if action == "reply" else {}
        self._count(staff, chat_cnt=1, message_cnt=sent, **replied)
        return "sidebar_task_sent" if action == "send" else "sidebar_replied"

    @staticmethod
    def _put_in_chat(phone: Phone, root: str, page_url: str, what: dict) -> int:
        """The content's sendChatMessage calls, one after another; how many went in (0: refused)."""
        answer = phone.http.get(root + "chat", params=what).json()
        messages = answer.get("messages") or []
        for message in messages:
            if phone.js("sendChatMessage", message, page_url).get("err_msg") != "sendChatMessage:ok":
                return 0
        return len(messages)

    def _customer_pages(self) -> bool:
        """A customer taps a link the brand sent them (a mass send's card) in WeChat: reads the
        article (the page's beacon reports the time and depth; now and then a friend opens the copy
        they shared), checks in, claims the coupon, draws, exchanges, rolls the dice or opens a red
        envelope. Now and then they bring a usable coupon to
        their guide's store, and the guide scans it in the sidebar."""
        if not self.client_url:
            return False
        sent = list(
            SbMsgSend.objects.filter(template__corp=self.corp, status=1)
            .exclude(external_userid="")
            .order_by("-id")
            .values_list("external_userid", "template_id")[:500]
        )
        if not sent:
            return False
        external_userid, template_id = self.rng.choice(sent)
        links = [a["link"]["url"] for a in SbMsgTemplate.objects.get(pk=template_id).attachments if "/h5/" in a.get("link", {}).get("url", "")]
        if not links:
            return False
        with WechatPhone(self.client_url, self.corp.corpid, external_userid=external_userid) as wechat:
            try:
                self._did(self._on_page(wechat, wechat.open_link(self.rng.choice(links))))
                if self.rng.random() < 0.3:
                    self._did(self._at_the_store(wechat, external_userid))
            except (httpx.HTTPError, ValueError, KeyError):
                return False
        return True

    def _on_page(self, wechat: WechatPhone, page: httpx.Response) -> str:
        if page.status_code != 200:
            return "page_refused"
        csrf = CSRF.search(page.text)
        headers = {"X-CSRFToken": csrf.group(1), "Referer": str(page.url)} if csrf else {}
        if progress := attrs(page.text, "data-progress"):
            beacon = {"dwell": self.rng.randint(3, 240), "scroll": self.rng.choice((20, 45, 70, 100, 100))}
            wechat.http.post(page.url.join(progress[0]), content=json.dumps(beacon))
            shared = SHARE_URL.search(page.text)
            if shared and self.rng.random() < 0.25:
                with WechatPhone(self.client_url, self.corp.corpid, stranger=True) as friend:
                    friend.open_link(html.unescape(shared.group(1)))
                return "read_and_shared"
            return "read"
        if 'id="checkin-button"' in page.text and "<form" in page.text:
            return "checked_in" if wechat.http.post(page.url, headers=headers).status_code == 200 else "checkin_refused"
        if 'id="claim-button"' in page.text:
            return "coupon_claimed" if wechat.http.post(page.url, headers=headers).status_code == 200 else "coupon_refused"
        if 'id="draw-button"' in page.text and KEY.search(page.text):
            drawn = wechat.http.post(page.url, data={"key": KEY.search(page.text).group(1)}, headers=headers)
            return "drew" if drawn.status_code == 200 else "draw_refused"
        if 'id="play-button"' in page.text and KEY.search(page.text):
            played = wechat.http.post(page.url, data={"key": KEY.search(page.text).group(1)}, headers=headers)
            return "played_game" if played.status_code == 200 else "game_refused"
        offers = [m for m in MALL_ITEM.finditer(page.text) if "disabled" not in m.group(0)]
        if offers:
            item, key = self.rng.choice(offers).group(1, 2)
            address = {"name": "王女士", "phone": "13800000000", "address": "上海市徐汇区"}
            done = wechat.http.post(page.url, data={"item": item, "key": key, **address}, headers=headers)
            return "exchanged" if done.status_code == 200 else "exchange_refused"
        return "looked"

    def _at_the_store(self, wechat: WechatPhone, external_userid: str) -> str:
        root = urlsplit(self.corp.toolbar_url)
        mine = wechat.http.get(f"{root.scheme}://{root.netloc}{root.path.replace('/sidebar/', '/h5/', 1)}coupons")
        codes = USABLE_COUPON.findall(mine.text) if mine.status_code == 200 else []
        follow = SbFollow.objects.filter(corp=self.corp, customer__external_userid=external_userid).select_related("staff").first()
        if not codes or follow is None or not self.corp.toolbar_url:
            return "no_coupon_to_use"
        with Phone(self.client_url, self.corp.corpid, follow.staff.userid) as phone:
            ready = self._sidebar_ready(phone, phone.open_toolbar(self.corp.toolbar_url, external_userid))
            if ready is None:
                return "sidebar_refused"
            sidebar, headers, page_url, _customer = ready
            phone.http.get(f"{self.client_url.rstrip('/')}/sandbox/camera", params={"text": f"SIYU-COUPON:{self.rng.choice(codes)}"})
            scanned = phone.js("scanQRCode", {"needResult": 1, "scanType": ["qrCode"]}, page_url)
            if scanned.get("errMsg") != "scanQRCode:ok":
                return "scan_failed"
            verified = phone.http.post(sidebar + "coupon-verify", data={"code": scanned["resultStr"]}, headers=headers)
            return "coupon_verified" if verified.status_code == 200 else "coupon_refused_in_store"

    def _did(self, what: str) -> None:
        self.done[what] = self.done.get(what, 0) + 1

    def _edit(self) -> bool:
        follow = self._follow()
        tags = list(SbTag.objects.filter(group__corp=self.corp, deleted=False).values_list("tag_id", flat=True))
        if follow is None or not tags:
            return False
        wanted = list(dict.fromkeys([*follow.tag_ids, self.rng.choice(tags)]))
        callbacks.staff_edits_customer(follow, remark=follow.remark or follow.customer.name, tag_ids=wanted)
        return True

    def _join_group(self) -> bool:
        follow = self._follow()
        ways = list(SbJoinWay.objects.filter(corp=self.corp, deleted=False).values_list("id", flat=True))
        if follow is not None and ways and self.rng.random() < 0.8:
            try:
                callbacks.customer_scans_join_way(SbJoinWay.objects.get(pk=self.rng.choice(ways)), follow.customer)
                return True
            except callbacks.CodeRefused:
                pass
        group = self._group()
        if group is None or follow is None or group.members.filter(userid=follow.customer.external_userid).exists():
            return False
        callbacks.customers_join_group(group, [follow.customer], state=self.rng.choice(("", "group-qr", "poster")))
        return True

    def _group_chat(self) -> bool:
        """Someone in a group says something: a customer mostly, the owner now and then."""
        group = self._group()
        if group is None:
            return False
        member = group.members.filter(type=2).order_by("?").values_list("userid", flat=True).first()
        userid = member if member and self.rng.random() < 0.8 else group.owner.userid
        services.group_chat(group=group, userid=userid, messages=self.rng.randint(1, 8))
        return True

    def _leave_group(self) -> bool:
        group = self._group()
        member = group and group.members.filter(type=2).order_by("?").first()
        if not member:
            return False
        callbacks.members_leave_group(group, [member.userid], removed=self.rng.random() < 0.2)
        return True

    def _delete_staff(self) -> bool:
        follow = self._follow()
        if follow is None:
            return False
        callbacks.customer_deletes_staff(follow)
        return True

    def _new_group(self) -> bool:
        staff = self._staff()
        if staff is None:
            return False
        n = SbGroup.objects.filter(corp=self.corp).count() + 1
        members = list(SbCustomer.objects.filter(corp=self.corp, follows__staff=staff).order_by("-id")[: self.rng.randint(2, 8)])
        callbacks.group_created(self.corp, staff, f"{staff.name}的宝妈群 {n}", members)
        return True

    def _count(self, staff: SbStaff, **counters) -> None:
        row, _ = SbBehavior.objects.get_or_create(corp=self.corp, staff=staff, day=china_today())
        SbBehavior.objects.filter(pk=row.pk).update(**{k: F(k) + v for k, v in counters.items()})

    # -- running -----------------------------------------------------------------------------------
    def run(self, *, per_minute: float, steps: int | None = None, stop: threading.Event | None = None, on_step=None) -> dict[str, int]:
        """Steps at `per_minute` on average (exponential gaps, like real arrivals) until `steps` or `stop`."""
        stop = stop or threading.Event()
        taken = 0
        while not stop.is_set() and (steps is None or taken < steps):
            try:
                kind = self.step()
                if on_step:
                    on_step(kind)
            except Exception:  # noqa: BLE001 — one failed behaviour must not end the population
                log.exception("simulated behaviour failed")
            finally:
                close_old_connections()
            taken += 1
            stop.wait(self.rng.expovariate(per_minute / 60.0) if per_minute > 0 else 0)
        return self.done
