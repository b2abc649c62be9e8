"""In a real browser: HQ installs the milk-powder playbook, fills in its content step by step
(a step left with its mark is refused next to the field), rehearses it, activates it; then a
sandbox customer walks it end to end through WeCom's callbacks: added a guide, joined the city
group, waited the flash week, had not bought, got the store guide's task and the lifecycle content,
each as one send or task made in WeCom; the journey's page counts them."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from siyu.corps.services import staff_upsert
from siyu.journeys import engine
from siyu.journeys.models import Bundle, Enrollment, Journey, StepRun
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.messaging.models import MassSend, MassSendTask
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox.models import SbMsgTemplate

from .. import factories as f
from ..console.test_browser import ARTIFACTS, browser_page  # noqa: F401 — the fixture
from ..wecom.conftest import Hub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CONTENT = {
    "city_group": "欢迎加入同城宝妈群，扫码进群领新客礼",
    "nudge": "妈妈您好，群里今晚有育儿讲座，给您留了位置",
    "flash": "7 天闪购群开群啦，试用装今天开始领取",
    "stage_content": "宝宝这个月龄的喂养要点，我们整理好了",
}


def _login(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f.PASSWORD)
    page.click("button[type=submit]")


def test_hq_installs_rehearses_and_activates_the_milk_powder_play_and_a_customer_walks_it(live_server, browser_page):
    hub = Hub(live_server, corpid="wwjourney01")
    for s in hub.staff:
        staff_upsert(corp=hub.corp, userid=s.userid, name=s.name)
    f.user(hub.corp, Role.OPERATOR, username="zongbu")
    page = browser_page
    base = live_server.url
    _login(page, base, "zongbu")
    page.goto(f"{base}/journeys/catalog/")
    page.click("#install-milk_powder")
    expect(page.locator("#problems")).to_contain_text("【待填写】")
    expect(page.locator("#activate")).to_be_disabled()
    # A step saved with its mark still in it is refused next to the text.
    page.click("#edit-city_group")
    page.fill("textarea[name=text]", "【待填写】稍后再写")
    page.click("#save-step")
    expect(page.locator("#id_text_error")).to_contain_text("待填写")
    for key, text in CONTENT.items():
        journey = Journey.objects.get(corp=hub.corp)
        page.goto(f"{base}/journeys/{journey.pk}/steps/{key}/")
        page.fill("textarea[name=text]", text)
        if key == "city_group":
            page.fill("input[name=at]", "09:30")  # an edit beyond the content
        page.click("#save-step")
        expect(page.locator(f"[data-step='{key}']")).not_to_contain_text("待填写")
    expect(page.locator("#problems")).to_have_count(0)
    page.click("#rehearse")
    expect(page.locator("#forecast")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "journey-rehearsed.png"), full_page=True)
    page.click("#edit-journey")
    page.click("#activate")
    expect(page.locator("#journey-status")).to_have_text("进行中")
    journey.refresh_from_db()
    assert journey.live_version.definition["steps"][0]["at"] == "09:30"

    # A customer adds a guide in WeCom: the callback records the arrival, the engine enrolls and walks it.
    sb_follow, _ = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="新妈妈")
    Hub.run_worker()
    engine.run_due(at=now())
    enrollment = Enrollment.objects.get(journey=journey)
    assert dict(StepRun.objects.filter(enrollment=enrollment).values_list("step", "outcome")) == {"city_group": "queued"}
    # … joins the city group: the wait for it ends at once.
    group, _ = wecom_sim.group_created(hub.sb, hub.staff[0], "同城宝妈群")
    Hub.run_worker()
    wecom_sim.customers_join_group(group, [sb_follow.customer])
    Hub.run_worker()
    engine.run_due(at=now() + timedelta(minutes=1))
    # … a week later, not having bought, goes to the store guide and the lifecycle content.
    engine.run_due(at=now() + timedelta(days=7, hours=1))
    walked = dict(StepRun.objects.filter(enrollment=enrollment).values_list("step", "outcome"))
    assert walked == {
        "city_group": "queued",
        "joined": "event",
        "flash": "queued",
        "week": "done",
        "bought": "no",
        "store_guide_new": "queued",
        "stage_content": "queued",
    }
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.DONE
    # Each send step became one mass send, each task step one guide task, made in WeCom.
    Bundle.objects.update(due_at=now())
    for bundle in Bundle.objects.all():
        engine.bundle_make(bundle.pk)
    call_command("worker", batch=True, requeue_after=0)
    assert MassSend.objects.filter(corp=hub.corp).count() == 3
    assert MassSendTask.objects.filter(send__corp=hub.corp, status="created").count() == 3
    assert SbMsgTemplate.objects.filter(corp=hub.sb).count() == 3
    assert Bundle.objects.filter(kind="task", guide_task__isnull=False).count() == 1
    page.goto(f"{base}/journeys/{journey.pk}/")
    expect(page.locator("[data-step='stage_content']")).to_contain_text("1")
    page.screenshot(path=str(ARTIFACTS / "journey-walked.png"), full_page=True)
