"""Every console URL, walked as the API scoping test walks every route: anonymous → the login page;
another corp's object → 404 and untouched; a guide on a manager page → refused; a guide's pages
show only their own customers.

URLs come from the console's URL configuration, so a page added later is walked without a test
of its own — unless it takes a URL parameter this file cannot fill (fails loudly below), or it is a
page guides may open, which must then be named in GUIDE_PAGES (and so show a guide only their own).
"""

import io

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from openpyxl import load_workbook

from siyu.acquisition.models import AddTask, Channel, LeadForm, LiveCode, PhoneImport
from siyu.acquisition.services import channel_create, live_code_save
from siyu.analytics.models import Segment
from siyu.autotag.models import TagRule
from siyu.console import urls as console_urls
from siyu.corps.models import ApiToken, Membership
from siyu.corps.services import api_token_create
from siyu.customers.models import Customer, CustomerFieldValue, CustomField, Follow, LifecycleStage
from siyu.engagement.models import CheckinCampaign, CouponTemplate, GroupGame, InterestRule, Lottery, MallItem, MallOrder, MemberLevel, PointsTask
from siyu.groups.models import CustomerGroup, GroupCode, GroupCodeGroup
from siyu.guides.models import GuideAssignment, GuideTask, GuideTaskItem, Handover, QuickReply, QuickReplyGroup
from siyu.journeys.models import BrandDate, GroupSop, Journey
from siyu.kit.tenancy import Role
from siyu.messaging.models import ContentItem, MassSend, MassSendTask, Moment, MomentExecutor
from siyu.orders.models import OrderImport
from siyu.orders.services import OrderIn, order_upsert
from siyu.tags.models import Tag, TagGroup
from siyu.wecom.models import CallbackEvent

from .. import factories as f

pytestmark = pytest.mark.django_db
MINE, THEIRS = "本导购客户甲", "别的导购客户乙"
# Pages a guide works in. Every other page is a manager's (or an admin's) and must refuse a guide.
GUIDE_PAGES = {
    "dashboard",
    "switch_corp",
    "customers",
    "customer",
    "orders",  # their customers' orders
    "welcomes",  # the welcomes of their own adds
    "customer_tags",
    "customer_fields",  # their own customers only
    "customer_bulk_tags",  # their own follows only
    "tags",
    "logout",
    "phone_imports",
    "phone_import_report",  # an import with tasks of theirs
    "lead_forms",
    "acquisition_stats",
    "acquisition_stats_xlsx",  # their own add tasks, leads and adds
    "tokens",  # their own API tokens
    "token_revoke",  # their own only: another's is not found
    "add_task_mark",  # their own add-friend tasks
    "mass_sends",  # the sends that gave them a task
    "mass_send",  # their own task in it
    "moments",  # the moments they were asked to publish
    "moment",  # their own row in it
    "my_tasks",  # their own shares of guide tasks
    "my_task",  # one of them: another guide's is not found
    "my_task_done",
    "quick_replies",  # the library, to read (editing it is a manager's)
    "my_rank",  # their own figures and place, nobody else's
    "library",  # the content library, to read and send from (editing it is a manager's)
    "library_item",  # its reading figures from their own links and customers
}
# The page the walk expects to be sent to, the invitation page an invited person opens before they
# can log in (tests/console/test_team.py), and signing in through WeCom from an app card
# (tests/guides/test_guide_tasks.py).
NOT_WALKED = {"login", "invitation", "wecom_signin", "wecom_signin_back"}


