"""Every API route: no token → 401; another corp's object → 404 and untouched; lists never leak.

Routes come from the OpenAPI document and bodies are built from its schemas, so a route added
later is covered without touching this file — unless it takes a path parameter this file cannot
fill, which fails loudly below.
"""

import pytest
from django.utils import timezone

from siyu.acquisition.models import Acquisition, AddTask, Channel, Lead, LeadForm, LiveCode, LiveCodeMember, PhoneImport
from siyu.acquisition.services import channel_create, live_code_save
from siyu.analytics.models import Segment
from siyu.api import api as ninja_api
from siyu.autotag.models import TagRule
from siyu.corps.models import Corp
from siyu.customers.models import Customer, CustomerFieldValue, CustomField, FollowTag, LifecycleStage
from siyu.engagement.models import CheckinCampaign, CouponTemplate, GroupGame, InterestRule, Lottery, MallItem, MallOrder, MemberLevel, PointsTask
from siyu.groups.models import CustomerGroup, GroupCode, GroupCodeGroup
from siyu.guides.models import GuideAssignment, GuideTask, GuideTaskItem, Handover, QuickReply, QuickReplyGroup
from siyu.journeys.models import BrandDate, GroupSop, Journey
from siyu.kit.tenancy import Role
from siyu.messaging.models import ContentItem, MassSend, MassSendTask, Moment, MomentExecutor, WelcomeMessage, WelcomeSend
from siyu.orders.models import Order
from siyu.orders.services import OrderIn, order_upsert
from siyu.tags.models import Tag, TagGroup

from . import factories as f
from .conftest import ApiClient

pytestmark = pytest.mark.django_db

MARKER = "alpha-only"
SCHEMA = ninja_api.get_openapi_schema()


def _operations():
    for path, methods in SCHEMA["paths"].items():
        for method, op in methods.items():
            yield pytest.param(path, method, op, id=f"{method.upper()} {path}")


def _resolve(schema):
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _mall_order(corp, customer, marker):
    item = MallItem.objects.create(corp=corp, kind="benefit", name=marker[:32], points=1)
    return MallOrder.objects.create(corp=corp, item=item, customer=customer, key=marker[:64], points=1, status="done", created_at=timezone.now())


