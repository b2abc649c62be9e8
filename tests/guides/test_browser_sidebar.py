"""In a real browser at phone width: a guide opens a customer's chat in WeCom (the sandbox's client),
taps the sidebar, is signed in by WeCom's OAuth2, the page is configured with wx.agentConfig and
finds the chat's customer; the guide sees the profile and the open task, taps the content, the
JS-SDK stand-in records sendChatMessage with it, the customer counts as done, and HQ's completion
page shows it."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from siyu.corps.services import staff_upsert
from siyu.guides import services
from siyu.guides.models import GuideTaskItem
from siyu.kit.clock import now
from siyu.kit.tenancy import Actor, Role
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbJsInvoke

from .. import factories as f
from ..console.test_browser import ARTIFACTS, browser_page  # noqa: F401 — the fixture
from ..wecom.conftest import Hub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
CONTENT = "宝宝6个月啦，辅食从高铁米粉开始，每天一次，观察三天再加新食材。"


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
    task = services.guide_task_create(
        actor=Actor(user=operator, corp=hub.corp, role=Role.OPERATOR),
        name="6个月辅食提醒",
        kind="send",
        audience={"kind": "filters", "filters": {}},
        text=CONTENT,
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
    card.locator("[data-send]").click()
    expect(card.locator("[data-send]")).to_have_text("已发送")
    page.screenshot(path=str(ARTIFACTS / "sidebar-sent.png"), full_page=True)

    # The client was asked to put exactly the task's content into this chat, after agentConfig.
    calls = list(SbJsInvoke.objects.filter(corp=hub.sb).order_by("id").values_list("api", flat=True))
    assert calls.index("agentConfig") < calls.index("getCurExternalContact") < calls.index("sendChatMessage")
    send = SbJsInvoke.objects.get(corp=hub.sb, api="sendChatMessage")
    assert send.args["text"]["content"] == CONTENT and send.answer == {"err_msg": "sendChatMessage:ok"} and send.context.external_userid == "wmSB0"
    item = GuideTaskItem.objects.get(task=task, customer__external_userid="wmSB0")
    assert (item.status, item.how) == ("done", "sent")

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
