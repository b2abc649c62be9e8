"""Customer value pages through the test client: RFM grid and settings, one-click segments,
super users, CLV, funnel and cohorts, segments with preview and Excel, the profile's value card."""

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from openpyxl import load_workbook

from siyu.analytics.lifetime import clv_refresh
from siyu.analytics.models import CustomerClv, RfmSettings, Segment
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.orders import history, importer
from siyu.orders.models import Order, OrderImport
from siyu.orders.services import OrderIn, order_upsert

from .. import factories as f
from ..conftest import run_queued


@pytest.fixture
def brand(db):
    corp = f.corp("示例母婴品牌")
    owner = f.user(corp, Role.OWNER, username="owner")
    staff = f.staff(corp, "刘导购")
    customers = []
    for i in range(24):
        c = f.customer(corp, f"客户{i}", external_userid=f"wm{i}")
        f.follow(c, staff, added_at=now() - timedelta(days=60 + i))
        for k in range(1 + i % 4):
            order_upsert(
                corp=corp,
                data=OrderIn(
                    order_no=f"O{i}-{k}",
                    paid_at=now() - timedelta(days=50 - 10 * k + i),
                    amount_fen=(i + 1) * 1000 * (k + 1),
                    external_userid=c.external_userid,
                ),
            )
        customers.append(c)
    client = Client()
    client.force_login(owner)
    return {"corp": corp, "client": client, "customers": customers, "staff": staff}


def test_rfm_classes_and_their_default_strategies_read_in_english_mode(brand):
    client = brand["client"]
    client.cookies["django_language"] = "en"
    page = client.get("/value/rfm/").content.decode()
    assert "Recent-High-High" in page and "Super users: serve them first" in page
    assert "近高高" not in page and "超级用户：重点服务" not in page


def test_rfm_page_shows_the_grid_and_saves_settings(brand):
    client = brand["client"]
    page = client.get("/value/rfm/").content.decode()
    assert "近高高" in page and "久低低" in page and 'id="chart-classes"' in page
    r = client.post(
        "/value/rfm/", {"method": "fixed", "recency_days": "30", "frequency": "1", "monetary": "100.00", "window_days": "", "strategy_A": "VIP 一对一"}
    )
    assert r.status_code == 302
    s = RfmSettings.objects.get(corp=brand["corp"])
    assert (s.method, s.recency_days, s.monetary_fen, s.strategies) == ("fixed", 30, 10000, {"A": "VIP 一对一"})
    assert "VIP 一对一" in client.get("/value/rfm/").content.decode()


def test_a_class_becomes_a_segment_with_preview_and_excel(brand):
    client = brand["client"]
    r = client.post("/value/rfm/A/segment/")
    segment = Segment.objects.get(corp=brand["corp"])
    assert r["Location"] == f"/segments/{segment.id}/" and segment.filters == {"rfm": ["A"]}
    page = client.get(f"/segments/{segment.id}/").content.decode()
    assert "RFM A 近高高" in page
    r = client.get(f"/segments/{segment.id}/customers.xlsx")
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    rfm_column = rows[0].index("RFM 类型")
    assert rows[1:] and all(row[rfm_column] == "A 近高高" for row in rows[1:])
    assert f'id="segment-count">{len(rows) - 1}<' in page


def test_segment_form_and_list(brand):
    client = brand["client"]
    r = client.post("/segments/", {"name": "复购三次", "orders_min": "3", "buyers": "yes"})
    assert r.status_code == 302
    page = client.get("/segments/").content.decode()
    assert "复购三次" in page and '<td class="count">12</td>' in page  # customers 2, 3, 6, 7, … have 3 or 4 orders
    bad = client.post("/segments/", {"name": "复购三次"})
    assert bad.status_code == 400 and "已有名为“复购三次”的分群。" in bad.content.decode()


