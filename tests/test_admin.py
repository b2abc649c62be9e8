"""Django admin stays usable for superusers over every registered model."""

import pytest
from django.contrib import admin
from django.test import Client

from siyu.corps.services import corp_create, user_create
from siyu.groups.services import group_apply
from siyu.kit.tenancy import Role

from . import factories as f


@pytest.fixture
def superuser_client(db):
    corp = f.corp()
    actor = f.actor(corp, Role.ADMIN)
    group = f.tag_group(actor, tags=["VIP"])
    customer = f.customer(corp, "管理员可见")
    f.follow(customer, f.staff(corp), tags=[group.tags.get()])
    group_apply(corp=corp, data={"chat_id": "wrADMIN", "name": "管理群", "member_list": [{"userid": customer.external_userid, "type": 2}]})
    client = Client()
    client.force_login(user_create(username="root", password="long-enough-1", is_superuser=True))
    return client


def test_every_admin_changelist_and_change_page_opens(superuser_client):
    for model in admin.site._registry:
        meta = model._meta
        assert superuser_client.get(f"/admin/{meta.app_label}/{meta.model_name}/").status_code == 200, meta.label
        obj = model.objects.first()
        if obj is not None:
            assert superuser_client.get(f"/admin/{meta.app_label}/{meta.model_name}/{obj.pk}/change/").status_code == 200, meta.label


def test_corp_admin_never_shows_ciphertext(superuser_client):
    corp = corp_create(corp_id="wwsecret", name="加密", secret="top-secret-value")
    page = superuser_client.get(f"/admin/corps/corp/{corp.pk}/change/").content.decode()
    assert corp.secret_encrypted not in page and "top-secret-value" not in page


def test_the_admin_names_siyus_apps_and_models_in_chinese(superuser_client):
    page = superuser_client.get("/admin/").content.decode()
    for name in ("企业与人员", "客户", "客户群", "标签库", "员工", "API 令牌", "客户动态", "标签组", "部门", "成员身份"):
        assert f">{name}<" in page, name
    for english in ("Corps and people", "Customer groups", "Timeline events", "Tag groups", "Api tokens", "Memberships", "Staff<"):
        assert english not in page, english
    assert "客户数" not in page
