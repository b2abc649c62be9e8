"""In a real browser at phone width, as a customer in WeChat (the sandbox's client): a guide's
tracked article opens after WeChat's sign-in, reads at 390 px without sideways scrolling, reports
how long and how far it was read, and a friend opening the shared copy counts as a share."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from siyu.corps.services import corp_set_credentials, staff_upsert
from siyu.engagement.models import ContentView
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
