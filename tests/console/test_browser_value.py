"""Done-when, in a real browser: a brand imports its order history from Excel, then sees its RFM
grid, saves a class as a segment, reads its super users, each customer's CLV, its funnel and cohorts.

Screenshots go to test-artifacts/.
"""

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from openpyxl import Workbook
from playwright.sync_api import expect

from siyu.analytics.lifetime import clv_refresh
from siyu.analytics.models import CustomerClv
from siyu.analytics.rfm import rfm_compute
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.orders.models import Order

from .. import factories as f
from .test_browser import ARTIFACTS, browser_page  # noqa: F401 — the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def brand(live_server, tmp_path):
    corp = f.corp("示例母婴品牌")
    f.user(corp, Role.OPERATOR, username="yunying")
    staff = f.staff(corp, "刘导购", userid="liu")
    rng = random.Random(5)
    customers = []
    for i in range(40):
        c = f.customer(corp, f"客户{i:02d}", external_userid=f"wm{i:03d}")
        f.follow(c, staff, added_at=now() - timedelta(days=rng.randint(20, 300)))
        customers.append(c)
    # The brand's order export: Chinese headers, Excel numbers and dates, one row per order.
    book = Workbook()
    sheet = book.active
    sheet.append(["订单号", "支付时间", "实付金额", "外部联系人ID", "导购", "退款金额"])
    n = 0
    for i, c in enumerate(customers[:32]):
        for _ in range(1 + int(rng.paretovariate(1.5)) % 6):
            n += 1
            paid = (now() - timedelta(days=rng.randint(0, 280))).astimezone(corp.tzinfo).replace(tzinfo=None, microsecond=0)
            sheet.append([20260000 + n, paid, rng.choice([89, 298, 318.5, 159]) * (1 + i % 3), c.external_userid, "liu", 50 if n % 17 == 0 else None])
    path = tmp_path / "订单导出.xlsx"
    book.save(path)
    return {"corp": corp, "customers": customers, "file": path, "orders": n}


def test_order_history_to_rfm_segment_super_users_clv_and_funnel(live_server, brand, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "yunying")
    page.fill("input[name=password]", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#stat-customers")

    # The operator uploads the brand's Excel export in the console.
    page.click("#nav-order-import")
    page.set_input_files("#order-import input[type=file]", str(brand["file"]))
    page.fill("#order-import input[name=source]", "youzan")
    page.click("#import-button")
    # The import's page answers at once and waits for the worker; it asks again every second and
    # shows the report when the worker is done.
    page.wait_for_selector('#import-report[data-status="queued"]')
    call_command("worker", batch=True, requeue_after=3600)
    page.wait_for_selector('#import-report[data-status="imported"]', timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "29-order-import.png"), full_page=True)
    page.click("#nav-order-import")
    assert page.inner_text("#orders-total") == str(brand["orders"]) and page.inner_text("#orders-unmatched") == "0"
    assert Order.objects.filter(corp=brand["corp"], source="youzan").count() == brand["orders"]
    clv_refresh(corp=brand["corp"])  # what the worker's daily schedule does
    expected = rfm_compute(brand["corp"])

    page.click("#nav-rfm")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "1", timeout=30_000)
    assert page.inner_text("#rfm-buyers") == str(expected.buyers) == "32"
    shown = {el.get_attribute("data-letter"): int(el.locator(".count").inner_text()) for el in page.locator(".rfm-class").all()}
    assert shown == {r.rfm.letter: r.customers for r in expected.classes}
    page.wait_for_timeout(1200)
    page.screenshot(path=str(ARTIFACTS / "30-rfm.png"), full_page=True)
    page.click(".rfm-class[data-letter='A'] button")
    page.wait_for_selector("#segment-count")
    assert int(page.inner_text("#segment-count")) == expected.row("A").customers
    page.screenshot(path=str(ARTIFACTS / "31-segment.png"), full_page=True)

    page.click("#nav-super-users")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "1", timeout=30_000)
    assert int(page.inner_text("#super-users")) > 0
    page.wait_for_timeout(1200)
    page.screenshot(path=str(ARTIFACTS / "32-super-users.png"), full_page=True)

    page.click("#nav-clv")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "1", timeout=30_000)
    best = CustomerClv.objects.filter(corp=brand["corp"]).order_by("-clv_fen").select_related("customer").first()
    assert best.customer.name in page.inner_text("#clv-top")
    page.wait_for_timeout(1200)
    page.screenshot(path=str(ARTIFACTS / "33-clv.png"), full_page=True)
    page.click(f"#clv-top a:has-text('{best.customer.name}')")
    page.wait_for_selector("#customer-clv")
    assert page.inner_text("#customer-clv").replace(",", "") == f"{best.clv_fen // 100}.{best.clv_fen % 100:02d}"

    page.click("#nav-funnel")
    expect(page.locator("body")).to_have_attribute("data-charts-ready", "1", timeout=30_000)
    page.wait_for_timeout(1200)
    page.screenshot(path=str(ARTIFACTS / "34-funnel.png"), full_page=True)
    assert page.locator("#gmv-table tbody tr").count() >= 10


def test_a_phone_import_waits_for_the_worker_and_shows_its_outcome(live_server, brand, browser_page, tmp_path):
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "yunying")
    page.fill("input[name=password]", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#stat-customers")
    numbers = tmp_path / "拓客名单.csv"
    numbers.write_text("手机号,姓名\n" + "".join(f"139{i:08d},会员{i}\n" for i in range(300)) + "12345,坏号\n", encoding="utf-8")

    def upload(outcome: str) -> None:
        page.click("#nav-phone-imports")
        page.fill("#new-import input[name=name]", "老会员拓客")
        page.set_input_files("#new-import input[type=file]", str(numbers))
        page.select_option("#new-import select[name=staff]", label="刘导购")
        page.click("#import-button")
        # The page answers at once, then asks every second until the worker is done.
        page.wait_for_selector('#import-card[data-status="queued"]')
        call_command("worker", batch=True, requeue_after=3600)
        page.wait_for_selector(f'#import-card[data-status="{outcome}"]', timeout=15_000)

    upload("rejected")  # a bad row rejects the file whole
    assert page.locator('#import-report tr[data-code="bad_phone"] td').first.inner_text() == "302"
    page.screenshot(path=str(ARTIFACTS / "29b-phone-import-rejected.png"), full_page=True)
    numbers.write_text("手机号,姓名\n" + "".join(f"139{i:08d},会员{i}\n" for i in range(300)), encoding="utf-8")
    upload("imported")
    assert "300" in page.inner_text("#import-outcome")
    page.screenshot(path=str(ARTIFACTS / "29c-phone-import.png"), full_page=True)
    page.click("#nav-phone-imports")
    assert page.locator('#batches tr[data-batch="老会员拓客"][data-status="imported"] td').nth(1).inner_text() == "300"
