"""The team in the console: invitations with a one-time link, roles and the staff a guide works as,
removal, API tokens and their revocation, the staff and departments WeCom holds."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from siyu.corps.models import ApiToken, Invitation, Membership, User
from siyu.corps.services import department_upsert, staff_upsert
from siyu.kit.tenancy import Role

from .. import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(corp):
    owner = f.user(corp, role=Role.OWNER, username="laoban")
    admin = f.user(corp, role=Role.ADMIN, username="guanli")
    hq = department_upsert(corp=corp, wecom_id=1, name="总部")
    east = department_upsert(corp=corp, wecom_id=2, name="华东区", parent=hq)
    wang = staff_upsert(corp=corp, userid="wang", name="王导购", department=east)
    li = staff_upsert(corp=corp, userid="li", name="李导购", department=hq)
    for i in range(3):
        f.follow(f.customer(corp, f"王的客户{i}"), wang)
    f.follow(f.customer(corp, "李的客户"), li)
    return {"corp": corp, "owner": owner, "admin": admin, "wang": wang, "li": li, "east": east}


def _as(user):
    client = Client()
    client.force_login(user)
    return client


def _logs_in(username, password) -> bool:
    r = Client().post(reverse("console:login"), {"username": username, "password": password})
    return r.status_code == 302


def _invite(client, **data):
    return client.post(reverse("console:team"), {"role": Role.OPERATOR, "staff": "", "email": "", **data})


def test_an_invited_member_chooses_a_password_through_a_link_that_works_once(team):
    r = _invite(_as(team["admin"]), username="xiaozhang", role=Role.OPERATOR)
    assert r.status_code == 200
    link = re.search(r'value="(http[^"]+/invitation/[^"]+/)"', r.content.decode()).group(1)
    path = link.split("://", 1)[1].split("/", 1)[1]
    assert Membership.objects.get(user__username="xiaozhang").role == Role.OPERATOR
    assert not _logs_in("xiaozhang", "")  # no password until the link is used
    visitor = Client()
    page = visitor.get(f"/{path}")
    assert page.status_code == 200 and "Alpha 母婴" in page.content.decode()
    r = visitor.post(f"/{path}", {"password": "1234", "again": "1234"})
    assert r.status_code == 400 and "密码" in r.content.decode() and 'class="field-error"' in r.content.decode()
    r = visitor.post(f"/{path}", {"password": "yunying-2027!", "again": "yunying-2028!"})
    assert r.status_code == 400 and "两次输入的密码不一致" in r.content.decode()
    r = visitor.post(f"/{path}", {"password": "yunying-2027!", "again": "yunying-2027!"})
    assert r.status_code == 302 and r["Location"] == reverse("console:dashboard")
    assert visitor.get(reverse("console:dashboard")).status_code == 200  # logged in
    assert _logs_in("xiaozhang", "yunying-2027!")
    # Spent: the link opens nothing now, nor may it reset the password.
    again = Client().post(f"/{path}", {"password": "another-pass-9", "again": "another-pass-9"})
    assert again.status_code == 400 and "邀请链接已使用或已过期" in again.content.decode()
    assert Client().get(f"/{path}").status_code == 404
    assert _logs_in("xiaozhang", "yunying-2027!")


def test_an_expired_invitation_opens_nothing(team):
    r = _invite(_as(team["owner"]), username="late")
    key_path = re.search(r'value="http[^"]+(/invitation/[^"]+/)"', r.content.decode()).group(1)
    Invitation.objects.update(expires_at=Invitation.objects.get().created_at - timedelta(seconds=1))
    assert Client().post(key_path, {"password": "yunying-2027!", "again": "yunying-2027!"}).status_code == 400
    assert not _logs_in("late", "yunying-2027!")


def test_a_taken_username_and_a_guide_without_staff_are_refused_on_their_fields(team):
    client = _as(team["admin"])
    r = _invite(client, username="LaoBan")
    assert r.status_code == 400 and 'id="id_username_error"' in r.content.decode() and "已被使用" in r.content.decode()
    r = _invite(client, username="xiaoli", role=Role.GUIDE)
    assert r.status_code == 400 and 'id="id_staff_error"' in r.content.decode()
    assert 'value="xiaoli"' in r.content.decode()  # what was typed stays
    assert not User.objects.filter(username="xiaoli").exists()


def test_a_guide_linked_to_their_staff_member_sees_only_that_staff_members_customers(team):
    client = _as(team["owner"])
    r = _invite(client, username="daogou", role=Role.GUIDE, staff=team["wang"].id)
    assert r.status_code == 200
    guide = User.objects.get(username="daogou")
    names = {c.name for c, _i, _v in _as(guide).get(reverse("console:customers")).context["rows"]}
    assert names == {"王的客户0", "王的客户1", "王的客户2"}
    # Moved to Li's counter: the link changes, and with it what they see.
    membership = Membership.objects.get(user=guide)
    r = client.post(reverse("console:member_edit", args=[membership.id]), {"role": Role.GUIDE, "staff": team["li"].id})
    assert r.status_code == 302
    names = {c.name for c, _i, _v in _as(guide).get(reverse("console:customers")).context["rows"]}
    assert names == {"李的客户"}
    # A guide needs a staff member: refused on the row's staff field, nothing changed.
    r = client.post(reverse("console:member_edit", args=[membership.id]), {"role": Role.GUIDE, "staff": ""})
    assert r.status_code == 400 and f'id="m{membership.id}_staff_error"' in r.content.decode()
    assert Membership.objects.get(user=guide).staff_id == team["li"].id


def test_owners_are_an_owners_to_make_change_or_remove_and_a_corp_keeps_one(team):
    admin, owner = _as(team["admin"]), _as(team["owner"])
    owner_membership = Membership.objects.get(user=team["owner"])
    assert 'value="owner"' not in admin.get(reverse("console:team")).content.decode()  # not offered to an admin
    assert _invite(admin, username="boss2", role=Role.OWNER).status_code == 400  # not a choice they have
    assert not User.objects.filter(username="boss2").exists()
    assert admin.post(reverse("console:member_edit", args=[owner_membership.id]), {"role": Role.OPERATOR}).status_code == 403
    assert admin.post(reverse("console:member_remove", args=[owner_membership.id])).status_code == 403
    # The only owner cannot step down or leave.
    r = owner.post(reverse("console:member_edit", args=[owner_membership.id]), {"role": Role.ADMIN})
    assert r.status_code == 400 and "至少保留一位所有者" in r.content.decode()
    assert owner.post(reverse("console:member_remove", args=[owner_membership.id])).status_code == 400
    assert Membership.objects.get(pk=owner_membership.pk).role == Role.OWNER
    # With a second owner, they can.
    admin_membership = Membership.objects.get(user=team["admin"])
    assert owner.post(reverse("console:member_edit", args=[admin_membership.id]), {"role": Role.OWNER}).status_code == 302
    assert owner.post(reverse("console:member_edit", args=[owner_membership.id]), {"role": Role.ADMIN}).status_code == 302
    assert Membership.objects.get(pk=owner_membership.pk).role == Role.ADMIN
    # Operators and guides do not manage the team.
    operator = f.user(team["corp"], role=Role.OPERATOR)
    assert _as(operator).get(reverse("console:team")).status_code == 403


def test_a_removed_member_loses_the_corp_and_their_tokens(team, make_api):
    member = f.user(team["corp"], role=Role.OPERATOR, username="leaving")
    api = make_api(member, team["corp"])
    assert api.get("/api/v1/me").status_code == 200
    membership = Membership.objects.get(user=member)
    r = _as(team["admin"]).post(reverse("console:member_remove", args=[membership.id]))
    assert r.status_code == 302
    assert api.get("/api/v1/me").status_code == 401
    assert _as(member).get(reverse("console:dashboard")).status_code == 403  # no corp any more
    assert User.objects.filter(username="leaving").exists()  # the account stays for other corps


def test_tokens_are_made_shown_once_and_revoked_by_their_owner_or_an_admin(team):
    operator = f.user(team["corp"], role=Role.OPERATOR, username="yunying")
    client = _as(operator)
    r = client.post(reverse("console:tokens"), {"name": "门店收银对接"})
    assert r.status_code == 200
    raw = re.search(r'value="(siyu_[^"]+)"', r.content.decode()).group(1)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert Client().get("/api/v1/me", **headers).json()["role"] == Role.OPERATOR
    page = client.get(reverse("console:tokens")).content.decode()
    assert "门店收银对接" in page and raw not in page  # never shown again
    token = ApiToken.objects.get(name="门店收银对接")
    # Another operator neither sees nor revokes it; an admin sees and revokes anyone's.
    other = _as(f.user(team["corp"], role=Role.OPERATOR))
    assert "门店收银对接" not in other.get(reverse("console:tokens")).content.decode()
    assert other.post(reverse("console:token_revoke", args=[token.id])).status_code == 404
    admin = _as(team["admin"])
    assert "门店收银对接" in admin.get(reverse("console:tokens")).content.decode()
    assert admin.post(reverse("console:token_revoke", args=[token.id])).status_code == 302
    assert Client().get("/api/v1/me", **headers).status_code == 401
    r = client.post(reverse("console:tokens"), {"name": ""})
    assert r.status_code == 400 and 'id="id_name_error"' in r.content.decode()


def test_staff_and_departments_as_wecom_has_them(team):
    daogou = f.user(team["corp"], role=Role.GUIDE, staff=team["wang"], username="wang-console")
    client = _as(team["admin"])
    page = client.get(reverse("console:staff")).content.decode()
    assert "总部" in page and "华东区" in page and 'class="depth-1"' in page
    rows = {s.userid: s for s in client.get(reverse("console:staff")).context["staff"]}
    assert (rows["wang"].customer_count, rows["li"].customer_count) == (3, 1)
    assert rows["wang"].accounts == ["wang-console"]
    east = client.get(reverse("console:staff"), {"department": team["east"].id}).context["staff"]
    assert [s.userid for s in east] == ["wang"]
    assert [s.userid for s in client.get(reverse("console:staff"), {"q": "李"}).context["staff"]] == ["li"]
    assert _as(daogou).get(reverse("console:staff")).status_code == 403
