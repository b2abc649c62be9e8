"""The sandbox's own state: a simulated WeCom, kept apart from the product's tables.

Nothing here is tenant data of Siyu; it is what "WeCom" knows. The product reaches it only over
HTTP, through the same client it uses for the real thing.
"""

import hashlib
import secrets
from datetime import date, datetime, timedelta, timezone

from django.db import models

# WeCom counts its days (statistics, behaviour data) in China time, whatever the server's zone.
CHINA = timezone(timedelta(hours=8))


def china_today() -> date:
    return datetime.now(CHINA).date()


def new_oa_appid() -> str:
    return "wx" + secrets.token_hex(8)


def new_oa_secret() -> str:
    return secrets.token_hex(16)


def oa_openid(oa_appid: str, unionid: str) -> str:
    """A WeChat user's openid under one Official Account: stable, and different for each account."""
    return "o" + hashlib.sha256(f"{oa_appid}:{unionid}".encode()).hexdigest()[:27]


class SbCorp(models.Model):
    corpid = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    secret = models.CharField(max_length=128)
    token_ttl = models.PositiveIntegerField(default=7200, help_text="seconds an access_token lives")
    # Per (corp, api) windows, as WeCom documents them (path/90454).
    limit_per_minute = models.PositiveIntegerField(default=10_000)
    limit_per_hour = models.PositiveIntegerField(default=150_000)
    # Off for benchmarks that measure Siyu, not the fake: no rate windows, no call log (the
    # sandbox's own bookkeeping would otherwise be most of the database writes).
    metered = models.BooleanField(default=True)
    callback_url = models.URLField(max_length=500, blank=True, default="")
    callback_token = models.CharField(max_length=64, blank=True, default="")
    callback_aes_key = models.CharField(max_length=43, blank=True, default="")
    # 群发助手 → 设置群发规则: how many corp mass messages one customer may receive.
    receive_cap = models.CharField(max_length=12, default="month_days", help_text="month_days, week_7 or day_1")
    # The corp's self-built app (its agentid): OAuth for its pages and its JS-SDK ticket.
    agentid = models.IntegerField(default=1000002)
    # The domain the app's pages are trusted on (可信域名); empty: any (a test's or the demo's).
    trusted_domain = models.CharField(max_length=200, blank=True, default="")
    # The app's page in the chat toolbar (聊天工具栏), set in WeCom's admin console: the client opens
    # it beside a chat when the member taps the app.
    toolbar_url = models.URLField(max_length=500, blank=True, default="")
    # The brand's Official Account, bound to the same open platform as the corp (so a WeChat
    # user's unionid converts to the corp's external_userid).
    oa_appid = models.CharField(max_length=32, default=new_oa_appid)
    oa_secret = models.CharField(max_length=64, default=new_oa_secret)


class SbToken(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="tokens")
    token = models.CharField(max_length=128, unique=True)
    expires_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)


class SbRateWindow(models.Model):
    """Calls counted per (corp, api, window); a row per minute and per hour."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    api = models.CharField(max_length=100)
    span = models.CharField(max_length=6)  # "minute" | "hour"
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "api", "span", "window_start"], name="sb_rate_window_unique")]


class SbFault(models.Model):
    """An injected failure: the next `remaining` calls to `api` ("*" = any) answer `errcode`
    (0 = answer normally) after `delay_ms`."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="faults")
    api = models.CharField(max_length=100, default="*")
    errcode = models.IntegerField(default=0)
    delay_ms = models.PositiveIntegerField(default=0)
    remaining = models.PositiveIntegerField(default=1)
    after = models.PositiveIntegerField(default=0, help_text="matching calls answered normally before the fault strikes")
    created_at = models.DateTimeField(auto_now_add=True)


