"""What an operator made can be found and edited in the console: channels, auto-tag rules, lead
forms; edits keep what the console does not show, and over-long text is refused, never cut."""

import re

import pytest
from django.test import Client

from siyu.acquisition import leads
from siyu.acquisition.models import Channel, Lead, LeadForm, LiveCode
from siyu.autotag import services as autotag
from siyu.autotag.models import TagRule
from siyu.kit.tenancy import Role

from .. import factories as f


@pytest.fixture
def site(db):
    corp = f.corp("阿尔法")
    admin = f.user(corp, Role.ADMIN, username="admin")
    client = Client()
    client.force_login(admin)
    actor = f.actor(corp, Role.ADMIN)
    store = Channel.objects.create(corp=corp, name="门店", group="store")
    web = Channel.objects.create(corp=corp, name="官网", group="content")
    return {"client": client, "corp": corp, "actor": actor, "store": store, "web": web}


def _row(page: str, channel: str) -> str:
    return re.search(r'<tr data-channel="' + channel + r'">(?:(?!</tr>).)*</tr>', page, re.S).group(0)


def test_a_channel_is_renamed_and_regrouped_and_a_taken_name_is_refused_on_its_row(site):
    c, store = site["client"], site["store"]
    assert c.post(f"/channels/{store.id}/edit/", {"name": "南京西路店", "group": "event"}).status_code == 302
    store.refresh_from_db()
    assert (store.name, store.group) == ("南京西路店", "event")
    response = c.post(f"/channels/{store.id}/edit/", {"name": "官网", "group": "event"})
    assert response.status_code == 400
    row = _row(response.content.decode(), "南京西路店")
    assert '<details class="rename" open>' in row and "已有名为“官网”的渠道。" in row and 'value="官网"' in row
    assert Channel.objects.get(pk=store.pk).name == "南京西路店"