def _patterns(patterns=console_urls.urlpatterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and p.name not in NOT_WALKED:
            yield p


PATTERNS = list(_patterns())


@pytest.fixture(scope="module")
def alpha(module_rows):
    with module_rows():
        return _alpha()


def _alpha():
    corp = f.corp("甲企业")
    admin = f.actor(corp, Role.OWNER)
    own_staff, other_staff = f.staff(corp, name="导购一"), f.staff(corp, name="导购二")
    group = f.tag_group(admin, name="来源", tags=["门店"])
    tag = group.tags.get()
    mine = f.customer(corp, name=MINE, phones=["13900000011"])
    theirs = f.customer(corp, name=THEIRS, phones=["13900000012"])
    f.follow(mine, own_staff, tags=[tag])
    f.follow(theirs, other_staff, tags=[tag])
    channel = channel_create(actor=admin, name="门店", group="store")
    code = live_code_save(actor=admin, channel=channel, name="门店码", mode="exact", members=[{"staff_id": own_staff.id}, {"staff_id": other_staff.id}])
    rule = TagRule.objects.create(corp=corp, name="规则", conditions=[{"kind": "staff", "in": [other_staff.id]}])
    rule.add_tags.set([tag])
    chat = CustomerGroup.objects.create(corp=corp, chat_id="wralpha", name="甲群")
    group_code = GroupCode.objects.create(corp=corp, name="群码", state="gcalpha")
    GroupCodeGroup.objects.create(corp=corp, group_code=group_code, group=chat)
    for c in (mine, theirs):
        # In a transaction as every caller has one (the browser walk runs this in autocommit).
        with transaction.atomic():
            order_upsert(corp=corp, data=OrderIn(order_no=f"O-{c.id}", paid_at=timezone.now(), amount_fen=100, external_userid=c.external_userid))
    segment = Segment.objects.create(corp=corp, name="全部", filters={})
    order_import = OrderImport.objects.create(
        corp=corp,
        file_name="甲.csv",
        source="pos",
        status="rejected",
        error_count=1,
        errors=[{"row": 2, "column": "amount", "header": "金额", "code": "bad_amount", "message": "x"}],
    )
    lead_form = LeadForm.objects.create(
        corp=corp, name="表单", slug="alphaform", live_code=code, fields=[{"key": "phone", "type": "phone", "label": "手机号", "required": True}]
    )
    event = CallbackEvent.objects.create(corp=corp, dedupe_key="k", event="change_external_contact", payload={}, status="failed", last_error="x")
    guide = f.user(corp, role=Role.GUIDE, staff=own_staff)
    batch = PhoneImport.objects.create(corp=corp, name="拓客", file_name="p.csv", work_start="09:00", work_end="18:00", first_day=timezone.now().date())
    # The guide's own list (walked at phone width) and a colleague's task they must not reach.
    AddTask.objects.create(corp=corp, batch=batch, phone="13900000014", name="待加会员", staff=own_staff, due_day=timezone.now().date(), due_at=timezone.now())
    other_task = AddTask.objects.create(corp=corp, batch=batch, phone="13900000013", staff=other_staff, due_day=timezone.now().date(), due_at=timezone.now())
    send = MassSend.objects.create(corp=corp, name="群发", text="你好", audience={"kind": "filters", "filters": {}}, send_at=timezone.now())
    moment = Moment.objects.create(corp=corp, text="朋友圈", status="created")
    for staff in (own_staff, other_staff):  # the guide's own task (their page) and a colleague's
        MassSendTask.objects.create(corp=corp, send=send, staff=staff, recipients=1)
        MomentExecutor.objects.create(corp=corp, moment=moment, staff=staff)
    # A guide task only the colleague has a share in: not found for this guide.
    guide_task = GuideTask.objects.create(
        corp=corp,
        name="回访",
        kind="revisit",
        audience={"kind": "filters", "filters": {}},
        starts_at=timezone.now(),
        notify_at=timezone.now(),
        ends_at=timezone.now() + timezone.timedelta(days=1),
        status="active",
    )
    share = GuideAssignment.objects.create(corp=corp, task=guide_task, staff=other_staff, items_total=1)
    GuideTaskItem.objects.create(corp=corp, task=guide_task, assignment=share, staff=other_staff, customer=theirs)
    # … and one of the guide's own (the browser walk opens it at phone width).
    own_task = GuideTask.objects.create(
        corp=corp,
        name="回访本店",
        kind="revisit",
        audience={"kind": "filters", "filters": {}},
        starts_at=timezone.now(),
        notify_at=timezone.now(),
        ends_at=timezone.now() + timezone.timedelta(days=1),
        status="active",
    )
    own_share = GuideAssignment.objects.create(corp=corp, task=own_task, staff=own_staff, items_total=1)
    GuideTaskItem.objects.create(corp=corp, task=own_task, assignment=own_share, staff=own_staff, customer=mine)
    moved = Handover.objects.create(corp=corp, handover_staff=other_staff, takeover_staff=own_staff, resigned=False, customers=1)
    shelf = QuickReplyGroup.objects.create(corp=corp, name="话术")
    reply = QuickReply.objects.create(corp=corp, group=shelf, title="欢迎", text="您好")
    field = CustomField.objects.create(corp=corp, key="city", name="城市", kind="text")
    birth = CustomField.objects.create(corp=corp, key="birth", name="生日", kind="date")
    stage = LifecycleStage.objects.create(corp=corp, name="0-6月", field=birth, from_days=0, to_days=180)
    journey = Journey.objects.create(
        corp=corp,
        name="新客旅程",
        definition={"trigger": {"kind": "event", "event": "tag_added", "tag_ids": [tag.id]}, "steps": [{"key": "w", "kind": "wait", "days": 1}]},
    )
    calendar = GroupSop.objects.create(
        corp=corp,
        name="宝妈群周历",
        layer={"name_contains": "宝妈"},
        slots=[{"key": "s1", "weekday": 1, "at": "10:00", "title": "趣味", "text": "猜猜", "attachments": [], "hours": 4}],
    )
    item = ContentItem.objects.create(corp=corp, kind="article", title="辅食指南", body="<p>米粉</p>", tags=["辅食"])
    interest = InterestRule.objects.create(corp=corp, content_tag="辅食", reads=3, tag=tag)
    campaign = CheckinCampaign.objects.create(corp=corp, name="打卡", starts_on=timezone.now().date(), stages=[{"days": 3, "points": 10}])
    template = CouponTemplate.objects.create(corp=corp, name="满减券", kind="no_threshold", amount_fen=500, valid_days=7)
    owner = f.user(corp, role=Role.OWNER)
    owner_membership = Membership.objects.get(user=owner, corp=corp)
    token, _raw = api_token_create(membership=owner_membership, name="甲的令牌")
    objects = {
        "membership_id": Membership.objects.get(user=guide, corp=corp).id,
        "token_id": token.id,
        "task_id": other_task.id,
        "send_id": send.id,
        "moment_id": moment.id,  # another guide's task: not found for this guide
        "item_id": item.id,
        "lottery_id": Lottery.objects.create(corp=corp, name="转盘", starts_at=timezone.now(), ends_at=timezone.now()).id,
        "mall_order_id": MallOrder.objects.create(
            corp=corp,
            item=MallItem.objects.create(corp=corp, kind="benefit", name="特权", points=1),
            customer=theirs,
            key="k",
            points=1,
            status="placed",
            created_at=timezone.now(),
        ).id,
        "campaign_id": campaign.id,
        "template_id": template.id,
        "interest_rule_id": interest.id,
        "points_task_id": PointsTask.objects.create(corp=corp, name="读文章", kind="read", points=5, starts_at=timezone.now()).id,
        "game_id": GroupGame.objects.create(corp=corp, kind="dice", name="骰子", target=3, prize_points=1, starts_at=timezone.now(), ends_at=timezone.now()).id,
        "level_id": MemberLevel.objects.create(corp=corp, name="银卡", rank=1).id,
        "guide_task_id": guide_task.id,
        "quick_reply_id": reply.id,
        "quick_reply_group_id": shelf.id,
        "handover_id": moved.id,
        "field_id": field.id,
        "stage_id": stage.id,
        "customer_id": theirs.id,  # a guide must not reach another guide's customer
        "group_id": group.id,
        "tag_id": tag.id,
        "rule_id": rule.id,
        "channel_id": channel.id,
        "live_code_id": code.id,
        "group_code_id": group_code.id,
        "segment_id": segment.id,
        "event_id": event.id,
        "form_id": lead_form.id,
        "import_id": order_import.id,
        "phone_import_id": batch.id,
        "letter": "A",
        "journey_id": journey.id,
        "sop_id": calendar.id,
        "brand_date_id": BrandDate.objects.create(corp=corp, name="会员日", month=5, day=20).id,
        "key": "w",
        "action": "pause",
    }
    return {"corp": corp, "objects": objects, "guide": guide, "mine": mine, "own_guide_task": own_task}


def _url(pattern, objects) -> tuple[str, bool]:
    params = list(pattern.pattern.converters)
    unknown = [p for p in params if p not in objects]
    assert not unknown, f"{pattern.name}: add an object for URL parameter(s) {unknown} to the alpha fixture"
    kwargs = {p: objects[p] for p in params}
    return reverse(f"console:{pattern.name}", kwargs=kwargs), any(p not in ("letter", "key", "action") for p in params)


def _call(client: Client, url: str):
    """GET the page; a POST-only view (405 to a GET) is POSTed instead, empty."""
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


def _snapshot():
    return (
        list(Customer.objects.values_list("id", "name")),
        list(Follow.objects.values_list("id", "staff_id", "deleted_by_staff_at")),
        list(TagGroup.objects.values_list("id", "name", "deleted_at")),
        list(Tag.objects.values_list("id", "name", "deleted_at")),
        list(Channel.objects.values_list("id", "name")),
        list(LiveCode.objects.values_list("id", "name", "status")),
        list(TagRule.objects.values_list("id", "name", "enabled", "backfill_status")),
        list(GroupCode.objects.values_list("id", "name", "status")),
        list(LeadForm.objects.values_list("id", "name", "title", "fields")),
        list(PhoneImport.objects.values_list("id", "name")),
        list(Segment.objects.values_list("id", "name", "filters")),
        list(CallbackEvent.objects.values_list("id", "status")),
        list(Membership.objects.values_list("id", "role", "staff_id")),
        list(ApiToken.objects.values_list("id", "revoked_at")),
        list(AddTask.objects.values_list("id", "status")),
        list(MassSend.objects.values_list("id", "status")),
        list(Moment.objects.values_list("id", "status")),
        list(GuideTask.objects.values_list("id", "status", "urged_at")),
        list(GuideTaskItem.objects.values_list("id", "status")),
        list(QuickReply.objects.values_list("id", "title", "text", "group_id")),
        list(QuickReplyGroup.objects.values_list("id", "name")),
        list(Handover.objects.values_list("id", "status", "customers")),
        list(CustomField.objects.values_list("id", "name", "choices", "archived_at")),
        list(CustomerFieldValue.objects.values_list("id", "text", "number", "date")),
        list(LifecycleStage.objects.values_list("id", "name", "from_days", "to_days")),
        list(Journey.objects.values_list("id", "name", "status", "definition")),
        list(GroupSop.objects.values_list("id", "name", "status", "slots")),
        list(BrandDate.objects.values_list("id", "name")),
    )


def _text(response) -> str:
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        sheets = load_workbook(io.BytesIO(response.content), read_only=True)
        return "\n".join(str(v) for ws in sheets for row in ws.iter_rows(values_only=True) for v in row if v is not None)
    if response.get("Content-Type", "").startswith("text/"):
        return response.content.decode()
    return ""


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.name for p in PATTERNS])
def test_anonymous_is_sent_to_log_in(pattern, alpha):
    url, _ = _url(pattern, alpha["objects"])
    before = _snapshot()
    response = _call(Client(), url)
    if pattern.name == "logout":
        assert response.status_code in (200, 302)
        return
    assert response.status_code == 302 and response["Location"].startswith(reverse("console:login")), (url, response.status_code)
    assert _snapshot() == before


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.name for p in PATTERNS])
def test_another_corps_objects_are_not_found(pattern, alpha):
    url, has_object = _url(pattern, alpha["objects"])
    if pattern.name == "logout":
        return
    beta = f.corp("乙企业")
    client = Client()
    client.force_login(f.user(beta, role=Role.OWNER))
    before = _snapshot()
    response = _call(client, url)
    if has_object:
        assert response.status_code == 404, (url, response.status_code)
    else:
        assert response.status_code < 500, url
        assert MINE not in _text(response) and THEIRS not in _text(response), f"{url} shows corp Alpha's customers to corp Beta"
    after = _snapshot()
    # Beta may add rows of its own; Alpha's rows are exactly as they were.
    for rows_before, rows_after in zip(before, after, strict=True):
        assert [r for r in rows_after if r[0] in {b[0] for b in rows_before}] == rows_before, url


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.name for p in PATTERNS])
def test_a_guide_is_refused_manager_pages_and_sees_only_their_own_customers(pattern, alpha):
    url, _ = _url(pattern, alpha["objects"])
    if pattern.name == "logout":
        return
    client = Client()
    client.force_login(alpha["guide"])
    before = _snapshot()
    response = _call(client, url)
    if pattern.name not in GUIDE_PAGES:
        assert response.status_code == 403, f"{url} ({pattern.name}) is a manager's page: a guide gets {response.status_code}"
        assert _snapshot() == before, url
        return
    assert response.status_code in (200, 302, 400, 403, 404), (url, response.status_code)
    assert THEIRS not in _text(response), f"{url} shows a guide another guide's customer"


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if p.name != "logout"], ids=[p.name for p in PATTERNS if p.name != "logout"])
def test_text_with_a_nul_character_is_refused_on_every_page(pattern, alpha):
    """Form or not, GET or POST: a NUL in any field is a 400 naming the field, and nothing changes
    (PostgreSQL cannot store it; on SQLite it would be stored and break exports)."""
    url, _ = _url(pattern, alpha["objects"])
    client = Client()
    client.force_login(f.user(alpha["corp"], role=Role.OWNER))
    before = _snapshot()
    for response in (client.get(url, {"q": "a\x00b"}), client.post(url, {"name": "a\x00b"})):
        if response.status_code == 405:
            continue
        assert response.status_code == 400, (url, response.status_code)
        assert "NUL" in response.content.decode(), url
    assert _snapshot() == before, url