class SbCallLog(models.Model):
    """Every API call the sandbox answered, for tests and benchmarks to read back."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, null=True)
    api = models.CharField(max_length=100)
    errcode = models.IntegerField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)


class SbStaff(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="staff")
    userid = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    department = models.IntegerField(default=1)
    position = models.CharField(max_length=64, blank=True, default="")
    is_leader = models.BooleanField(default=False, help_text="leads its department")
    external_enabled = models.BooleanField(default=True, help_text="has the customer-contact feature")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "userid"], name="sb_staff_unique")]


class SbCustomer(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="customers")
    external_userid = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    unionid = models.CharField(max_length=64, blank=True, default="")
    avatar = models.CharField(max_length=300, blank=True, default="")
    gender = models.IntegerField(default=0)
    type = models.IntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "external_userid"], name="sb_customer_unique")]


class SbFollow(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    customer = models.ForeignKey(SbCustomer, on_delete=models.CASCADE, related_name="follows")
    staff = models.ForeignKey(SbStaff, on_delete=models.CASCADE, related_name="follows")
    remark = models.CharField(max_length=64, blank=True, default="")
    description = models.CharField(max_length=300, blank=True, default="")
    createtime = models.BigIntegerField()
    add_way = models.IntegerField(default=1)
    state = models.CharField(max_length=30, blank=True, default="")
    oper_userid = models.CharField(max_length=64, blank=True, default="")
    remark_mobiles = models.JSONField(default=list, blank=True)
    tag_ids = models.JSONField(default=list, blank=True)
    # When the member last chatted with the customer: a sender-less mass send goes to the
    # follower who chatted last (the add counts as a chat).
    last_chat_at = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "staff"], name="sb_follow_unique")]


class SbWelcomeCode(models.Model):
    """Issued with an add event: usable once, for 20 seconds, by send_welcome_msg."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    code = models.CharField(max_length=64, unique=True)
    follow = models.ForeignKey(SbFollow, on_delete=models.SET_NULL, null=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class SbCallbackLog(models.Model):
    """Every callback the sandbox sent and what the receiver answered."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    event = models.CharField(max_length=64)
    change_type = models.CharField(max_length=64, blank=True, default="")
    body = models.TextField()
    query = models.JSONField()
    status_code = models.IntegerField(null=True)
    sent_at = models.DateTimeField(auto_now_add=True)


class SbDepartment(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="departments")
    dept_id = models.IntegerField()
    name = models.CharField(max_length=64)
    parent_id = models.IntegerField(default=0)
    order = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "dept_id"], name="sb_department_unique")]


class SbTagGroup(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="tag_groups")
    group_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=30)
    order = models.IntegerField(default=0)
    create_time = models.BigIntegerField()
    deleted = models.BooleanField(default=False)


class SbTag(models.Model):
    group = models.ForeignKey(SbTagGroup, on_delete=models.CASCADE, related_name="tags")
    tag_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=30)
    order = models.IntegerField(default=0)
    create_time = models.BigIntegerField()
    deleted = models.BooleanField(default=False)


class SbGroup(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="groups")
    chat_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    owner = models.ForeignKey(SbStaff, on_delete=models.CASCADE, related_name="owned_groups")
    notice = models.TextField(blank=True, default="")
    create_time = models.BigIntegerField()
    dismissed = models.BooleanField(default=False)
    member_version = models.PositiveIntegerField(default=1)


class SbGroupMember(models.Model):
    group = models.ForeignKey(SbGroup, on_delete=models.CASCADE, related_name="members")
    userid = models.CharField(max_length=64)
    type = models.IntegerField(default=2)
    name = models.CharField(max_length=64, blank=True, default="")
    join_time = models.BigIntegerField()
    join_scene = models.IntegerField(default=1)
    invitor = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=30, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "userid"], name="sb_group_member_unique")]


class SbGroupDay(models.Model):
    """A customer group's day of chat (China time), for groupchat/statistic's message counts: the
    messages sent and who sent them (the simulator feeds it)."""

    group = models.ForeignKey(SbGroup, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    messages = models.PositiveIntegerField(default=0)
    speakers = models.JSONField(default=list, help_text="userids of the members who sent messages")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "day"], name="sb_groupday_unique")]


class SbBehavior(models.Model):
    """Per member and day, the counters get_user_behavior_data reports (the simulator feeds them)."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    staff = models.ForeignKey(SbStaff, on_delete=models.CASCADE, related_name="behavior")
    day = models.DateField()
    chat_cnt = models.PositiveIntegerField(default=0)
    message_cnt = models.PositiveIntegerField(default=0)
    replied_chat_cnt = models.PositiveIntegerField(default=0, help_text="chats the member answered, for reply_percentage")
    reply_minutes_total = models.PositiveIntegerField(default=0, help_text="for avg_reply_time")
    negative_feedback_cnt = models.PositiveIntegerField(default=0)
    new_apply_cnt = models.PositiveIntegerField(default=0)
    new_contact_cnt = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "day"], name="sb_behavior_unique")]


