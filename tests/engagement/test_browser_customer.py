"""In a real browser at phone width, as a customer in WeChat (the sandbox's client): a guide's
tracked article opens after WeChat's sign-in, reads at 390 px without sideways scrolling, reports
how long and how far it was read, and a friend opening the shared copy counts as a share."""

from datetime import date, timedelta
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from siyu.corps.services import corp_set_credentials, staff_upsert
from siyu.engagement import checkin, coupons, earning
from siyu.engagement import checkin as checkin_module
from siyu.engagement.models import ContentView, Coupon
from siyu.kit.clock import now
from siyu.kit.tenancy import Actor, Role
from siyu.messaging import library
from siyu.messaging.library import LinkSource
from siyu.messaging.media import media_create
from siyu.sandbox import services as sandbox

from .. import factories as f
from ..console.test_browser import ARTIFACTS, browser_page  # noqa: F401 — the fixture
from ..messaging.test_messaging import png
from ..wecom.conftest import Hub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
PARAGRAPH = "宝宝满6个月后，母乳或配方奶已经不能满足全部营养需要。第一口辅食建议选择强化铁的婴儿米粉，用温水调成稀糊状，每天一次，连续观察三天。"


@pytest.fixture
def brand(live_server):
    hub = Hub(live_server, corpid="wwreader01")
    corp_set_credentials(corp=hub.corp, oa_appid=hub.sb.oa_appid, oa_secret=hub.sb.oa_secret)
    guide = staff_upsert(corp=hub.corp, userid="guide0", name="王导购")
    sandbox.customer_add(corp=hub.sb, staff=hub.staff[0], external_userid="wmREAD0", name="李妈妈")
    f.follow(f.customer(hub.corp, "李妈妈", external_userid="wmREAD0"), guide, added_at=now() - timedelta(days=3))
    hq = Actor(user=f.user(hub.corp, Role.OPERATOR), corp=hub.corp, role=Role.OPERATOR)
    cover = media_create(actor=hq, kind="image", name="cover.png", content=png(9))
    body = "".join(f"<h2>第{i}步</h2><p>{PARAGRAPH}</p>" for i in range(1, 9))
    item = library.item_save(actor=hq, kind="article", title="宝宝辅食第一口：从米粉开始", summary="6个月辅食指南", body=body, cover=cover.pk, tags=["辅食"])
    return hub, guide, item


def test_a_customer_reads_a_tracked_article_on_a_phone_and_a_friend_opens_the_shared_copy(live_server, brand, browser_page):
    hub, guide, item = brand
    page = browser_page
    page.set_viewport_size(PHONE)
    path = library.tracked_path(hub.corp, item.pk, LinkSource(guide.pk, "m1"))
    page.goto(f"{live_server.url}/sandbox/wechat/open?corpid={hub.sb.corpid}&external_userid=wmREAD0&url={path}")
    expect(page.locator("h1")).to_have_text("宝宝辅食第一口：从米粉开始", timeout=15_000)
    expect(page.locator(".body")).to_contain_text("第一口辅食建议选择强化铁的婴儿米粉")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.wait_for_function("document.querySelector('img.cover').complete")
    assert page.evaluate("document.querySelector('img.cover').naturalWidth") > 0  # the card picture is served
    page.screenshot(path=str(ARTIFACTS / "h5-article.png"), full_page=False)
    page.mouse.wheel(0, 20_000)
    page.wait_for_timeout(6_000)  # the page reports every 5 seconds while it is shown
    view = ContentView.objects.get()
    assert view.customer.external_userid == "wmREAD0" and view.staff == guide and view.via == "m1"
    assert view.dwell_seconds >= 4 and view.scroll_percent == 100
    share = page.locator("#share-url").input_value()
    # A friend (a new WeChat user) opens the copy the customer shared.
    friend = page.context.browser.new_context(viewport=PHONE).new_page()
    friend.goto(f"{live_server.url}/sandbox/wechat/open?corpid={hub.sb.corpid}&stranger=1&url={quote(share.replace(live_server.url, ''), safe='/')}")
    expect(friend.locator("h1")).to_have_text("宝宝辅食第一口：从米粉开始", timeout=15_000)
    shared = ContentView.objects.latest("id")
    assert shared.shared_by == view.visitor and shared.customer is None