def test_super_users_page_and_segment(brand):
    client = brand["client"]
    page = client.get("/value/super-users/?share=80").content.decode()
    assert 'id="chart-lorenz"' in page and 'id="super-users"' in page
    r = client.post("/value/super-users/?share=80")
    segment = Segment.objects.get(corp=brand["corp"])
    assert segment.filters["spent_min_fen"] > 0 and r.status_code == 302


def test_clv_page_before_and_after_a_fit_and_the_profile_card(brand):
    client = brand["client"]
    assert "refit now" in client.get("/value/clv/").content.decode().lower() or "立即重新拟合" in client.get("/value/clv/").content.decode()
    fit = clv_refresh(corp=brand["corp"])
    page = client.get("/value/clv/").content.decode()
    # 24 buyers with a regular pattern are too few for an interior fit: the page says so.
    assert fit.at_limit and 'id="clv-at-limit"' in page
    best = CustomerClv.objects.filter(corp=brand["corp"]).order_by("-clv_fen").select_related("customer").first()
    assert 'id="clv-top"' in page and best.customer.name in page
    profile = client.get(f"/customers/{brand['customers'][23].id}/").content.decode()
    assert 'id="customer-clv"' in profile and 'id="customer-rfm"' in profile


def test_funnel_page(brand):
    today = now().date()
    page = brand["client"].get(f"/value/funnel/?start={today - timedelta(days=120)}&end={today}&by=staff").content.decode()
    assert 'id="chart-funnel"' in page and "刘导购" in page and 'id="funnel-added">24<' in page


def test_guides_cannot_open_value_pages(brand):
    guide = Client()
    guide.force_login(f.user(brand["corp"], Role.GUIDE, staff=brand["staff"], username="guide"))
    for url in ("/value/rfm/", "/value/super-users/", "/value/clv/", "/value/funnel/", "/segments/", "/orders/import/"):
        assert guide.get(url).status_code == 403, url


