"""The customer list a team works from: orders that page correctly, filters by channel name, RFM
class, purchases, group and gender, bulk tagging that reaches WeCom, and the export of what is shown."""

import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from siyu.acquisition import services as acquisition
from siyu.acquisition.models import Acquisition
from siyu.analytics.models import CustomerClv
from siyu.console import views
from siyu.customers.models import Customer, Follow, FollowTag, TimelineEvent
from siyu.groups.models import CustomerGroup, GroupMember
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.orders.services import OrderIn, order_upsert
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbContactWay
from siyu.tags.models import Tag

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..autotag.test_rules import push_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(corp):
    """Twelve customers: spend, last order, CLV and add times spread with ties; two channels;
    a group; genders; two guides."""
    wang, li = f.staff(corp, "王导购"), f.staff(corp, "李导购")
    actor = f.actor(corp)
    store = acquisition.channel_create(actor=actor, name="门店地推", group="store")
    web = acquisition.channel_create(actor=actor, name="官网", group="website")
    group = CustomerGroup.objects.create(corp=corp, chat_id="wrg1", name="宝妈一群", owner=wang)
    start = now() - timedelta(days=40)
    people = []
    for i in range(12):
        c = f.customer(corp, f"客户{i:02d}", gender=i % 3)
        staff = wang if i < 8 else li
        added = start + timedelta(days=i % 5, hours=i)  # several on one day, none at one instant
        follow = f.follow(c, staff, added_at=added)
        channel = store if i % 2 == 0 else web
        Acquisition.objects.create(corp=corp, follow=follow, customer=c, staff=staff, channel=channel, added_at=added, day=added.date())
        if i % 4 == 0:
            GroupMember.objects.create(corp=corp, group=group, userid=c.external_userid, type=2, customer=c)
        if i < 9:  # three never bought
            for k in range(1 + i % 3):
                amount = 10000 * (1 + i % 4)  # equal spends: ties the order must break by id
                data = OrderIn(order_no=f"O{i}-{k}", paid_at=now() - timedelta(days=i + k), amount_fen=amount, external_userid=c.external_userid)
                order_upsert(corp=corp, data=data)
        if i < 6:
            CustomerClv.objects.create(corp=corp, customer=c, clv_fen=5000 * (i % 3), p_alive=0.5, expected_purchases=1, expected_spend_fen=100)
        people.append(c)
    tags = f.tag_group(actor, "意向", ["高意向", "待回访"])
    return {"corp": corp, "people": people, "store": store, "web": web, "group": group, "wang": wang, "li": li, "tags": {t.name: t for t in tags.tags.all()}}


def _operator(corp):
    client = Client()
    client.force_login(f.user(corp, role=Role.OPERATOR))
    return client


