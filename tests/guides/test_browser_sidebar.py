"""In a real browser at phone width: a guide opens a customer's chat in WeCom (the sandbox's client),
taps the sidebar, is signed in by WeCom's OAuth2, the page is configured with wx.agentConfig and
finds the chat's customer; the guide sees the profile and the open task, taps the content, the
JS-SDK stand-in records sendChatMessage with it (the text, then the image by a media id WeCom
issued), the customer counts as done; the guide searches the quick replies, taps one, it is recorded;
and HQ's completion page shows the task done."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from siyu.corps.services import staff_upsert
from siyu.customers.fields import custom_field_save
from siyu.customers.models import CustomerFieldValue
from siyu.guides import quick_replies, services
from siyu.guides.models import GuideContact, GuideTaskItem, QuickReply
from siyu.kit.clock import now
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.media import media_create
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbJsInvoke, SbMedia

from .. import factories as f
from ..console.test_browser import ARTIFACTS, browser_page  # noqa: F401 — the fixture
from ..messaging.test_messaging import png
from ..wecom.conftest import Hub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
CONTENT = "宝宝6个月啦，辅食从高铁米粉开始，每天一次，观察三天再加新食材。"
REPLY = "奶粉用70度以下的温水冲调，先放水后放粉。"


@pytest.fixture
def store(live_server):
    hub = Hub(live_server, corpid="wwsidebar01")
    hub.corp.agent_id = 1000002
    hub.corp.save()
    staff = {s.userid: staff_upsert(corp=hub.corp, userid=s.userid, name=n) for s, n in zip(hub.staff, ("王导购", "李导购"), strict=True)}
    for i, userid in enumerate(("guide0", "guide0", "guide1")):
        sb_staff = next(s for s in hub.staff if s.userid == userid)
        sandbox.customer_add(corp=hub.sb, staff=sb_staff, external_userid=f"wmSB{i}", name=f"妈妈{i}")
        f.follow(f.customer(hub.corp, f"妈妈{i}", external_userid=f"wmSB{i}"), staff[userid], added_at=now() - timedelta(days=2))
    operator = f.user(hub.corp, Role.OPERATOR, username="zongbu")
    hq = Actor(user=operator, corp=hub.corp, role=Role.OPERATOR)
    chart = media_create(actor=hq, kind="image", name="辅食添加表.png", content=png(5))
    shelf = quick_replies.quick_reply_group_save(actor=hq, name="喂养知识")
    quick_replies.quick_reply_save(actor=hq, group_id=shelf.id, title="奶粉冲调", text=REPLY)
    quick_replies.quick_reply_save(actor=hq, group_id=shelf.id, title="夜醒怎么办", text="睡前两小时别喂太饱。")
    custom_field_save(actor=hq, name="宝宝生日", key="baby_birth_date", kind="date")
    task = services.guide_task_create(
        actor=hq,
        name="6个月辅食提醒",
        kind="send",
        audience={"kind": "filters", "filters": {}},
        text=CONTENT,
        attachments=[{"msgtype": "image", "image": {"media": chart.id}}],
        instructions="发给宝宝满6个月的妈妈",
        ends_at=now() + timedelta(days=2),
    )
    services.guide_task_assign(task.pk)
    return hub, task


def test_a_guide_sends_a_tasks_content_from_the_sidebar_and_hq_sees_it_done(live_server, store, browser_page):
    hub, task = store
    page = browser_page
    page.set_viewport_size(PHONE)
    sidebar = f"/sidebar/{hub.corp.corp_id}/"
    page.goto(f"{live_server.url}/sandbox/chat/{hub.sb.corpid}/?userid=guide0&external_userid=wmSB0&url={sidebar}")
    expect(page.locator("#customer-name")).to_have_text("妈妈0", timeout=15_000)
    card = page.locator("#open-tasks [data-task='6个月辅食提醒']")
    expect(card).to_contain_text(CONTENT)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "sidebar-before-send.png"), full_page=True)
    # WeCom refuses the image's upload once: the guide is told, nothing goes into the chat, the
    # customer stays open; the next tap goes through.
    sandbox.fault_inject(corp=hub.sb, api="media/upload", errcode=40005)
    card.locator("[data-send]").click()
    expect(page.locator("#status [role=alert]")).to_contain_text("企业微信未接收文件")
    assert not SbJsInvoke.objects.filter(corp=hub.sb, api="sendChatMessage").exists()
    assert GuideTaskItem.objects.get(task=task, customer__external_userid="wmSB0").status == "open"
    card.locator("[data-send]").click()
    expect(card.locator("[data-send]")).to_have_text("已发送")
    page.screenshot(path=str(ARTIFACTS / "sidebar-sent.png"), full_page=True)

    # The client was asked to put exactly the task's content into this chat, after agentConfig:
    # the text, then the image by the media id WeCom gave its upload.
    calls = list(SbJsInvoke.objects.filter(corp=hub.sb).order_by("id").values_list("api", flat=True))
    assert calls.index("agentConfig") < calls.index("getCurExternalContact") < calls.index("sendChatMessage")
    text, image = SbJsInvoke.objects.filter(corp=hub.sb, api="sendChatMessage").order_by("id")
    assert text.args["text"]["content"] == CONTENT and text.answer == {"err_msg": "sendChatMessage:ok"} and text.context.external_userid == "wmSB0"
    assert image.args["msgtype"] == "image" and image.answer == {"err_msg": "sendChatMessage:ok"}
    assert SbMedia.objects.filter(corp=hub.sb, media_id=image.args["image"]["mediaid"], type="image").exists()
    item = GuideTaskItem.objects.get(task=task, customer__external_userid="wmSB0")
    assert (item.status, item.how) == ("done", "sent")

    # A quick reply: searched, tapped, in the chat, recorded.
    page.fill("#reply-search input[name=q]", "温水")
    page.press("#reply-search input[name=q]", "Enter")
    found = page.locator("#reply-list [data-reply-title='奶粉冲调']")
    expect(found).to_contain_text(REPLY)
    expect(page.locator("#reply-list [data-reply-title='夜醒怎么办']")).to_have_count(0)
    found.locator("[data-reply]").click()
    expect(found.locator("[data-reply]")).to_have_text("已发送")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "sidebar-quick-reply.png"), full_page=True)
    last = SbJsInvoke.objects.filter(corp=hub.sb, api="sendChatMessage").latest("id")
    assert last.args["text"]["content"] == REPLY and last.answer == {"err_msg": "sendChatMessage:ok"}
    assert QuickReply.objects.get(title="奶粉冲调").sent_count == 1
    assert list(GuideContact.objects.values_list("customer__external_userid", "how").order_by("id")) == [("wmSB0", "task"), ("wmSB0", "reply")]

    # The baby's birthday, typed on the phone, is on the profile.
    page.fill("#field_baby_birth_date", "2026-06-01")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#profile-saved")).to_have_text("资料已保存。")
    expect(page.locator("#field_baby_birth_date")).to_have_value("2026-06-01")
    assert CustomerFieldValue.objects.get(customer__external_userid="wmSB0").date.isoformat() == "2026-06-01"

    # HQ sees it on the task's completion.
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "zongbu")
    page.fill("input[name=password]", f.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/guide-tasks/{task.id}/")
    expect(page.locator("#count-done")).to_have_text("1")
    expect(page.locator("#completion tr[data-row='王导购']")).to_contain_text("50%")
    page.screenshot(path=str(ARTIFACTS / "guide-task-completion.png"), full_page=True)