def _upload(client, name: str, content: bytes):
    """The console's upload, its queueing committed (as the request's commit would)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/orders/import/", {"file": SimpleUploadedFile(name, content), "source": "pos"})


def test_order_import_page_queues_the_file_and_the_worker_reports_bad_rows_or_imports_it(brand):
    client = brand["client"]
    before = Order.objects.count()
    bad = "订单号,支付时间,实付金额,外部联系人ID\nN1,2026-03-01 10:00,1.999,wm1\nN2,someday,10,wm1\n".encode()
    r = _upload(client, "bad.csv", bad)
    rejected = OrderImport.objects.get(file_name="bad.csv")
    assert r.status_code == 302 and r["Location"] == f"/orders/imports/{rejected.id}/"
    # The page answers before the worker reads a row: it shows the import waiting, and asks again.
    waiting = client.get(r["Location"]).content.decode()
    assert 'data-status="queued"' in waiting and 'hx-trigger="every 1s"' in waiting
    assert run_queued("siyu.orders.tasks") == ["rejected"]
    report = client.get(r["Location"]).content.decode()
    assert 'data-code="amount_precision"' in report and 'data-code="bad_time"' in report and "没有导入任何数据" in report
    assert "hx-trigger" not in report and Order.objects.count() == before
    rejected.refresh_from_db()
    assert (rejected.status, rejected.error_count, rejected.created_by.username, rejected.upload) == ("rejected", 2, "owner", None)

    good = "订单号,支付时间,实付金额,外部联系人ID\nN1,2026-03-01 10:00,1.99,wm1\nN2,2026-03-02,10,wmNobody\n".encode()
    r = _upload(client, "good.csv", good)
    assert r.status_code == 302 and Order.objects.count() == before
    assert run_queued("siyu.orders.tasks") == ["imported"] and Order.objects.count() == before + 2
    page = client.get("/orders/import/").content.decode()
    assert 'id="orders-unmatched">1<' in page
    # A file without the columns an order needs is refused at once, next to the field, and not queued.
    r = _upload(client, "x.csv", b"a,b\n1,2\n")
    assert r.status_code == 400 and "对应的列" in r.content.decode() and not OrderImport.objects.filter(file_name="x.csv").exists()

    # The history keeps both reads of a file, the rejected one with its report.
    history = client.get("/orders/import/").content.decode()
    assert history.index('data-import="good.csv"') < history.index('data-import="bad.csv"')  # newest first
    imported = OrderImport.objects.get(file_name="good.csv")
    assert (imported.status, imported.created, imported.matched, imported.upload) == ("imported", 2, 1, None)


def test_an_import_shows_its_progress_and_a_dead_workers_import_is_taken_over(brand, monkeypatch):
    client = brand["client"]
    rows = "".join(f"P{i},2026-03-01 10:00,{i % 90 + 1},wm{i % 7}\n" for i in range(2500))
    r = _upload(client, "big.csv", ("订单号,支付时间,实付金额,外部联系人ID\n" + rows).encode())
    run = OrderImport.objects.get(file_name="big.csv")
    # A worker that dies after writing its first chunk of 1,000.
    seen = []

    def dies(self, start, end, **kw):
        if seen:
            raise SystemExit("the worker is killed")
        seen.append(start)
        return real(self, start, end, **kw)

    real = history.Staging._write_chunk
    monkeypatch.setattr(history, "chunk_size", lambda: 1000)
    monkeypatch.setattr(history.Staging, "_write_chunk", dies)
    with pytest.raises(SystemExit):
        run_queued("siyu.orders.tasks")
    run.refresh_from_db()
    assert (run.status, run.phase, run.progress_done, run.progress_total) == ("running", "write", 1000, 2500)
    page = client.get(r["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert '<progress max="2500" value="1000">' in page and "正在写入：第 1000 笔，共 2500 笔" in page
    assert Order.objects.filter(order_no__startswith="P").count() == 1000
    monkeypatch.setattr(history.Staging, "_write_chunk", real)
    # Its lease runs out; the sweep queues it again, and another worker reads the file from the start.
    OrderImport.objects.filter(pk=run.pk).update(updated_at=now() - timedelta(minutes=6))
    assert importer.order_imports_sweep(timedelta(seconds=0)) == 1
    assert run_queued("siyu.orders.tasks") == ["imported"]
    run.refresh_from_db()
    assert (run.status, run.orders, run.created, run.unchanged) == ("imported", 2500, 1500, 1000)
    assert Order.objects.filter(order_no__startswith="P").count() == 2500


def test_the_orders_list_searches_and_a_guide_sees_only_their_customers_orders(brand):
    client = brand["client"]
    page = client.get("/orders/").content.decode()
    assert f'id="order-count">{Order.objects.count()} 笔订单<' in page
    found = client.get("/orders/", {"q": "O3-1"}).content.decode()
    assert 'data-order="O3-1"' in found and 'data-order="O3-0"' not in found and "客户3" in found
    by_name = client.get("/orders/", {"q": "客户5"}).content.decode()
    assert by_name.count('data-order="O5-') == Order.objects.filter(order_no__startswith="O5-").count() == 2
    bad = client.get("/orders/", {"paid_from": "someday"})
    assert bad.status_code == 400 and "has-error" in bad.content.decode()

    other = f.staff(brand["corp"], "王导购")
    mine = f.customer(brand["corp"], "王导购的客户", external_userid="wmmine")
    f.follow(mine, other)
    order_upsert(corp=brand["corp"], data=OrderIn(order_no="G1", paid_at=now() - timedelta(days=1), amount_fen=500, external_userid="wmmine"))
    guide = Client()
    guide.force_login(f.user(brand["corp"], Role.GUIDE, staff=other))
    page = guide.get("/orders/").content.decode()
    assert 'data-order="G1"' in page and 'id="order-count">1 笔订单<' in page and "客户3" not in page