def _all_pages(client, params, monkeypatch, page_size=5):
    """Every row of the list, page by page, following the pager's cursor."""
    monkeypatch.setattr(views, "PAGE_SIZE", page_size)
    names, cursor, pages = [], None, 0
    while True:
        r = client.get(reverse("console:customers"), {**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        names += [c.name for c, _info, _value in r.context["rows"]]
        pages += 1
        if not r.context["next_query"]:
            return names, pages
        cursor = dict(pair.split("=", 1) for pair in r.context["next_query"].split("&"))["cursor"]


def _expected(people, key, reverse_=True):
    return [c.name for c in sorted(people, key=lambda c: (key(c), c.id), reverse=reverse_)]


@pytest.mark.parametrize("sort", ["-spent", "-last_order", "-clv", "-added", "added"])
def test_each_order_pages_through_every_customer_once_in_order(book, sort, monkeypatch):
    people = [Customer.objects.select_related("value").get(pk=c.pk) for c in book["people"]]
    epoch = now() - timedelta(days=100_000)

    def spent(c):
        return getattr(getattr(c, "value", None), "net_fen", 0) or 0

    def last(c):
        v = getattr(c, "value", None)
        return v.last_paid_at if v and v.last_paid_at else epoch

    clv = {row.customer_id: row.clv_fen for row in CustomerClv.objects.all()}
    added = {fl.customer_id: fl.added_at for fl in Follow.objects.all()}
    keys = {"-spent": spent, "-last_order": last, "-clv": lambda c: clv.get(c.id, 0), "-added": lambda c: added[c.id], "added": lambda c: added[c.id]}
    names, pages = _all_pages(_operator(book["corp"]), {"sort": sort}, monkeypatch)
    assert names == _expected(people, keys[sort], reverse_=sort.startswith("-"))
    assert pages == 3


def test_filters_by_channel_name_class_purchases_group_and_gender(book):
    client = _operator(book["corp"])
    people = book["people"]

    def shown(**params):
        r = client.get(reverse("console:customers"), params)
        assert r.status_code == 200, r.content.decode()[:500]
        return sorted(c.name for c, _info, _value in r.context["rows"])

    page = client.get(reverse("console:customers")).content.decode()
    assert "门店地推" in page and "官网" in page  # channels are offered by name
    assert shown(channel=book["web"].id) == sorted(c.name for i, c in enumerate(people) if i % 2 == 1)
    assert shown(buyers="no") == ["客户09", "客户10", "客户11"]
    assert shown(buyers="yes", channel=book["store"].id) == ["客户00", "客户02", "客户04", "客户06", "客户08"]
    assert shown(group=book["group"].id) == ["客户00", "客户04", "客户08"]
    assert shown(gender=2) == sorted(c.name for i, c in enumerate(people) if i % 3 == 2)
    # RFM: the class each buyer is in, as the RFM page counts it.
    classes = client.get(reverse("console:customers"), {"rfm": "A"}).context["rows"]
    assert classes and all(value["rfm"].letter == "A" for _c, _info, value in classes)
    everyone = set(shown())
    by_class = set()
    for letter in "ABCDEFGH":
        by_class |= set(shown(rfm=letter))
    assert by_class == everyone - {"客户09", "客户10", "客户11"}
    # A value no filter knows is an error on its field, in Chinese, not a 500.
    r = client.get(reverse("console:customers"), {"rfm": "Z"}, HTTP_HX_REQUEST="true")
    assert "RFM 类型" in r.content.decode() and "filter-errors" in r.content.decode()


def test_bulk_tagging_ticked_or_all_that_match_is_recorded(book):
    client = _operator(book["corp"])
    people, tags = book["people"], book["tags"]
    r = client.post(
        reverse("console:customer_bulk_tags"),
        {"scope": "selected", "customers": [people[0].id, people[1].id], "add": [tags["高意向"].id], "query": "buyers=yes"},
    )
    assert r.status_code == 302 and r["Location"] == "/customers/?buyers=yes"
    tagged = set(FollowTag.objects.filter(tag=tags["高意向"]).values_list("follow__customer__name", flat=True))
    assert tagged == {"客户00", "客户01"}
    assert TimelineEvent.objects.filter(kind="tagged", customer=people[0], data__tags=["高意向"]).count() == 1
    # All that match the list's filters: the three who never bought.
    r = client.post(reverse("console:customer_bulk_tags"), {"scope": "all", "add": [tags["待回访"].id], "remove": [tags["高意向"].id], "query": "buyers=no"})
    assert r.status_code == 302
    assert set(FollowTag.objects.filter(tag=tags["待回访"]).values_list("follow__customer__name", flat=True)) == {"客户09", "客户10", "客户11"}
    assert set(FollowTag.objects.filter(tag=tags["高意向"]).values_list("follow__customer__name", flat=True)) == {"客户00", "客户01"}
    # Again: nothing changes, nothing recorded twice.
    before = TimelineEvent.objects.count()
    client.post(reverse("console:customer_bulk_tags"), {"scope": "all", "add": [tags["待回访"].id], "query": "buyers=no"})
    assert TimelineEvent.objects.count() == before


def test_a_refused_bulk_action_says_why_next_to_the_field_and_keeps_the_ticks(book):
    client = _operator(book["corp"])
    people = book["people"]
    before = FollowTag.objects.count()
    r = client.post(reverse("console:customer_bulk_tags"), {"scope": "selected", "customers": [people[3].id], "query": "sort=-spent"})
    assert r.status_code == 400
    page = r.content.decode()
    assert 'id="id_add_error"' in page and "请至少选择一个要打上或移除的标签" in page
    assert f'value="{people[3].id}" form="bulk-tags" aria-label="{people[3].name}" checked' in page
    assert r.context["form"].cleaned_data["sort"] == "-spent"  # the list is shown as it was
    r = client.post(reverse("console:customer_bulk_tags"), {"scope": "selected", "add": [book["tags"]["高意向"].id]})
    assert r.status_code == 400 and 'id="id_customers_error"' in r.content.decode()
    assert FollowTag.objects.count() == before


def test_a_guide_tags_in_bulk_only_through_their_own_follows(book):
    corp, people, tags = book["corp"], book["people"], book["tags"]
    guide = Client()
    guide.force_login(f.user(corp, role=Role.GUIDE, staff=book["li"]))
    shared = people[0]  # Wang's customer, whom Li follows too
    f.follow(shared, book["li"])
    ticked = [shared.id, people[1].id, people[9].id]
    r = guide.post(reverse("console:customer_bulk_tags"), {"scope": "selected", "customers": ticked, "add": [tags["高意向"].id]})
    assert r.status_code == 302
    tagged = set(FollowTag.objects.filter(tag=tags["高意向"]).values_list("follow__customer__name", "follow__staff__name"))
    assert tagged == {("客户00", "李导购"), ("客户09", "李导购")}  # not Wang's follows, not Wang's customer 01
    r = guide.post(reverse("console:customer_bulk_tags"), {"scope": "all", "add": [tags["待回访"].id]})
    assert set(FollowTag.objects.filter(tag=tags["待回访"]).values_list("follow__staff__name", flat=True)) == {"李导购"}
    assert guide.get(reverse("console:customers_xlsx")).status_code == 403  # exports are a manager's


def test_the_export_is_what_the_list_shows_in_its_order(book):
    client = _operator(book["corp"])
    params = {"buyers": "yes", "channel": book["store"].id, "sort": "-spent"}
    shown = [c.name for c, _info, _value in client.get(reverse("console:customers"), params).context["rows"]]
    r = client.get(reverse("console:customers_xlsx"), params)
    assert r.status_code == 200 and r["Content-Disposition"].startswith("attachment")
    rows = list(load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    heading = rows[0]
    assert [row[heading.index("名称")] for row in rows[1:]] == shown
    assert all(row[heading.index("消费金额（元）")] > 0 for row in rows[1:])


def test_bulk_tags_reach_wecom(hub, django_capture_on_commit_callbacks):
    """A tag an operator puts on customers in Siyu is marked in WeCom too; otherwise the next read
    of the contact, which mirrors WeCom, would take it away again."""
    way = SbContactWay.objects.get(
        config_id=acquisition.live_code_push(
            acquisition.live_code_save(
                actor=hub.actor, channel=acquisition.channel_create(actor=hub.actor, name="门店"), name="码", members=[{"staff_id": hub.staff[0].id}]
            ).pk
        ).config_id
    )
    scanned = [sb.customer_scans_contact_way(way, name=f"客{i}")[0] for i in range(3)]
    hub.handle_callbacks()
    tag = f.tag_group(hub.actor, "意向", ["高意向"]).tags.get()
    client = Client()
    client.force_login(f.user(hub.corp, role=Role.OPERATOR))
    ids = list(Customer.objects.filter(external_userid__in=[s.customer.external_userid for s in scanned[:2]]).values_list("id", flat=True))
    with django_capture_on_commit_callbacks(execute=True):  # the request's commit queues the push
        r = client.post(reverse("console:customer_bulk_tags"), {"scope": "selected", "customers": ids, "add": [tag.id]})
    assert r.status_code == 302
    assert push_tasks() == ["marked 2"]
    tag.refresh_from_db()
    for s, expected in zip(scanned, (True, True, False)):
        s.refresh_from_db()
        assert (tag.wecom_tag_id in s.tag_ids) is expected
    # The next edit callback reads WeCom's tags back: they stay.
    sb.staff_edits_customer(scanned[0], remark="老客")
    hub.handle_callbacks()
    assert Follow.objects.get(customer__external_userid=scanned[0].customer.external_userid).tags.filter(pk=tag.pk).exists()
    assert Tag.objects.filter(pk=tag.pk, wecom_tag_id__isnull=False).exists()
