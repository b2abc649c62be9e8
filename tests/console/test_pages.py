"""Console pages through Django's test client: login, language, dashboard, lists, tag library."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from siyu.corps.models import Corp, Membership
from siyu.corps.services import membership_grant, user_create
from siyu.customers.models import FollowTag
from siyu.kit.tenancy import Role
from siyu.messaging.models import WelcomeSend
from siyu.tags.models import Tag, TagGroup
from siyu.wecom.models import CallbackEvent

from .. import factories as f


@pytest.fixture
def site(db):
    corp = f.corp("阿尔法")
    owner = f.user(corp, Role.OWNER, username="owner")
    admin = f.actor(corp, Role.ADMIN)
    group = f.tag_group(admin, name="等级", tags=["VIP", "新客"])
    vip = group.tags.get(name="VIP")
    s = f.staff(corp, "李导购")
    customer = f.customer(corp, "王小丫", phones=["13812345678"])
    f.follow(customer, s, tags=[vip], state="store-01")
    client = Client()
    client.force_login(owner)
    return {"client": client, "corp": corp, "owner": owner, "vip": vip, "group": group, "customer": customer, "staff": s}


def test_login_required_and_login_works(db):
    corp = f.corp()
    f.user(corp, username="wang")
    client = Client()
    assert client.get("/customers/")["Location"].startswith("/login/")
    response = client.post("/login/", {"username": "wang", "password": "wrong-password"})
    assert response.status_code == 200 and "用户名或密码错误" in response.content.decode()
    response = client.post("/login/", {"username": "wang", "password": f.PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_chinese_first_even_for_english_browsers(site):
    page = site["client"].get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "今日新增" in page and "客户" in page
    site["client"].post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = site["client"].get("/").content.decode()
    assert "New today" in page


def test_dashboard_counts(site):
    page = site["client"].get("/").content.decode()
    assert 'id="stat-customers">1<' in page
    assert 'id="stat-new-today">1<' in page


def test_customer_list_filters_and_htmx_partial(site):
    c = site["client"]
    other = f.customer(site["corp"], "赵无标签")
    f.follow(other, site["staff"])
    # As the browser sends it: every field, the "all staff" option empty.
    page = c.get("/customers/", {"q": "", "staff": "", "state": "", "added_from": "", "tags": [site["vip"].id], "tag_mode": "all"}).content.decode()
    assert "王小丫" in page and "赵无标签" not in page
    partial = c.get("/customers/", {"q": "138123"}, HTTP_HX_REQUEST="true").content.decode()
    assert "王小丫" in partial and "<html" not in partial
    bad = c.get("/customers/", {"added_from": "not-a-date"}).content.decode()
    assert 'id="filter-errors"' in bad


def test_profile_shows_follows_timeline_and_saves_tags(site):
    c = site["client"]
    customer = site["customer"]
    page = c.get(f"/customers/{customer.id}/").content.decode()
    assert "李导购" in page and "store-01" in page and "VIP" in page
    new = site["group"].tags.get(name="新客")
    response = c.post(f"/customers/{customer.id}/tags/", {"tags": [new.id]})
    assert response.status_code == 302
    assert set(FollowTag.objects.filter(follow__customer=customer).values_list("tag__name", flat=True)) == {"新客"}
    page = c.get(f"/customers/{customer.id}/").content.decode()
    assert "打标签" in page and "移除标签" in page


def test_profile_tag_post_rejects_foreign_tags(site):
    other_group = f.tag_group(f.actor(f.corp()), tags=["别家"])
    response = site["client"].post(f"/customers/{site['customer'].id}/tags/", {"tags": [other_group.tags.get().id]})
    assert response.status_code == 400
    assert set(FollowTag.objects.filter(follow__customer=site["customer"]).values_list("tag__name", flat=True)) == {"VIP"}


def test_tag_library_create_and_delete(site):
    c = site["client"]
    c.post("/tags/groups/", {"name": "城市", "tags": "上海，北京, 广州"})
    group = TagGroup.objects.get(name="城市")
    assert list(group.tags.order_by("order").values_list("name", flat=True)) == ["上海", "北京", "广州"]
    c.post(f"/tags/groups/{group.id}/tags/", {"name": "深圳"})
    assert group.tags.filter(name="深圳").exists()
    response = c.post("/tags/groups/", {"name": "城市", "tags": "杭州"})
    assert response.status_code == 400 and "已有名为“城市”的标签组。" in response.content.decode()
    assert TagGroup.objects.filter(name="城市").count() == 1
    # A group needs a tag, as in WeCom.
    response = c.post("/tags/groups/", {"name": "空组", "tags": ""})
    assert response.status_code == 400 and "标签组至少需要一个标签。" in response.content.decode()
    assert not TagGroup.objects.filter(name="空组").exists()
    # Renaming a tag and its group; a name in use is refused on the rename field.
    shanghai = group.tags.get(name="上海")
    assert c.post(f"/tags/{shanghai.id}/rename/", {"name": "上海市"}).status_code == 302
    assert c.post(f"/tags/groups/{group.id}/rename/", {"name": "所在城市"}).status_code == 302
    refused = c.post(f"/tags/{shanghai.id}/rename/", {"name": "北京"})
    assert refused.status_code == 400 and "该标签组中已有名为“北京”的标签。" in refused.content.decode()
    assert set(group.tags.filter(deleted_at__isnull=True).values_list("name", flat=True)) == {"北京", "上海市", "广州", "深圳"}
    # Deleting asks first and says what it takes away; only the confirmation deletes.
    page = c.post(f"/tags/groups/{group.id}/delete/").content.decode()
    assert 'id="confirm-delete"' in page and "所在城市" in page
    assert TagGroup.objects.get(pk=group.pk).deleted_at is None
    c.post(f"/tags/groups/{group.id}/delete/", {"confirm": "yes"})
    assert "所在城市" not in c.get("/tags/").content.decode()


def test_deleting_a_tag_customers_carry_says_how_many_first(site):
    c = site["client"]
    vip = site["vip"]
    page = c.post(f"/tags/{vip.id}/delete/").content.decode()
    assert re.search(r'id="affected"><strong>1 位客户', page)
    assert Tag.objects.get(pk=vip.pk).deleted_at is None
    c.post(f"/tags/{vip.id}/delete/", {"confirm": "yes"})
    assert Tag.objects.get(pk=vip.pk).deleted_at is not None
    assert "VIP" not in c.get(f"/customers/{site['customer'].id}/").content.decode()
    # The last tag of a group takes the group with it, and the page says so first.
    last = site["group"].tags.get(name="新客")
    assert "最后一个标签" in c.post(f"/tags/{last.id}/delete/").content.decode()


def test_guide_has_no_library_controls(site):
    guide = f.user(site["corp"], Role.GUIDE, staff=site["staff"])
    client = Client()
    client.force_login(guide)
    page = client.get("/tags/").content.decode()
    assert "新建标签组" not in page and "VIP" in page
    assert client.post("/tags/groups/", {"name": "越权"}).status_code == 403
    assert not TagGroup.objects.filter(name="越权").exists()


def test_corp_switcher_only_to_own_corps(site):
    mine, foreign = f.corp("贝塔"), f.corp("外人")

    membership_grant(user=site["owner"], corp=mine, role=Role.ADMIN)
    c = site["client"]
    c.post("/switch-corp/", {"corp": site["corp"].id})
    c.post("/switch-corp/", {"corp": foreign.id})
    assert "阿尔法" in c.get("/").content.decode().split("<h1>")[1][:20]
    c.post("/switch-corp/", {"corp": mine.id})
    assert "贝塔" in c.get("/").content.decode().split("<h1>")[1][:20]


def test_user_without_corp_sees_explanation(db):
    client = Client()
    client.force_login(user_create(username="lonely", password="long-enough-1"))
    response = client.get("/")
    assert response.status_code == 403 and "尚无企业权限" in response.content.decode()


def test_healthz(db):
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_api_docs_load_nothing_from_outside(db):
    page = Client().get("/api/docs").content.decode()
    assert "swagger-ui-bundle.js" in page
    external = [u for u in re.findall(r'(?:src|href)="([^"]+)"', page) if u.startswith(("http:", "https:", "//"))]
    assert external == []
    assert Client().get("/api/openapi.json").json()["info"]["title"] == "Siyu API"


def test_tag_library_counts_customers_per_tag(site):
    second = f.customer(site["corp"], "第二位")
    f.follow(second, site["staff"], tags=[site["vip"]])
    f.follow(second, f.staff(site["corp"]), tags=[site["vip"]])  # two follows, still one customer
    page = site["client"].get("/tags/").content.decode()
    counts = dict(re.findall(r'data-tag="([^"]+)">[^<]*<span class="count"[^>]*>(\d+)<', page))
    assert counts == {"VIP": "2", "新客": "0"}


def test_corp_settings_shows_callback_url_and_masks_secrets(site, settings):
    settings.SIYU_PUBLIC_URL = "https://scrm.example.com"
    c = site["client"]
    page = c.get("/corp/").content.decode()
    assert f"https://scrm.example.com/wecom/callback/{site['corp'].corp_id}/" in page
    response = c.post("/corp/", {"secret": "brand-new-secret-9876", "token": "tok", "aes_key": "short"})
    assert response.status_code == 400
    c.post("/corp/", {"secret": "brand-new-secret-9876"})
    page = c.get("/corp/").content.decode()
    assert "••••••••9876" in page and "brand-new-secret" not in page


def test_guides_and_operators_cannot_open_admin_pages(site):
    for role in (Role.GUIDE, Role.OPERATOR):
        user = f.user(site["corp"], role, staff=site["staff"] if role == Role.GUIDE else None)
        client = Client()
        client.force_login(user)
        assert client.get("/corp/").status_code == 403
        assert client.get("/inbox/").status_code == 403


def test_register_corp_is_for_superusers(site):
    assert site["client"].post("/corp/register/", {"name": "x"}).status_code == 403
    site["owner"].is_superuser = True
    site["owner"].save()
    data = {
        "name": "新品牌",
        "corp_id": "wwnewbrand",
        "secret": "s",
        "token": "t",
        "aes_key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        "timezone": "Asia/Shanghai",
    }
    response = site["client"].post("/corp/register/", data)
    assert response.status_code == 302
    corp = Corp.objects.get(corp_id="wwnewbrand")
    assert Membership.objects.get(corp=corp, user=site["owner"]).role == "owner"
    assert "wwnewbrand" in site["client"].get("/corp/").content.decode()
    assert site["client"].post("/corp/register/", data).status_code == 409


def test_inbox_lists_events_and_retries_failed(site):
    corp = site["corp"]
    failed = CallbackEvent.objects.create(
        corp=corp,
        dedupe_key="k1",
        event="change_external_contact",
        change_type="add_external_contact",
        payload={"UserID": "guide0", "ExternalUserID": "wmX"},
        status="failed",
        last_error="WeComError 60011",
    )
    CallbackEvent.objects.create(corp=f.corp(), dedupe_key="k2", event="change_external_contact", change_type="del_follow_user", payload={"UserID": "外企"})
    page = site["client"].get("/inbox/?status=failed").content.decode()
    assert "wmX" in page and "60011" in page and "外企" not in page
    # Statuses and events read in Chinese; WeCom's own names stay beside them for whoever debugs.
    assert "添加客户" in page and '<span class="badge warn">失败</span>' in page and 'data-status="failed">失败 (1)' in page
    assert site["client"].post(f"/inbox/{failed.id}/retry/").status_code == 302
    other = CallbackEvent.objects.get(dedupe_key="k2")
    assert site["client"].post(f"/inbox/{other.id}/retry/").status_code == 404


@pytest.mark.parametrize(
    "url,params,field",
    [
        ("/customers/", {"added_from": "0001-01-01"}, "added_from"),
        ("/customers/", {"added_to": "9999-12-31"}, "added_to"),
        ("/value/funnel/", {"start": "0001-01-01", "end": "2026-01-01"}, "start"),
        ("/value/funnel/", {"start": "2026-01-01", "end": "9999-12-31"}, "end"),
    ],
)
def test_console_dates_at_the_edges_are_an_error_on_the_field(site, url, params, field):
    c = Client()
    c.force_login(site["owner"])
    response = c.get(url, params, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code in (200, 400), response.status_code
    assert "1900" in response.content.decode() and response.context["form"].errors.get(field), response.context["form"].errors


def test_the_welcome_log_names_staff_and_customers_and_a_guide_sees_their_own(site):
    corp, customer, staff = site["corp"], site["customer"], site["staff"]
    other = f.staff(corp, "周导购")
    at = timezone.now()
    for code, who, status, error in (("w1", staff, "sent", ""), ("w2", other, "missed", "window passed"), ("w3", other, "failed", "41051")):
        WelcomeSend.objects.create(
            corp=corp, welcome_code=code, userid=who.userid, external_userid=customer.external_userid, received_at=at, deadline=at, status=status, error=error
        )
    page = site["client"].get("/welcomes/").content.decode()
    assert page.count('class="status-') == 3 and "李导购" in page and "周导购" in page and "王小丫" in page
    assert 'data-status="missed">已错过（超出时限） (1)' in page
    failed = site["client"].get("/welcomes/", {"status": "failed"}).content.decode()
    assert failed.count('class="status-') == 1 and "41051" in failed
    guide = Client()
    guide.force_login(f.user(corp, Role.GUIDE, staff=other))
    mine = guide.get("/welcomes/").content.decode()
    assert mine.count('class="status-') == 2 and "李导购" not in mine
