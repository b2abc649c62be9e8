"""A guide sees and touches only the customers they follow; an admin sees the corp."""

import pytest
from django.test import Client

from siyu.customers.models import FollowTag
from siyu.kit.tenancy import Role

from .. import factories as f


@pytest.fixture
def shop(db):
    corp = f.corp()
    admin = f.actor(corp, Role.ADMIN)
    tag = f.tag_group(admin, tags=["VIP"]).tags.get()
    mine_staff, other_staff = f.staff(corp, "我"), f.staff(corp, "同事")
    guide = f.user(corp, Role.GUIDE, staff=mine_staff)
    mine = f.customer(corp, "我的客户")
    f.follow(mine, mine_staff)
    theirs = f.customer(corp, "同事的客户")
    f.follow(theirs, other_staff, tags=[tag])
    shared = f.customer(corp, "共同客户")
    f.follow(shared, mine_staff)
    f.follow(shared, other_staff, tags=[tag], remark="同事的备注")
    return {"corp": corp, "guide": guide, "admin": admin, "tag": tag, "mine": mine, "theirs": theirs, "shared": shared, "me": mine_staff, "other": other_staff}


def test_api_guide_lists_only_followed_customers(shop, make_api):
    api = make_api(shop["guide"], shop["corp"])
    ids = {i["id"] for i in api.get("/api/v1/customers").json()["items"]}
    assert ids == {shop["mine"].id, shop["shared"].id}
    # The colleague's tag on the shared customer is the colleague's, not shown to this guide.
    assert api.get("/api/v1/customers", tags_any=[shop["tag"].id]).json()["items"] == []


def test_api_guide_gets_404_for_others_customers(shop, make_api):
    api = make_api(shop["guide"], shop["corp"])
    assert api.get(f"/api/v1/customers/{shop['theirs'].id}").status_code == 404
    response = api.post(f"/api/v1/customers/{shop['theirs'].id}/tags", {"add": [shop["tag"].id]})
    assert response.status_code == 404
    detail = api.get(f"/api/v1/customers/{shop['shared'].id}").json()
    assert [fl["staff_id"] for fl in detail["follows"]] == [shop["me"].id]
    assert "同事的备注" not in str(detail)


def test_api_guide_tags_only_through_own_follow(shop, make_api):
    api = make_api(shop["guide"], shop["corp"])
    response = api.post(f"/api/v1/customers/{shop['shared'].id}/tags", {"add": [shop["tag"].id], "staff_id": shop["other"].id})
    assert response.status_code == 200
    assert response.json()["added"] == [{"staff_id": shop["me"].id, "tag_id": shop["tag"].id}]
    on = set(FollowTag.objects.filter(follow__customer=shop["shared"]).values_list("follow__staff_id", flat=True))
    assert on == {shop["me"].id, shop["other"].id}


def test_api_guide_cannot_change_the_tag_library(shop, make_api):
    api = make_api(shop["guide"], shop["corp"])
    response = api.post("/api/v1/tag-groups", {"name": "新组"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_forbidden"


def test_api_admin_sees_the_corp(shop, make_api):
    api = make_api(shop["admin"].user, shop["corp"])
    ids = {i["id"] for i in api.get("/api/v1/customers").json()["items"]}
    assert ids == {shop["mine"].id, shop["theirs"].id, shop["shared"].id}


def test_console_guide_sees_only_followed_customers(shop):
    client = Client()
    client.force_login(shop["guide"])
    page = client.get("/customers/").content.decode()
    assert "我的客户" in page and "共同客户" in page
    assert "同事的客户" not in page
    assert client.get(f"/customers/{shop['theirs'].id}/").status_code == 404
    assert client.get(f"/customers/{shop['mine'].id}/").status_code == 200
    assert client.post(f"/customers/{shop['theirs'].id}/tags/", {"tags": [shop["tag"].id]}).status_code == 404
    assert not FollowTag.objects.filter(follow__customer=shop["theirs"], follow__staff=shop["me"]).exists()


def test_console_admin_sees_the_corp(shop):
    client = Client()
    client.force_login(shop["admin"].user)
    page = client.get("/customers/").content.decode()
    assert all(name in page for name in ("我的客户", "同事的客户", "共同客户"))