def test_over_long_names_are_refused_not_cut(site):
    token = f.token(site["actor"].user, site["corp"])
    response = Client().post("/api/v1/channels", {"name": "长" * 65, "group": "store"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert 400 <= response.status_code < 500 and response.json()["error"]["field"] == "name"
    assert not Channel.objects.filter(name__startswith="长").exists()
    page = site["client"].post(f"/channels/{site['store'].id}/edit/", {"name": "长" * 65, "group": "store"}).content.decode()
    assert "最多 64 个字符（现在 65 个）。" in page
    assert Channel.objects.get(pk=site["store"].pk).name == "门店"


def test_a_rule_is_edited_in_the_console_and_keeps_the_conditions_it_does_not_show(site):
    actor = site["actor"]
    group = f.tag_group(actor, "来源", ["门店客", "线上客"])
    shop, online = group.tags.get(name="门店客"), group.tags.get(name="线上客")
    code = LiveCode.objects.create(corp=site["corp"], channel=site["store"], name="前台码", state="s1")
    rule = autotag.rule_save(
        actor=actor,
        name="门店新客",
        conditions=[{"kind": "channel", "in": [site["store"].id]}, {"kind": "live_code", "in": [code.id]}, {"kind": "added_weekday", "in": [6, 7]}],
        add_tag_ids=[shop.id],
    )
    c = site["client"]
    listing = c.get("/tag-rules/").content.decode()
    # Conditions read as words with names, not as stored kinds and ids.
    assert "渠道：门店" in listing and "活码：前台码" in listing and "添加于周六、周日" in listing and "<code>channel</code>" not in listing

    page = c.get(f"/tag-rules/{rule.id}/edit/").content.decode()
    assert 'value="门店新客"' in page and "编辑规则“门店新客”" in page
    store_box = re.search(r'<input type="checkbox" name="channels" value="' + str(site["store"].id) + r'"[^>]*>', page).group(0)
    assert "checked" in store_box
    response = c.post(
        f"/tag-rules/{rule.id}/edit/",
        {"name": "周末门店新客", "match": "all", "channels": [site["store"].id, site["web"].id], "weekdays": ["6"], "add_tags": [online.id]},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = TagRule.objects.get(pk=rule.pk)
    assert rule.name == "周末门店新客" and [t.id for t in rule.add_tags.all()] == [online.id]
    kinds = {c["kind"]: c for c in rule.conditions}
    assert kinds["channel"]["in"] == sorted([site["store"].id, site["web"].id]) and kinds["added_weekday"]["in"] == [6]
    assert kinds["live_code"]["in"] == [code.id]  # set through the API; the console's edit keeps it
    assert TagRule.objects.count() == 1

    guide = Client()
    guide.force_login(f.user(site["corp"], Role.GUIDE, staff=f.staff(site["corp"])))
    assert guide.get(f"/tag-rules/{rule.id}/edit/").status_code == 403


def test_a_lead_form_is_edited_with_its_questions_and_an_over_long_answer_is_refused(site):
    code = LiveCode.objects.create(corp=site["corp"], channel=site["store"], name="留资码", state="s2", mode="exact")
    form = leads.lead_form_save(
        actor=site["actor"],
        name="孕妈福利",
        live_code_id=code.id,
        fields=[
            {"key": "phone", "type": "phone", "label": "手机号", "required": True},
            {"key": "city", "type": "city", "label": "城市", "required": True},
            {"key": "note", "type": "text", "label": "想了解什么", "required": True},
        ],
    )
    c = site["client"]
    page = c.get(f"/lead-forms/{form.id}/edit/").content.decode()
    assert "编辑留资表单“孕妈福利”" in page and 'value="城市"' in page and 'value="想了解什么"' in page and 'value="note"' in page
    questions = [{"label": "城市", "type": "city", "key": "city"}, {"label": "想了解什么", "type": "text", "key": "note"}]
    response = c.post(f"/lead-forms/{form.id}/edit/", f.lead_form_post(questions, name="孕妈福利", title="领取试用装", live_code=code.id))
    assert response.status_code == 302, response.content.decode()[:3000]
    form = LeadForm.objects.get(pk=form.pk)
    assert form.title == "领取试用装" and [q["key"] for q in form.fields] == ["phone", "city", "note"]
    assert LeadForm.objects.count() == 1

    answer = Client().post(f"/f/{form.slug}/", {"phone": "13812345678", "city": "上海", "note": "长" * 101})
    assert answer.status_code == 400 and "最多 100 个字符" in answer.content.decode()
    assert not form.leads.exists()


def test_the_question_editor_adds_edits_and_drops_questions_keeping_answers_keys(site):
    code = LiveCode.objects.create(corp=site["corp"], channel=site["store"], name="默认码", state="s3", mode="exact")
    shanghai = LiveCode.objects.create(corp=site["corp"], channel=site["store"], name="上海码", state="s4", mode="exact")
    c = site["client"]
    questions = [{"label": "城市", "type": "city", "options": "上海, 北京"}, {"label": "宝宝月龄", "type": "select", "options": "孕期，0-6月"}, {"label": ""}]
    r = c.post("/lead-forms/", f.lead_form_post(questions, [("上海", shanghai.id)], name="新客礼", live_code=code.id))
    assert r.status_code == 302, r.content.decode()[:2000]
    form = LeadForm.objects.get()
    assert [(q["label"], q["type"], q.get("options")) for q in form.fields] == [
        ("手机号", "phone", None),
        ("城市", "city", ["上海", "北京"]),
        ("宝宝月龄", "select", ["孕期", "0-6月"]),
    ]
    city, age = form.fields[1]["key"], form.fields[2]["key"]
    assert form.fields[0]["key"] == "phone" and len({city, age}) == 2
    assert form.city_routes == {"上海": shanghai.id}
    # A lead's answers read by their questions, not their keys.
    Lead.objects.create(
        corp=site["corp"], form=form, phone="13812345678", answers={"phone": "13812345678", city: "北京", age: "孕期"}, state="lead1", config_id="cfg1"
    )
    listing = c.get("/lead-forms/").content.decode()
    answers = re.search(r'<td class="small">([^<]*北京[^<]*)</td>', listing).group(1)
    assert answers == "城市： 北京; 宝宝月龄： 孕期"
    # Edited: the first renamed, the second dropped, one added; stored keys stay with their questions.
    edit = [
        {"label": "所在城市", "type": "city", "options": "上海, 北京", "key": city},
        {"label": "宝宝月龄", "type": "select", "options": "孕期", "key": age, "DELETE": "on"},
        {"label": "预产期", "type": "date"},
    ]
    r = c.post(f"/lead-forms/{form.id}/edit/", f.lead_form_post(edit, name="新客礼", live_code=code.id))
    assert r.status_code == 302, r.content.decode()[:2000]
    form.refresh_from_db()
    assert [q["label"] for q in form.fields] == ["手机号", "所在城市", "预产期"]
    assert form.fields[1]["key"] == city and form.fields[2]["key"] not in (city, age)  # a dropped question's key is not reused
    assert form.city_routes == {}
    # A choice without options is refused on its row, what was typed kept, nothing saved.
    r = c.post(f"/lead-forms/{form.id}/edit/", f.lead_form_post([{"label": "喜欢的品类", "type": "select"}], name="新客礼", live_code=code.id))
    page = r.content.decode()
    assert r.status_code == 400 and 'value="喜欢的品类"' in page
    row = re.search(r'<div class="row4 question-row has-error"(?:(?!question-row).)*', page, re.S).group(0)
    assert "选择题需要填写选项" in row and "options_error" in row
    # A city routed nowhere is refused on its row.
    r = c.post(f"/lead-forms/{form.id}/edit/", f.lead_form_post(edit[:1], [("北京", "")], name="新客礼", live_code=code.id))
    assert r.status_code == 400 and "请选择这个城市的线索转到哪个活码" in r.content.decode()
    form.refresh_from_db()
    assert [q["label"] for q in form.fields] == ["手机号", "所在城市", "预产期"]


def test_the_customer_list_and_profile_name_the_channel_not_the_state_code(site):
    code = LiveCode.objects.create(corp=site["corp"], channel=site["store"], name="前台码", state="lc9xq")
    customer = f.customer(site["corp"], "扫码客户")
    f.follow(customer, f.staff(site["corp"], "李导购"), state=code.state)
    listing = site["client"].get("/customers/").content.decode()
    row = re.search(r"<tr>(?:(?!</tr>).)*扫码客户(?:(?!</tr>).)*</tr>", listing, re.S).group(0)
    assert "<td>门店</td>" in row and "lc9xq" not in row
    profile = site["client"].get(f"/customers/{customer.id}/").content.decode()
    assert "<td>门店</td>" in profile and "lc9xq" not in profile