def test_a_guides_own_pages_show_their_customers(alpha):
    client = Client()
    client.force_login(alpha["guide"])
    assert MINE in client.get(reverse("console:customers")).content.decode()
    assert MINE in client.get(reverse("console:customer", kwargs={"customer_id": alpha["mine"].id})).content.decode()


def test_every_url_parameter_is_filled():
    # Guards the walks above: a page must be walked, not silently skipped.
    params = {p for pattern in PATTERNS for p in pattern.pattern.converters}
    assert params <= {
        "customer_id",
        "group_id",
        "tag_id",
        "rule_id",
        "channel_id",
        "live_code_id",
        "group_code_id",
        "segment_id",
        "event_id",
        "form_id",
        "import_id",
        "phone_import_id",
        "letter",
        "membership_id",
        "token_id",
        "task_id",
        "send_id",
        "moment_id",
        "item_id",
        "interest_rule_id",
        "level_id",
        "game_id",
        "points_task_id",
        "mall_order_id",
        "lottery_id",
        "campaign_id",
        "template_id",
        "guide_task_id",
        "quick_reply_id",
        "quick_reply_group_id",
        "handover_id",
        "field_id",
        "stage_id",
        "journey_id",
        "sop_id",
        "brand_date_id",
        "key",
        "action",
    }
    assert len(PATTERNS) >= 45
