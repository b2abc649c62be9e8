"""In a real browser: an operator sets up a store channel and a live code with three guides, caps
and a schedule, downloads its QR; a "phone" scans what the QR says and the customer arrives with
the right guide, welcome, tags and channel, visible in the channel statistics."""

import io
import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from siyu.acquisition.models import Acquisition, LiveCode
from siyu.corps.services import staff_upsert
from siyu.customers.models import Follow
from siyu.kit.tenancy import Actor, Role
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbWelcomeSent
from siyu.tags.services import tag_group_create

from .. import factories as f
from ..wecom.conftest import Hub
from .test_browser import ARTIFACTS, browser_page  # noqa: F401 — the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def store(live_server):
    hub = Hub(live_server, corpid="wwbrowserlc01")
    hub.staff.append(sandbox.staff_add(corp=hub.sb, userid="guide2", name="导购2"))
    names = {"guide0": "王导购", "guide1": "李导购", "guide2": "张导购"}
    for s in hub.staff:
        staff_upsert(corp=hub.corp, userid=s.userid, name=names[s.userid])
    f.user(hub.corp, Role.ADMIN, username="dianzhang")
    tag_group_create(actor=Actor(user=None, corp=hub.corp, role=Role.OWNER), name="客户来源", tag_names=["门店扫码"])
    # The schedule below is 00:00–23:59 every day; the one minute outside it is not this test's.
    if datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%H:%M") == "23:59":
        time.sleep(61)
    return hub


def test_store_channel_live_code_qr_download_and_a_scan_arrives(live_server, store, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "dianzhang")
    page.fill("input[name=password]", f.PASSWORD)
    page.click("button[type=submit]")

    page.click("#nav-channels")
    page.fill("#new-channel input[name=name]", "南京西路店")
    page.select_option("#new-channel select[name=group]", "store")
    page.click("#new-channel button[type=submit]")
    page.wait_for_selector("tr[data-channel='南京西路店']")

    page.click("#nav-live-codes")
    page.click("#new-live-code")
    page.fill("input[name=name]", "南京西路店活码")
    page.select_option("select[name=channel]", label="南京西路店")
    for i, label in enumerate(["王导购 (guide0)", "李导购 (guide1)"]):
        page.select_option(f"select[name='m-{i}-who']", label=label)
        page.fill(f"input[name='m-{i}-daily_cap']", "30")
    # A fourth row through "Add a row" for the third guide.
    page.select_option("select[name='m-2-who']", index=0)
    page.click("#add-member")
    page.select_option("select[name='m-3-who']", label="张导购 (guide2)")
    page.fill("input[name='m-3-daily_cap']", "30")
    for day in range(7):
        page.check(f"#id_weekdays_{day}")
    page.fill("input[name=slot1_start]", "00:00")
    page.fill("input[name=slot1_end]", "23:59")
    page.click("label.chip:has-text('门店扫码')")
    page.fill("textarea[name=welcome_text]", "{customer_name}您好，我是{staff_name}，欢迎来到南京西路店")
    # The welcome gets an attachment: a link card (the editor takes up to 9).
    page.click("#add-attachment")
    page.select_option("select[name='a-0-kind']", "link")
    page.fill("input[name='a-0-title']", "新人礼包")
    page.fill("input[name='a-0-url']", "https://shop.example.com/gift")
    page.fill("input[name='a-0-desc']", "到店领取")
    page.screenshot(path=str(ARTIFACTS / "20-live-code-editor.png"), full_page=True)
    page.click("#save-live-code")
    page.wait_for_selector("#qr-image")
    page.screenshot(path=str(ARTIFACTS / "21-live-code.png"), full_page=True)

    code = LiveCode.objects.get(corp=store.corp)
    assert sorted((m.staff.userid, m.daily_cap) for m in code.members.select_related("staff")) == [("guide0", 30), ("guide1", 30), ("guide2", 30)]

    with page.expect_download() as download:
        page.click("#download-png")
    qr = zxingcpp.read_barcodes(Image.open(download.value.path()).convert("L"))
    scan_url = qr[0].text
    assert scan_url.endswith(f"/sandbox/scan/contact/{code.config_id}/")

    # The phone: a second page opens what the QR says and adds the guide.
    phone = page.context.browser.new_page()  # its own context: another device, no login
    phone.goto(scan_url)
    phone.fill("input[name=name]", "王小丫")
    phone.click("button[type=submit]")
    phone.wait_for_selector("#done")
    phone.close()
    store.run_worker()

    follow = Follow.objects.select_related("staff").get(customer__name="王小丫")
    assert follow.staff.userid == "guide0" and follow.state == code.state
    assert list(follow.tags.values_list("name", flat=True)) == ["门店扫码"]
    assert Acquisition.objects.get(follow=follow).channel.name == "南京西路店"
    assert SbWelcomeSent.objects.get().text == "王小丫您好，我是王导购，欢迎来到南京西路店"
    link = {"title": "新人礼包", "url": "https://shop.example.com/gift", "desc": "到店领取"}
    assert SbWelcomeSent.objects.get().attachments == [{"msgtype": "link", "link": link}]

    # Then a crowd: eleven more phones scan the printed code.
    with httpx.Client(timeout=10) as phones:
        for i in range(11):
            assert phones.post(scan_url, data={"name": f"顾客{i}"}).status_code == 200
    store.run_worker()
    follows = list(Follow.objects.select_related("staff", "customer").filter(state=code.state))
    assert len(follows) == 12
    # In turn over the three guides, each under the cap of 30: four each.
    assert Counter(fo.staff.userid for fo in follows) == {"guide0": 4, "guide1": 4, "guide2": 4}
    names = {"guide0": "王导购", "guide1": "李导购", "guide2": "张导购"}
    sent = {w.text for w in SbWelcomeSent.objects.all()}
    for fo in follows:
        assert list(fo.tags.values_list("name", flat=True)) == ["门店扫码"]
        assert f"{fo.customer.name}您好，我是{names[fo.staff.userid]}，欢迎来到南京西路店" in sent
    assert Acquisition.objects.filter(channel__name="南京西路店").count() == 12

    page.reload()
    assert page.inner_text("#seats tr[data-staff='guide0'] td:nth-child(2)") == "4"
    page.click("#nav-stats")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "1", timeout=30_000)
    assert page.inner_text("#total-adds") == "12"
    assert page.inner_text("#stats-table tr[data-key='南京西路店'] td.adds") == "12"
    page.wait_for_timeout(1500)  # let the charts finish drawing for the screenshot
    page.screenshot(path=str(ARTIFACTS / "22-channel-stats.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#export-xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")
    assert io.BytesIO(open(download.value.path(), "rb").read()).read(2) == b"PK"