def test_a_customer_checks_in_three_days_running_claims_a_coupon_and_a_guide_verifies_it(live_server, brand, browser_page, monkeypatch):
    hub, guide, _item = brand
    hq = Actor(user=f.user(hub.corp, Role.OPERATOR), corp=hub.corp, role=Role.OPERATOR)
    earning.policy_save(actor=hq, active=True)
    gift = coupons.template_save(actor=hq, name="连签3天礼", kind="gift", gift="试用装", valid_days=14)
    campaign = checkin.campaign_save(
        actor=hq, name="21天养胃打卡", starts_on=date(2026, 1, 1), daily_points=5, stages=[{"days": 3, "points": 30, "coupon_template_id": gift.pk}]
    )
    offer = coupons.template_save(actor=hq, name="新客满减", kind="amount_off", threshold_fen=19_900, amount_fen=3_000, valid_days=30, stock=50, claimable=True)
    page = browser_page
    page.set_viewport_size(PHONE)
    checkin_path = f"/h5/{hub.corp.corp_id}/checkin/{campaign.pk}"
    page.goto(f"{live_server.url}/sandbox/wechat/open?corpid={hub.sb.corpid}&external_userid=wmREAD0&url={checkin_path}")
    start = now()
    for day in range(3):
        monkeypatch.setattr(checkin_module, "now", lambda day=day: start + timedelta(days=day))
        page.goto(f"{live_server.url}{checkin_path}")
        page.locator("#checkin-button").click()
        expect(page.locator("#done")).to_contain_text("签到成功", timeout=15_000)
        expect(page.locator("#streak")).to_have_text(str(day + 1))
    expect(page.locator("#done")).to_contain_text("达成连续 3 天奖励")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "h5-checkin.png"), full_page=True)
    page.goto(f"{live_server.url}/h5/{hub.corp.corp_id}/coupon/{offer.pk}")
    page.locator("#claim-button").click()
    expect(page.locator("#claimed")).to_be_visible(timeout=15_000)
    page.goto(f"{live_server.url}/h5/{hub.corp.corp_id}/coupons")
    card = page.locator("[data-code]", has_text="新客满减")
    code = card.get_attribute("data-code")
    expect(card.locator("img.qr")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "h5-coupons.png"), full_page=True)
    statement = page.goto(f"{live_server.url}/h5/{hub.corp.corp_id}/points")
    assert statement.ok and page.locator("#available").inner_text() == str(3 * 5 + 30)
    # In the store: the guide opens the customer's chat, taps the sidebar, scans the coupon.
    hub.corp.agent_id = 1000002
    hub.corp.save()
    sidebar = page.context.browser.new_context(viewport=PHONE).new_page()
    sidebar.goto(f"{live_server.url}/sandbox/chat/{hub.sb.corpid}/?userid=guide0&external_userid=wmREAD0&url=/sidebar/{hub.corp.corp_id}/")
    expect(sidebar.locator("#customer-name")).to_have_text("李妈妈", timeout=15_000)
    expect(sidebar.locator("#coupons-usable")).to_have_text("2")
    sidebar.goto(f"{live_server.url}/sandbox/camera?text=SIYU-COUPON:{code}")  # the customer holds up their phone
    sidebar.go_back()
    expect(sidebar.locator("#customer-name")).to_have_text("李妈妈", timeout=15_000)
    sidebar.locator("#scan-coupon").click()
    expect(sidebar.locator("#verify-result")).to_contain_text("新客满减", timeout=15_000)
    sidebar.screenshot(path=str(ARTIFACTS / "sidebar-coupon-verified.png"), full_page=True)
    coupon = Coupon.objects.get(code=code)
    assert coupon.status == "redeemed" and coupon.staff == guide
    sidebar.locator("#scan-coupon").click()  # the camera has nothing now: scanning again is cancelled, nothing changes
    sidebar.locator("#verify-form input[name=code]").fill(code)
    sidebar.locator("#verify-form button[type=submit]").click()
    expect(sidebar.locator("#verify-result")).to_contain_text("已使用", timeout=15_000)
