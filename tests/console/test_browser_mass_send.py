"""In a real browser: an operator composes a mass send to a segment with an image, reads the
preview (the split per guide and who the budget leaves out, and why), creates it, and watches
completion rise as guides confirm their tasks in WeCom (the sandbox)."""

from datetime import timedelta

import pytest
from PIL import Image
from playwright.sync_api import expect

from siyu.analytics.models import Segment
from siyu.corps.services import staff_upsert
from siyu.customers.models import Customer
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.messaging import mass_sends
from siyu.messaging.models import ContactPolicy, Delivery, MassSend, MassSendTask
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbMsgTemplate

from .. import factories as f
from ..wecom.conftest import Hub
from .test_browser import ARTIFACTS, browser_page  # noqa: F401 — the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def brand(live_server):
    hub = Hub(live_server, corpid="wwbrowserms01")
    names = {"guide0": "王导购", "guide1": "李导购"}
    staff = {s.userid: staff_upsert(corp=hub.corp, userid=s.userid, name=names[s.userid]) for s in hub.staff}
    for i in range(7):
        userid = "guide0" if i < 4 else "guide1"
        sb_staff = next(s for s in hub.staff if s.userid == userid)
        sandbox.customer_add(corp=hub.sb, staff=sb_staff, external_userid=f"wmBR{i}", name=f"会员{i}")
        f.follow(f.customer(hub.corp, f"会员{i}", external_userid=f"wmBR{i}"), staff[userid], added_at=now() - timedelta(days=3))
    Segment.objects.create(corp=hub.corp, name="全部会员", filters={})
    f.user(hub.corp, Role.OPERATOR, username="yunying")
    # WeCom's rule in this corp is 1 a day, and 会员0 got a message from Siyu this morning.
    ContactPolicy.objects.create(corp=hub.corp, wecom_cap="day_1")
    earlier = MassSend.objects.create(corp=hub.corp, name="早上的群发", text="早", audience={}, send_at=now(), status="closed")
    first = Customer.objects.get(corp=hub.corp, external_userid="wmBR0")
    Delivery.objects.create(corp=hub.corp, customer=first, send=earlier, external_userid="wmBR0", planned_at=now(), status="sent")
    return hub


def test_an_operator_sends_a_segment_with_an_image_and_watches_completion_rise(live_server, brand, browser_page, tmp_path):
    picture = tmp_path / "海报.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(picture)
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "yunying")
    page.fill("input[name=password]", f.PASSWORD)
    page.click("button[type=submit]")
    page.click("#nav-mass-sends")
    page.click("#new-mass-send")
    page.fill("input[name=name]", "双十二会员日")
    page.select_option("select[name=segment]", label="全部会员")
    page.fill("textarea[name=text]", "双十二会员日，到店有礼")
    page.click("#add-attachment")
    page.select_option("select[name='a-0-kind']", "image")
    page.set_input_files("input[name='a-0-file']", str(picture))
    page.click("#preview-button")
    expect(page.locator("#preview")).to_be_visible()
    assert page.inner_text("#preview-audience") == "7"
    assert page.inner_text("#preview-planned") == "6"
    assert "已达企业微信接收上限： 1" in page.inner_text("#preview-skipped")
    split = page.inner_text("#preview-split")
    assert "王导购\t3" in split and "李导购\t3" in split
    page.screenshot(path=str(ARTIFACTS / "40-mass-send-preview.png"), full_page=True)

    # The preview kept the form: the image is chosen again (a browser never keeps a file input).
    page.set_input_files("input[name='a-0-file']", str(picture))
    page.click("#send-button")
    page.wait_for_selector("#send-counters")
    send = MassSend.objects.get(name="双十二会员日")
    Hub.run_worker()  # planning, then one WeCom task per guide
    templates = {t.creator: t for t in SbMsgTemplate.objects.all()}
    assert set(templates) == {"guide0", "guide1"}
    assert templates["guide0"].attachments[0]["msgtype"] == "image" and templates["guide0"].attachments[0]["image"]["media_id"]
    assert sorted(templates["guide0"].sends.values_list("external_userid", flat=True)) == ["wmBR1", "wmBR2", "wmBR3"]
    page.reload()
    assert page.inner_text("#count-planned") == "6" and page.inner_text("#count-tasks-sent") == "0 / 2"

    # 王导购 confirms in 群发助手; the next pull of results shows it.
    sandbox.msg_template_confirm(template=templates["guide0"], userid="guide0")
    MassSend.objects.filter(pk=send.pk).update(pull_due_at=now())
    mass_sends.mass_send_pull(send.pk)
    page.reload()
    assert page.inner_text("#count-tasks-sent") == "1 / 2" and page.inner_text("#count-sent") == "3"
    assert page.inner_text("#completion tr[data-row='王导购'] td:last-child") == "100%"
    assert page.inner_text("#completion tr[data-row='李导购'] td:last-child") == "0%"
    page.screenshot(path=str(ARTIFACTS / "41-mass-send-completion.png"), full_page=True)
    assert MassSendTask.objects.filter(send=send, status="sent").count() == 1