class SbContactWay(models.Model):
    """A contact way (联系我): a QR code or mini-program button that adds one of `users`."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="contact_ways")
    config_id = models.CharField(max_length=64, unique=True)
    type = models.IntegerField(help_text="1 single, 2 multi")
    scene = models.IntegerField(help_text="1 mini-program, 2 QR")
    style = models.IntegerField(default=1)
    remark = models.CharField(max_length=30, blank=True, default="")
    skip_verify = models.BooleanField(default=True)
    state = models.CharField(max_length=30, blank=True, default="")
    users = models.JSONField(default=list)
    parties = models.JSONField(default=list)
    is_temp = models.BooleanField(default=False)
    expires_in = models.IntegerField(default=0)
    chat_expires_in = models.IntegerField(default=0)
    unionid = models.CharField(max_length=64, blank=True, default="")
    conclusions = models.JSONField(default=dict, blank=True)
    create_time = models.BigIntegerField()
    deleted = models.BooleanField(default=False)
    scans = models.PositiveIntegerField(default=0, help_text="adds so far; a multi-person way hands them out in turn")


class SbWelcomeSent(models.Model):
    """What send_welcome_msg delivered, so tests can check the customer got exactly one."""

    code = models.OneToOneField(SbWelcomeCode, on_delete=models.CASCADE, related_name="sent")
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list)
    sent_at = models.DateTimeField(auto_now_add=True)


class SbJoinWay(models.Model):
    """A group join way (加入群聊): a QR over up to 5 groups."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="join_ways")
    config_id = models.CharField(max_length=64, unique=True)
    scene = models.IntegerField()
    remark = models.CharField(max_length=30, blank=True, default="")
    auto_create_room = models.BooleanField(default=True)
    room_base_name = models.CharField(max_length=40, blank=True, default="")
    room_base_id = models.IntegerField(default=1)
    chat_id_list = models.JSONField(default=list)
    state = models.CharField(max_length=30, blank=True, default="")
    mark_source = models.BooleanField(default=True)
    deleted = models.BooleanField(default=False)


class SbMsgTemplate(models.Model):
    """A mass-send task from add_msg_template: nothing is sent until each sender confirms."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE, related_name="msg_templates")
    msgid = models.CharField(max_length=64, unique=True)
    chat_type = models.CharField(max_length=10, default="single")
    creator = models.CharField(max_length=64, blank=True, default="")
    create_type = models.IntegerField(default=0, help_text="0 corp, 1 personal")
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list)
    create_time = models.BigIntegerField()
    cancelled = models.BooleanField(default=False)
    remind_times = models.JSONField(default=list, help_text="unix times of remind_groupmsg_send calls")


class SbMsgSend(models.Model):
    """One recipient of a mass send: status 0 not sent, 1 sent, 2 not a friend, 3 already received one."""

    template = models.ForeignKey(SbMsgTemplate, on_delete=models.CASCADE, related_name="sends")
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64, blank=True, default="")
    chat_id = models.CharField(max_length=64, blank=True, default="")
    status = models.IntegerField(default=0)
    send_time = models.BigIntegerField(default=0)


class SbTransfer(models.Model):
    """A customer handed from one member to another (on-job or resigned)."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    resigned = models.BooleanField(default=False)
    handover_userid = models.CharField(max_length=64)
    takeover_userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    status = models.IntegerField(default=2, help_text="1 done, 2 waiting, 3 refused, 4 taker at limit")
    takeover_time = models.BigIntegerField(default=0)
    created = models.BigIntegerField()


class SbMoment(models.Model):
    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    jobid = models.CharField(max_length=64, unique=True)
    moment_id = models.CharField(max_length=64, unique=True)
    creator = models.CharField(max_length=64, blank=True, default="")
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list)
    visible_range = models.JSONField(default=dict)
    create_time = models.BigIntegerField()
    cancelled = models.BooleanField(default=False)


class SbMomentTask(models.Model):
    """One executor of a moment task: publishes it (or not) to the customers it may show to."""

    moment = models.ForeignKey(SbMoment, on_delete=models.CASCADE, related_name="tasks")
    userid = models.CharField(max_length=64)
    publish_status = models.IntegerField(default=0, help_text="0 not published, 1 published")
    publish_time = models.BigIntegerField(default=0)


