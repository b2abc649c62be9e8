"""The console in a real browser: log in, list customers, filter by a tag, open a profile.

Screenshots go to test-artifacts/ for a person to look at.
"""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from siyu.kit.tenancy import Role

from .. import factories as f

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("SIYU_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here (SIYU_REQUIRE_BROWSER) but is not installed")
        pytest.skip("Chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # A script or style the Content-Security-Policy refuses is a broken page, not noise.
        refused = []
        page.on("console", lambda m: refused.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None)
        yield page
        browser.close()
        assert not refused, refused
        # ORM calls made while Playwright's loop runs get a connection of their own context.
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def shop(live_server):
    corp = f.corp("示例母婴品牌")
    f.user(corp, Role.OPERATOR, username="yunying")
    admin = f.actor(corp, Role.ADMIN)
    group = f.tag_group(admin, name="宝宝月龄", tags=["孕期", "0-6月"])
    pregnant = group.tags.get(name="孕期")
    s = f.staff(corp, "刘导购")
    for i in range(6):
        c = f.customer(corp, f"孕妈{i}号" if i % 2 == 0 else f"普通{i}号")
        f.follow(c, s, tags=[pregnant] if i % 2 == 0 else [], state="store-01")


def test_login_filter_by_tag_and_open_profile(live_server, shop, browser_page):
    # `shop` is listed before `browser_page`: the data exists before Playwright's loop starts.
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "yunying")
    page.fill("input[name=password]", f.PASSWORD)
    page.screenshot(path=str(ARTIFACTS / "01-login.png"))
    page.click("button[type=submit]")
    page.wait_for_selector("#stat-customers")
    assert page.inner_text("#stat-customers") == "6"
    page.screenshot(path=str(ARTIFACTS / "02-dashboard.png"))

    page.click("#nav-customers")
    page.wait_for_selector("#customer-table")
    assert page.locator("#customer-table tbody tr").count() == 6
    page.screenshot(path=str(ARTIFACTS / "03-customers.png"))

    page.click("label.chip:has-text('孕期')")
    with page.expect_response(lambda r: "/customers/" in r.url and r.request.headers.get("hx-request") == "true"):
        page.click("#customer-filters button[type=submit]")
    expect(page.locator("#customer-table tbody tr")).to_have_count(3, timeout=30_000)
    names = page.locator("#customer-table .cname").all_inner_texts()
    assert sorted(names) == ["孕妈0号", "孕妈2号", "孕妈4号"]
    assert "tags=" in page.url  # the filter is in the address bar, so it can be shared
    page.screenshot(path=str(ARTIFACTS / "04-filtered-by-tag.png"))

    page.click("#customer-table a.customer-link >> nth=0")
    page.wait_for_selector("#customer-name")
    assert page.inner_text("#customer-name").startswith("孕妈")
    assert "孕期" in page.inner_text("#profile-tags")
    assert "刘导购" in page.inner_text("#timeline")
    page.screenshot(path=str(ARTIFACTS / "05-profile.png"), full_page=True)


@pytest.fixture
def busy_week(live_server):
    corp = f.corp("示例母婴品牌")
    f.user(corp, Role.OPERATOR, username="yunying")
    guides = [f.staff(corp, "刘导购"), f.staff(corp, "王导购")]
    now = timezone.now()
    # 2, 4 and 8 customers on three days; today's four are each added by both guides.
    for days_ago, n in ((2, 2), (1, 4), (0, 8)):
        for i in range(n):
            c = f.customer(corp, f"客户{days_ago}-{i}")
            f.follow(c, guides[0], added_at=now - timedelta(days=days_ago))
            if days_ago == 0 and i < 4:
                f.follow(c, guides[1], added_at=now)


def test_dashboard_bars_scale_and_new_today_counts_what_todays_bar_does(live_server, busy_week, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "yunying")
    page.fill("input[name=password]", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#stat-new-today")
    bars = page.locator(".bars .bar")
    counts = [int(t) for t in bars.locator(".n").all_inner_texts()]
    heights = [box["height"] for box in (bars.nth(i).locator(".fill").bounding_box() for i in range(bars.count()))]
    assert counts[-3:] == [2, 4, 8] and page.inner_text("#stat-new-today") == "8"
    # Each drawn height is its count's share of the tallest, within a pixel.
    tallest = heights[-1]
    for n, h in zip(counts[-3:], heights[-3:], strict=True):
        assert abs(h - tallest * n / 8) <= 1.5, (counts, heights)