def _sample(schema):
    """A minimal valid value for a JSON schema: required properties only."""
    schema = _resolve(schema)
    if "anyOf" in schema:
        return _sample(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: _sample(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "string" and schema.get("format") in ("date", "date-time"):
        return {"date": "2026-01-01", "date-time": "2026-01-01T00:00:00+08:00"}[schema["format"]]
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    raise AssertionError(f"no sample for schema {schema}")


def _body(op):
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    return _sample(content["schema"]) if content else None


@pytest.fixture(scope="module")
def two_corps(module_rows):
    with module_rows():
        return _two_corps()


def _two_corps():
    alpha = f.corp(f"Alpha {MARKER}")
    beta = f.corp("Beta")
    a_admin = f.actor(alpha, Role.OWNER)
    s = f.staff(alpha, name=f"Staff {MARKER}")
    group = f.tag_group(a_admin, name=f"G {MARKER}"[:30], tags=[f"T {MARKER}"])
    tag = group.tags.get()
    c = f.customer(alpha, name=f"C {MARKER}", phones=["13900000001"])
    f.follow(c, s, tags=[tag], state=MARKER, remark=MARKER)
    channel = channel_create(actor=a_admin, name=f"Ch {MARKER}", group="store")
    code = live_code_save(actor=a_admin, channel=channel, name=f"LC {MARKER}", mode="exact", members=[{"staff_id": s.id}], welcome={"text": MARKER})
    rule = TagRule.objects.create(corp=alpha, name=f"R {MARKER}", conditions=[{"kind": "staff", "in": [s.id]}])
    rule.add_tags.set([tag])
    chat = CustomerGroup.objects.create(corp=alpha, chat_id=f"wr{MARKER}", name=f"Chat {MARKER}")
    group_code = GroupCode.objects.create(corp=alpha, name=f"GC {MARKER}", state="gcalpha")
    GroupCodeGroup.objects.create(corp=alpha, group_code=group_code, group=chat)
    lead_form = LeadForm.objects.create(
        corp=alpha, name=f"LF {MARKER}", slug="alphaform", live_code=code, fields=[{"key": "phone", "type": "phone", "label": MARKER, "required": True}]
    )
    Lead.objects.create(corp=alpha, form=lead_form, phone="13900000002", answers={"phone": "13900000002", "note": MARKER}, state="ldalpha")
    batch = PhoneImport.objects.create(corp=alpha, name=f"PI {MARKER}", work_start="09:00", work_end="18:00", first_day="2026-12-01", rows=1)
    AddTask.objects.create(corp=alpha, batch=batch, phone="13900000003", name=MARKER, staff=s, due_day="2026-12-01", due_at="2026-12-01T02:00:00Z")
    order = order_upsert(
        corp=alpha, data=OrderIn(order_no=f"O-{MARKER}", paid_at=timezone.now(), amount_fen=100, external_userid=c.external_userid, store=MARKER)
    ).order
    segment = Segment.objects.create(corp=alpha, name=f"S {MARKER}", filters={"state": MARKER})
    send = MassSend.objects.create(corp=alpha, name=f"MS {MARKER}", text=MARKER, audience={"kind": "filters", "filters": {}}, send_at=timezone.now())
    MassSendTask.objects.create(corp=alpha, send=send, staff=s, recipients=1)
    moment = Moment.objects.create(corp=alpha, text=MARKER, status="created")
    MomentExecutor.objects.create(corp=alpha, moment=moment, staff=s)
    guide_task = _guide_task(alpha, s, c, MARKER)
    moved = Handover.objects.create(corp=alpha, handover_staff=s, takeover_staff=s, resigned=False, customers=1, message=MARKER[:200])
    shelf = QuickReplyGroup.objects.create(corp=alpha, name=f"QG {MARKER}"[:32])
    reply = QuickReply.objects.create(corp=alpha, group=shelf, title=f"QR {MARKER}"[:64], text=MARKER)
    field = CustomField.objects.create(corp=alpha, key="marker", name=f"F {MARKER}"[:40], kind="text")
    CustomerFieldValue.objects.create(corp=alpha, customer=c, field=field, text=MARKER)
    birth = CustomField.objects.create(corp=alpha, key="birth", name="B", kind="date")
    stage = LifecycleStage.objects.create(corp=alpha, name=f"ST {MARKER}"[:40], field=birth, from_days=0, to_days=10)
    journey = Journey.objects.create(corp=alpha, name=f"J {MARKER}"[:64], definition={"trigger": {}, "steps": [], "marker": MARKER})
    item = ContentItem.objects.create(corp=alpha, kind="article", title=f"C {MARKER}"[:64], body=MARKER, tags=[MARKER[:16]])
    interest = InterestRule.objects.create(corp=alpha, content_tag=MARKER[:16], reads=2, tag=tag)
    beta_owner = f.user(beta, role=Role.OWNER)
    objects = {
        "item_id": item.id,
        "lottery_id": Lottery.objects.create(corp=alpha, name="转盘", starts_at=timezone.now(), ends_at=timezone.now()).id,
        "mall_order_id": _mall_order(alpha, c, MARKER).id,
        "campaign_id": CheckinCampaign.objects.create(corp=alpha, name=MARKER[:32], starts_on=timezone.now().date()).id,
        "template_id": CouponTemplate.objects.create(corp=alpha, name=MARKER[:32], kind="no_threshold", amount_fen=100, valid_days=3).id,
        "interest_rule_id": interest.id,
        "points_task_id": PointsTask.objects.create(corp=alpha, name="读文章", kind="read", points=5, starts_at=timezone.now()).id,
        "game_id": GroupGame.objects.create(
            corp=alpha, kind="dice", name="骰子", target=3, prize_points=1, starts_at=timezone.now(), ends_at=timezone.now()
        ).id,
        "level_id": MemberLevel.objects.create(corp=alpha, name=MARKER[:20], rank=1).id,
        "journey_id": journey.id,
        "customer_group_id": chat.id,
        "sop_id": GroupSop.objects.create(corp=alpha, name=f"SOP {MARKER}"[:64], layer={}, slots=[]).id,
        "brand_date_id": BrandDate.objects.create(corp=alpha, name=f"BD {MARKER}"[:40], month=5, day=20).id,
        "customer_id": c.id,
        "group_id": group.id,
        "tag_id": tag.id,
        "channel_id": channel.id,
        "live_code_id": code.id,
        "staff_id": s.id,
        "day": "2026-11-25",
        "rule_id": rule.id,
        "group_code_id": group_code.id,
        "lead_form_id": lead_form.id,
        "phone_import_id": batch.id,
        "order_id": order.id,
        "segment_id": segment.id,
        "send_id": send.id,
        "moment_id": moment.id,
        "guide_task_id": guide_task.id,
        "quick_reply_id": reply.id,
        "quick_reply_group_id": shelf.id,
        "handover_id": moved.id,
        "field_id": field.id,
        "stage_id": stage.id,
    }
    return objects, ApiClient(f.token(beta_owner, beta))


def _guide_task(corp, staff, customer, name: str) -> GuideTask:
    """An active guide task with the staff member's share: the customer, still open."""
    now = timezone.now()
    task = GuideTask.objects.create(
        corp=corp,
        name=f"GT {name}"[:64],
        kind="send",
        text=name,
        audience={"kind": "filters", "filters": {}},
        starts_at=now,
        notify_at=now,
        ends_at=now + timezone.timedelta(days=1),
        status="active",
    )
    share = GuideAssignment.objects.create(corp=corp, task=task, staff=staff, items_total=1)
    GuideTaskItem.objects.create(corp=corp, task=task, assignment=share, staff=staff, customer=customer)
    return task


def _fill(path, objects):
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    unknown = [p for p in params if p not in objects]
    assert not unknown, f"{path}: add an object of corp Alpha for path parameter(s) {unknown} to two_corps"
    for p in params:
        path = path.replace("{" + p + "}", str(objects[p]))
    return path, bool(params)


def _alpha_snapshot():
    return (
        list(Customer.objects.values_list("id", "name")),
        list(TagGroup.objects.values_list("id", "name", "deleted_at")),
        list(Tag.objects.values_list("id", "name", "deleted_at")),
        list(FollowTag.objects.values_list("follow_id", "tag_id")),
        list(Channel.objects.values_list("id", "name", "group")),
        list(LiveCode.objects.values_list("id", "name", "status", "state")),
        list(LiveCodeMember.objects.values_list("id", "staff_id", "weight")),
        list(WelcomeMessage.objects.values_list("id", "text")),
        list(TagRule.objects.values_list("id", "name", "enabled", "backfill_status")),
        list(GroupCode.objects.values_list("id", "name", "status", "member_limit")),
        list(GroupCodeGroup.objects.values_list("id", "group_id")),
        list(LeadForm.objects.values_list("id", "name", "status")),
        list(AddTask.objects.values_list("id", "phone", "status", "staff_id")),
        list(Order.objects.values_list("id", "order_no", "amount_fen", "refunded_fen", "customer_id")),
        list(Segment.objects.values_list("id", "name", "filters")),
        list(MassSend.objects.values_list("id", "name", "status")),
        list(Moment.objects.values_list("id", "text", "status")),
        list(GuideTask.objects.values_list("id", "name", "status", "urged_at")),
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


@pytest.mark.parametrize("path,method,op", list(_operations()))
def test_route_needs_a_token(path, method, op, two_corps):
    objects, _ = two_corps
    url, _ = _fill(path, objects)
    for client in (ApiClient(None), ApiClient("siyu_not-a-real-token")):
        response = client.call(method, url, _body(op))
        assert response.status_code == 401, response.content
        assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path,method,op", list(_operations()))
def test_route_hides_other_corps(path, method, op, two_corps):
    objects, beta = two_corps
    url, has_object = _fill(path, objects)
    before = _alpha_snapshot()
    response = beta.call(method, url, _body(op))
    if has_object:
        assert response.status_code == 404, (url, response.content)
        assert response.json() == {"error": {"code": "not_found", "message": response.json()["error"]["message"], "field": None}}
    else:
        assert response.status_code < 500
        assert MARKER not in response.content.decode(), f"{method.upper()} {url} leaked corp Alpha's data"
    # Beta may create rows of its own; every row of Alpha's must be exactly as it was.
    after = _alpha_snapshot()
    for rows_before, rows_after in zip(before, after, strict=True):
        assert [r for r in rows_after if r in rows_before or r[0] in {b[0] for b in rows_before}] == rows_before


def test_every_path_parameter_is_an_object_id():
    # Guards the walk above: a route must be covered, not silently skipped.
    params = {p.strip("{}") for path in SCHEMA["paths"] for p in path.split("/") if p.startswith("{")}
    assert params <= {
        "customer_id",
        "group_id",
        "tag_id",
        "channel_id",
        "live_code_id",
        "staff_id",
        "day",
        "rule_id",
        "group_code_id",
        "lead_form_id",
        "phone_import_id",
        "order_id",
        "segment_id",
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
        "customer_group_id",
        "sop_id",
        "brand_date_id",
    }, params
    assert len(SCHEMA["paths"]) >= 8


BODY_OPERATIONS = [
    pytest.param(path, method, op, id=f"{method.upper()} {path}")
    for path, methods in SCHEMA["paths"].items()
    for method, op in methods.items()
    if "application/json" in op.get("requestBody", {}).get("content", {})
]


@pytest.mark.parametrize("path,method,op", BODY_OPERATIONS)
@pytest.mark.parametrize("body", ["[1, 2]", "null", '"x"', "3", "true"])
def test_a_body_that_is_not_an_object_is_refused_and_changes_nothing(path, method, op, body, two_corps):
    objects, _ = two_corps
    url, _ = _fill(path, objects)
    alpha_owner = f.user(Corp.objects.get(name=f"Alpha {MARKER}"), role=Role.OWNER)
    client = ApiClient(f.token(alpha_owner, alpha_owner.memberships.get().corp))
    before = _alpha_snapshot()
    response = client.call(method, url, body)
    assert response.status_code == 422, (method, url, body, response.content)
    assert response.json()["error"]["code"] == "body_not_object"
    assert _alpha_snapshot() == before


def test_body_routes_are_found():
    assert len(BODY_OPERATIONS) >= 20


OTHER = "other-guide-only"
LIST_OPERATIONS = [
    pytest.param(path, id=f"GET {path}") for path, methods in SCHEMA["paths"].items() if "get" in methods and "{" not in path and not path.endswith(".xlsx")
]


@pytest.fixture
def guide_and_colleague(two_corps):
    """Alpha's guide (staff of MARKER's customer) and a colleague whose rows carry OTHER."""
    objects, _ = two_corps
    alpha = Corp.objects.get(name=f"Alpha {MARKER}")
    own_staff = LiveCodeMember.objects.get(live_code_id=objects["live_code_id"]).staff
    colleague = f.staff(alpha, name="Colleague")
    theirs = f.customer(alpha, name=f"C {OTHER}", phones=["13900000099"], external_userid=f"wm{OTHER}")
    follow = f.follow(theirs, colleague, state="lcother", remark=OTHER)
    Acquisition.objects.create(
        corp=alpha, follow=follow, customer=theirs, staff=colleague, state=OTHER[:30], added_at=timezone.now(), day=timezone.now().date()
    )
    order_upsert(corp=alpha, data=OrderIn(order_no=f"O-{OTHER}", paid_at=timezone.now(), amount_fen=100, external_userid=theirs.external_userid, store=OTHER))
    now = timezone.now()
    WelcomeSend.objects.create(corp=alpha, welcome_code=OTHER, userid=colleague.userid, external_userid=theirs.external_userid, received_at=now, deadline=now)
    lead_form = LeadForm.objects.get(pk=objects["lead_form_id"])
    Lead.objects.create(corp=alpha, form=lead_form, phone="13900000098", answers={"note": OTHER}, state="ldother", staff=colleague)
    batch = PhoneImport.objects.get(pk=objects["phone_import_id"])
    AddTask.objects.create(corp=alpha, batch=batch, phone="13900000097", name=OTHER, staff=colleague, due_day="2026-12-01", due_at="2026-12-01T02:00:00Z")
    CustomerGroup.objects.create(corp=alpha, chat_id=f"wr{OTHER}", name=f"Chat {OTHER}", owner=colleague)
    theirs_send = MassSend.objects.create(corp=alpha, name=f"MS {OTHER}", text=OTHER, audience={"kind": "filters", "filters": {}}, send_at=now)
    MassSendTask.objects.create(corp=alpha, send=theirs_send, staff=colleague, recipients=1)
    theirs_moment = Moment.objects.create(corp=alpha, text=OTHER, status="created")
    MomentExecutor.objects.create(corp=alpha, moment=theirs_moment, staff=colleague)
    _guide_task(alpha, colleague, theirs, OTHER)
    guide = f.user(alpha, role=Role.GUIDE, staff=own_staff)
    return ApiClient(f.token(guide, alpha))


@pytest.mark.parametrize("path", LIST_OPERATIONS)
def test_a_guide_lists_only_their_own_rows(path, guide_and_colleague):
    response = guide_and_colleague.get("/api" + path if path.startswith("/v1") else path)
    assert response.status_code in (200, 403, 422), (path, response.content)
    assert OTHER not in response.content.decode(), f"GET {path} shows a guide a colleague's rows"