class SbMomentReach(models.Model):
    """A customer a published moment showed to, and what they did with it."""

    task = models.ForeignKey(SbMomentTask, on_delete=models.CASCADE, related_name="reached")
    external_userid = models.CharField(max_length=64)
    liked_at = models.BigIntegerField(default=0)
    commented_at = models.BigIntegerField(default=0)


class SbGroupWelcomeTemplate(models.Model):
    """A group welcome (入群欢迎语素材): what WeCom says when a customer joins a group."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    template_id = models.CharField(max_length=64, unique=True)
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=dict, blank=True)
    deleted = models.BooleanField(default=False)


class SbMedia(models.Model):
    """A temporary media file (media/upload): its id works for 3 days."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    media_id = models.CharField(max_length=128, unique=True)
    type = models.CharField(max_length=8)
    filename = models.CharField(max_length=255, blank=True, default="")
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()


class SbAppMessage(models.Model):
    """A message the corp's self-built app sent to members (message/send)."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    agentid = models.IntegerField()
    touser = models.TextField(help_text="up to 1,000 userids joined by |")
    msgtype = models.CharField(max_length=16)
    content = models.JSONField(default=dict)
    msgid = models.CharField(max_length=64, unique=True)
    created = models.BigIntegerField()


class SbOAuthCode(models.Model):
    """A code WeCom's OAuth2 authorize page handed to a page for the member using the client:
    exchanged once, within 5 minutes, by auth/getuserinfo."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    code = models.CharField(max_length=64, unique=True)
    userid = models.CharField(max_length=64)
    agentid = models.IntegerField(null=True, blank=True)
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)


class SbTicket(models.Model):
    """An app's JS-SDK ticket (ticket/get?type=agent_config, for wx.agentConfig). Issued ones are
    counted per hour."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    kind = models.CharField(max_length=12)  # "agent_config" (the corp's ticket for wx.config is not served)
    ticket = models.CharField(max_length=128, unique=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()


class SbChatContext(models.Model):
    """What the WeCom client has open: a member in a chat with a customer, as the sandbox's chat
    page sets it (a cookie holds its key). The JS-SDK stand-in answers from it."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    key = models.CharField(max_length=64, unique=True)
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64, blank=True, default="")
    entry = models.CharField(max_length=24, default="single_chat_tools")
    created = models.DateTimeField()
    camera = models.CharField(max_length=500, blank=True, default="", help_text="what scanQRCode reads next")


class SbJsInvoke(models.Model):
    """A JS-SDK call a page made in the client (agentConfig, getCurExternalContact,
    sendChatMessage …), with its arguments and the answer: what a browser test reads back."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    context = models.ForeignKey(SbChatContext, null=True, blank=True, on_delete=models.SET_NULL)
    api = models.CharField(max_length=40)
    args = models.JSONField(default=dict)
    answer = models.JSONField(default=dict)
    url = models.CharField(max_length=1000, blank=True, default="")
    created = models.DateTimeField()


class SbWechatUser(models.Model):
    """A WeChat user as WeChat knows them: their unionid, nickname and avatar. A customer of the
    corp is one whose unionid is the customer's; others (a friend a customer shared a page with)
    are strangers to the corp."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    unionid = models.CharField(max_length=64)
    nickname = models.CharField(max_length=64)
    avatar = models.CharField(max_length=300, blank=True, default="")
    key = models.CharField(max_length=64, unique=True, help_text="the sandbox's WeChat client remembers its user by this cookie")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "unionid"], name="sb_wechat_user_unique")]


class SbWechatCode(models.Model):
    """A code the Official Account's web OAuth handed a page: exchanged once, within 5 minutes,
    by sns/oauth2/access_token."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    code = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(SbWechatUser, on_delete=models.CASCADE)
    scope = models.CharField(max_length=16)
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)


class SbWechatToken(models.Model):
    """A web access_token from a code exchange (not the Official Account's own token): good for
    sns/userinfo when the scope was snsapi_userinfo, 7,200 s."""

    corp = models.ForeignKey(SbCorp, on_delete=models.CASCADE)
    token = models.CharField(max_length=128, unique=True)
    user = models.ForeignKey(SbWechatUser, on_delete=models.CASCADE)
    scope = models.CharField(max_length=16)
    expires_at = models.DateTimeField()
