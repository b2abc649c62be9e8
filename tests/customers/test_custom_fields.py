"""Custom customer fields: HQ defines them, anyone who may see a customer fills them in (service,
API, console profile). Values are typed (a date is a date, a number a number, a choice one of
its choices), a bad one refuses the whole save and names the field, every change is on the
timeline and announced once, and one corp's fields and values never reach another."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from siyu.analytics import segments
from siyu.corps.models import Corp
from siyu.customers import fields as services
from siyu.customers import selectors, stages
from siyu.customers.events import CustomerFieldsChanged, CustomerStagesChanged
from siyu.customers.models import Customer, CustomerFieldValue, CustomerStage, CustomField, LifecycleStage, TimelineEvent
from siyu.kit.clock import now
from siyu.kit.errors import Forbidden, InvalidInput
from siyu.kit.events import subscribed
from siyu.kit.tenancy import Role

from .. import factories as f
from ..conftest import ApiClient


@pytest.fixture
def shop(corp):
    admin = f.actor(corp)
    staff = [f.staff(corp, f"导购{i}", userid=f"guide{i}") for i in range(2)]
    mine, theirs = f.customer(corp, "王妈妈"), f.customer(corp, "李妈妈")
    f.follow(mine, staff[0])
    f.follow(theirs, staff[1])
    made = {
        "birth": services.custom_field_save(actor=admin, name="宝宝生日", key="baby_birth_date", kind="date"),
        "stage": services.custom_field_save(actor=admin, name="奶粉段数", key="formula_stage", kind="choice", choices=["1段", "2段", "3段", " 2段 ", ""]),
        "budget": services.custom_field_save(actor=admin, name="月预算", key="monthly_budget", kind="number", position=5),
        "city": services.custom_field_save(actor=admin, name="城市", key="city", kind="text", position=9),
    }
    guide = f.actor(corp, role=Role.GUIDE, staff=staff[0])
    return {"admin": admin, "guide": guide, "staff": staff, "mine": mine, "theirs": theirs, **made}


def _values(customer) -> dict:
    return {v.field.key: (v.text, v.number, v.date) for v in CustomerFieldValue.objects.filter(customer=customer).select_related("field")}


def test_fields_are_typed_and_changes_are_recorded_once(shop):
    assert shop["stage"].choices == ["1段", "2段", "3段"]  # blanks and repeats dropped
    seen = []
    with subscribed(CustomerFieldsChanged, seen.append):
        changed = services.customer_fields_set(
            actor=shop["guide"], customer=shop["mine"], values={"baby_birth_date": "2026-05-18", "formula_stage": "2段", "monthly_budget": "680.5"}
        )
    assert changed == {"baby_birth_date": ("", "2026-05-18"), "formula_stage": ("", "2段"), "monthly_budget": ("", "680.5")}
    assert _values(shop["mine"]) == {
        "baby_birth_date": ("", None, date(2026, 5, 18)),
        "formula_stage": ("2段", None, None),
        "monthly_budget": ("", Decimal("680.50"), None),
    }
    assert [(e.customer_id, e.changed[0][0]) for e in seen] == [(shop["mine"].pk, "baby_birth_date")]
    entry = TimelineEvent.objects.get(customer=shop["mine"], kind="profile_updated")
    assert entry.staff_id == shop["staff"][0].pk and ["宝宝生日", "", "2026-05-18"] in entry.data["fields"]

    # The same values again change nothing and record nothing; an empty value clears.
    assert services.customer_fields_set(actor=shop["guide"], customer=shop["mine"], values={"monthly_budget": "680.50", "formula_stage": "2段"}) == {}
    assert services.customer_fields_set(actor=shop["guide"], customer=shop["mine"], values={"formula_stage": ""}) == {"formula_stage": ("2段", "")}
    assert TimelineEvent.objects.filter(customer=shop["mine"], kind="profile_updated").count() == 2
    shown = {s.field.key: s.value for s in selectors.customer_fields(shop["guide"], shop["mine"])}
    assert shown == {"baby_birth_date": "2026-05-18", "formula_stage": "", "monthly_budget": "680.5", "city": ""}


@pytest.mark.parametrize(
    ("values", "code", "field"),
    [
        ({"baby_birth_date": "2026-13-01"}, "bad_date", "fields.baby_birth_date"),
        ({"monthly_budget": "很多"}, "bad_number", "fields.monthly_budget"),
        ({"monthly_budget": "1e20"}, "bad_number", "fields.monthly_budget"),
        ({"formula_stage": "4段"}, "bad_choice", "fields.formula_stage"),
        ({"city": "上" * 201}, "text_too_long", "fields.city"),
        ({"shoe_size": "38"}, "unknown_field", "fields.shoe_size"),
    ],
)
def test_one_bad_value_refuses_the_whole_save_and_names_its_field(shop, values, code, field):
    with pytest.raises(InvalidInput) as refused:
        services.customer_fields_set(actor=shop["guide"], customer=shop["mine"], values={"city": "上海", **values})
    assert (refused.value.code, refused.value.field) == (code, field)
    assert _values(shop["mine"]) == {}  # not even the good city
    assert not TimelineEvent.objects.filter(kind="profile_updated").exists()


def test_only_managers_define_fields_and_definitions_are_checked(shop, corp):
    with pytest.raises(Forbidden):
        services.custom_field_save(actor=shop["guide"], name="鞋码", key="shoe_size", kind="number")
    admin = shop["admin"]
    for kwargs, code in [
        ({"name": "鞋码", "key": "Shoe Size", "kind": "number"}, "bad_key"),
        ({"name": "鞋码", "key": "shoe_size", "kind": "colour"}, "bad_kind"),
        ({"name": "城市", "key": "home_city", "kind": "text"}, "duplicate_name"),
        ({"name": "出生城市", "key": "city", "kind": "text"}, "duplicate_key"),
        ({"name": "口味", "key": "flavour", "kind": "choice", "choices": [" "]}, "no_choices"),
        ({"name": "", "key": "flavour", "kind": "text"}, "bad_name"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            services.custom_field_save(actor=admin, **kwargs)
        assert refused.value.code == code, kwargs
    # A choice customers have cannot be dropped; the kind is fixed.
    services.customer_fields_set(actor=admin, customer=shop["theirs"], values={"formula_stage": "3段"})
    with pytest.raises(InvalidInput) as refused:
        services.custom_field_save(actor=admin, field=shop["stage"], name="奶粉段数", kind="choice", choices=["1段", "2段"])
    assert (refused.value.code, refused.value.field) == ("choice_in_use", "choices")
    with pytest.raises(InvalidInput):
        services.custom_field_save(actor=admin, field=shop["stage"], name="奶粉段数", kind="text")
    services.custom_field_save(actor=admin, field=shop["stage"], name="奶粉段数", kind="choice", choices=["1段", "2段", "3段", "4段"])
    # Archived: no longer shown or settable, its value kept, its key still taken.
    services.custom_field_archive(actor=admin, field=shop["city"])
    assert "city" not in [s.field.key for s in selectors.customer_fields(admin, shop["mine"])]
    with pytest.raises(InvalidInput) as refused:
        services.customer_fields_set(actor=admin, customer=shop["mine"], values={"city": "北京"})
    assert refused.value.code == "unknown_field"
    with pytest.raises(InvalidInput):
        services.custom_field_save(actor=admin, name="城市2", key="city", kind="text")


def test_api_defines_and_fills_fields_within_the_callers_scope(shop, corp):
    api = ApiClient(f.token(f.user(corp, Role.OPERATOR), corp))
    made = api.post("/api/v1/custom-fields", {"key": "due_date", "name": "预产期", "kind": "date"})
    assert made.status_code == 201 and made.json()["kind"] == "date"
    refused = api.post("/api/v1/custom-fields", {"key": "due_date", "name": "预产期2", "kind": "date"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "duplicate_key"
    renamed = api.put(f"/api/v1/custom-fields/{made.json()['id']}", {"name": "预产日期"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "预产日期"
    assert [x["key"] for x in api.get("/api/v1/custom-fields").json()] == ["baby_birth_date", "formula_stage", "due_date", "monthly_budget", "city"]

    guide_user = f.user(corp, Role.GUIDE, staff=shop["staff"][0])
    guide = ApiClient(f.token(guide_user, corp))
    assert guide.post("/api/v1/custom-fields", {"key": "x1", "name": "x", "kind": "text"}).status_code == 403
    put = guide.put(f"/api/v1/customers/{shop['mine'].id}/fields", {"values": {"due_date": "2027-01-09", "monthly_budget": 300}})
    assert put.status_code == 200, put.content
    assert put.json()["changed"] == {"due_date": ["", "2027-01-09"], "monthly_budget": ["", "300"]}
    detail = guide.get(f"/api/v1/customers/{shop['mine'].id}").json()
    assert {x["key"]: x["value"] for x in detail["fields"]}["due_date"] == "2027-01-09"
    bad = guide.put(f"/api/v1/customers/{shop['mine'].id}/fields", {"values": {"due_date": "明年"}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "fields.due_date"
    # Another guide's customer is not there for this guide.
    assert guide.put(f"/api/v1/customers/{shop['theirs'].id}/fields", {"values": {"due_date": "2027-01-09"}}).status_code == 404
    assert not CustomerFieldValue.objects.filter(customer=shop["theirs"]).exists()

    # Another corp sees none of it.
    other = f.corp()
    outsider = ApiClient(f.token(f.user(other), other))
    assert outsider.get("/api/v1/custom-fields").json() == []
    assert outsider.put(f"/api/v1/custom-fields/{made.json()['id']}", {"name": "偷看"}).status_code == 404


def test_the_console_defines_fields_and_the_profile_saves_them(shop, corp):
    browser = Client()
    browser.force_login(f.user(corp, Role.OPERATOR))
    page = browser.post("/customer-fields/", {"name": "肤质", "key": "skin", "kind": "choice", "choices": "干性\n油性\n混合", "position": "3"})
    assert page.status_code == 302
    refused = browser.post("/customer-fields/", {"name": "肤质2", "key": "skin", "kind": "text", "position": "0"})
    assert refused.status_code == 400 and "skin" in refused.content.decode()
    profile = browser.get(f"/customers/{shop['mine'].id}/").content.decode()
    assert 'name="field_skin"' in profile and "宝宝生日" in profile

    saved = browser.post(f"/customers/{shop['mine'].id}/fields/", {"field_skin": "油性", "field_baby_birth_date": "2026-02-01"})
    assert saved.status_code == 302
    assert _values(shop["mine"])["skin"] == ("油性", None, None)
    bad = browser.post(f"/customers/{shop['mine'].id}/fields/", {"field_skin": "干性", "field_monthly_budget": "abc"})
    body = bad.content.decode()
    assert bad.status_code == 400 and 'id="field_monthly_budget_error"' in body and 'value="abc"' in body
    assert _values(shop["mine"])["skin"] == ("油性", None, None)  # the good value was not saved either

    guide = Client()
    guide.force_login(f.user(corp, Role.GUIDE, staff=shop["staff"][0]))
    assert guide.get("/customer-fields/").status_code == 403
    assert guide.post(f"/customers/{shop['mine'].id}/fields/", {"field_city": "杭州"}).status_code == 302
    assert guide.post(f"/customers/{shop['theirs'].id}/fields/", {"field_city": "杭州"}).status_code == 404


def test_segments_select_customers_by_their_fields(shop, corp):
    admin, today = shop["admin"], now().astimezone(corp.tzinfo).date()
    babies = {}
    for n, days in enumerate((30, 200, 400, None)):
        c = f.customer(corp, f"妈妈{n}")
        f.follow(c, shop["staff"][n % 2])
        values = {"formula_stage": ["1段", "2段", "3段", "2段"][n], "monthly_budget": str(100 * (n + 1))}
        if days is not None:
            values["baby_birth_date"] = (today - timedelta(days=days)).isoformat()
        services.customer_fields_set(actor=admin, customer=c, values=values)
        babies[n] = c.pk

    def matching(*conditions) -> set[int]:
        found = segments.customers_matching(admin, segments.SegmentFilters.from_json({"fields": list(conditions)}))
        return set(found.values_list("pk", flat=True))

    # 6–12 months old: born between 365 and 180 days ago.
    months_6_12 = ({"key": "baby_birth_date", "op": "age_days_gte", "value": 180}, {"key": "baby_birth_date", "op": "age_days_lte", "value": 365})
    assert matching(*months_6_12) == {babies[1]}
    assert matching({"key": "formula_stage", "op": "in", "value": ["2段", "3段"]}) == {babies[1], babies[2], babies[3]}
    assert matching({"key": "monthly_budget", "op": "gte", "value": 250}, {"key": "formula_stage", "op": "eq", "value": "2段"}) == {babies[3]}
    assert matching({"key": "baby_birth_date", "op": "unset"}) == {babies[3], shop["mine"].pk, shop["theirs"].pk}
    assert matching({"key": "baby_birth_date", "op": "set"}) == {babies[0], babies[1], babies[2]}
    # The count (saved or not) and a guide's own view agree.
    filters = segments.SegmentFilters.from_json({"fields": list(months_6_12)})
    assert segments.segment_count(admin, filters) == 1
    guide = f.actor(corp, role=Role.GUIDE, staff=shop["staff"][1])
    assert set(
        segments.customers_matching(guide, segments.SegmentFilters.from_json({"fields": [{"key": "formula_stage", "op": "set"}]})).values_list("pk", flat=True)
    ) == {
        babies[1],
        babies[3],
    }

    for conditions, field in [
        ([{"key": "shoe_size", "op": "set"}], "fields.0"),
        ([{"key": "formula_stage", "op": "set"}, {"key": "formula_stage", "op": "gte", "value": "2段"}], "fields.1"),
        ([{"key": "formula_stage", "op": "eq", "value": "5段"}], "fields.0"),
        ([{"key": "monthly_budget", "op": "age_days_gte", "value": 3}], "fields.0"),
        ([{"key": "baby_birth_date", "op": "eq"}], "fields.0"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            segments.segment_save(actor=admin, name="坏条件", filters=segments.SegmentFilters.from_json({"fields": conditions}))
        assert refused.value.field == field, conditions
    with pytest.raises(InvalidInput) as refused:
        segments.SegmentFilters.from_json({"fields": [{"key": "formula_stage", "op": "contains"}]})
    assert (refused.value.code, refused.value.field) == ("bad_filter", "fields.0")

    api = ApiClient(f.token(f.user(corp, Role.OPERATOR), corp))
    counted = api.post("/api/v1/segments/count", {"fields": list(months_6_12)})
    assert counted.status_code == 200 and counted.json() == {"customers": 1}
    bad = api.post("/api/v1/segments", {"name": "x", "filters": {"fields": [{"key": "nope", "op": "set"}]}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "fields.0"

    browser = Client()
    browser.force_login(f.user(corp, Role.OPERATOR))
    made = browser.post(
        "/segments/",
        {
            "name": "6-12月宝宝",
            "cond0_key": "baby_birth_date",
            "cond0_op": "age_days_gte",
            "cond0_value": "180",
            "cond1_key": "baby_birth_date",
            "cond1_op": "age_days_lte",
            "cond1_value": "365",
        },
    )
    assert made.status_code == 302
    page = browser.get(made["Location"]).content.decode()
    assert "妈妈1" in page and "妈妈2" not in page and 'value="180"' in page
    refused = browser.post("/segments/", {"name": "坏", "cond0_key": "formula_stage", "cond0_op": "eq", "cond0_value": "5段"})
    assert refused.status_code == 400 and 'id="id_cond0_value_error"' in refused.content.decode()


def test_values_import_from_a_sheet_all_or_nothing(shop, corp):
    admin = shop["admin"]
    shop["theirs"].phones.create(corp=corp, phone="13800001111")
    mine, theirs = shop["mine"].external_userid, shop["theirs"].external_userid
    good = f"external_userid,宝宝生日,formula_stage,城市\n{mine},2026-04-01,1段,\n".encode()
    done = services.customer_fields_import(actor=admin, file_name="values.csv", content=good)
    assert (done.rows, done.customers_changed, done.values_changed) == (1, 1, 2)
    assert _values(shop["mine"])["baby_birth_date"] == ("", None, date(2026, 4, 1))
    by_phone = "手机号,月预算\n138 0000 1111,520\n".encode()
    assert services.customer_fields_import(actor=admin, file_name="values.csv", content=by_phone).values_changed == 1
    assert _values(shop["theirs"])["monthly_budget"] == ("", Decimal("520.00"), None)

    before = (sorted(_values(shop["mine"]).items()), sorted(_values(shop["theirs"]).items()))
    for content, words in [
        (f"external_userid,奶粉段数\n{mine},2段\nwmNOBODY,1段\n".encode(), "wmNOBODY"),  # an unknown customer: not even row 2
        (f"external_userid,奶粉段数\n{mine},2段\n{theirs},9段\n".encode(), "9段"),
        (f"external_userid,鞋码\n{mine},38\n".encode(), "鞋码"),
        ("姓名,奶粉段数\n王妈妈,2段\n".encode(), "external_userid"),  # a name is not the customer's key
    ]:
        with pytest.raises(InvalidInput) as refused:
            services.customer_fields_import(actor=admin, file_name="values.csv", content=content)
        assert refused.value.field == "file" and words in refused.value.message, refused.value.message
    assert (sorted(_values(shop["mine"]).items()), sorted(_values(shop["theirs"]).items())) == before
    with pytest.raises(Forbidden):
        services.customer_fields_import(actor=shop["guide"], file_name="values.csv", content=good)

    api = ApiClient(f.token(f.user(corp, Role.OPERATOR), corp))
    sheet = SimpleUploadedFile("values.csv", f"external_userid,奶粉段数\n{theirs},3段\n".encode(), content_type="text/csv")
    answer = api.client.post("/api/v1/custom-fields/import", {"file": sheet}, **api.headers)
    assert answer.status_code == 200 and answer.json() == {"rows": 1, "customers_changed": 1, "values_changed": 1}
    browser = Client()
    browser.force_login(f.user(corp, Role.OPERATOR))
    refused = browser.post("/customer-fields/", {"file": SimpleUploadedFile("v.csv", f"external_userid,奶粉段数\n{theirs},9段\n".encode())})
    assert refused.status_code == 400 and "9段" in refused.content.decode() and 'id="id_file_error"' in refused.content.decode()
    assert _values(shop["theirs"])["formula_stage"] == ("3段", None, None)
    ok = browser.post("/customer-fields/", {"file": SimpleUploadedFile("v.csv", f"external_userid,奶粉段数\n{theirs},1段\n".encode())})
    assert ok.status_code == 302 and _values(shop["theirs"])["formula_stage"] == ("1段", None, None)


def test_lifecycle_stages_follow_the_dates_day_by_day(shop, corp, monkeypatch):
    admin = shop["admin"]
    services.custom_field_save(actor=admin, name="预产期", key="due_date", kind="date")
    pregnant = stages.stage_save(actor=admin, name="孕期", field_key="due_date", from_days=-280, to_days=0)
    newborn = stages.stage_save(actor=admin, name="0-6月", field_key="baby_birth_date", from_days=0, to_days=180, position=1)
    older = stages.stage_save(actor=admin, name="6-12月", field_key="baby_birth_date", from_days=180, to_days=365, position=2)
    today = date(2026, 12, 6)
    people = {}
    for name, values in [
        ("待产", {"due_date": "2027-01-20"}),
        ("新手", {"baby_birth_date": (today - timedelta(days=179)).isoformat()}),
        ("老手", {"baby_birth_date": (today - timedelta(days=400)).isoformat()}),
    ]:
        c = f.customer(corp, name)
        CustomerFieldValue.objects.bulk_create(
            [CustomerFieldValue(corp=corp, customer=c, field=CustomField.objects.get(corp=corp, key=k), date=date.fromisoformat(v)) for k, v in values.items()]
        )
        people[name] = c
    seen = []
    with subscribed(CustomerStagesChanged, seen.append):
        assert stages.stages_place(corp_id=corp.pk, today=today) == 2
        assert stages.stages_place(corp_id=corp.pk, today=today) == 0  # placed already: nothing moves, nothing is said
        # A day later the 179-day-old baby is 180 days old: the next stage.
        assert stages.stages_place(corp_id=corp.pk, today=today + timedelta(days=1)) == 1
    placed = {s.customer.name: (s.stage.name, s.since) for s in CustomerStage.objects.select_related("customer", "stage")}
    assert placed == {"待产": ("孕期", today), "新手": ("6-12月", today + timedelta(days=1))}  # 400 days: no stage
    assert [len(e.changes) for e in seen] == [2, 1] and seen[1].changes == ((people["新手"].pk, newborn.pk, older.pk),)
    assert people["新手"].timeline.filter(kind="stage").latest("id").data == {"from": "0-6月", "to": "6-12月"}

    # A date typed in is placed at once; the daily pass runs once a corp day.
    monkeypatch.setattr(stages, "now", lambda: datetime(2026, 12, 7, 9, tzinfo=corp.tzinfo))
    services.customer_fields_set(actor=admin, customer=people["老手"], values={"due_date": "2027-03-01"})
    assert CustomerStage.objects.get(customer=people["老手"]).stage == pregnant
    assert stages.stages_due() >= 0 and set(LifecycleStage.objects.values_list("refreshed_on", flat=True)) == {date(2026, 12, 7)}
    CustomerStage.objects.filter(customer=people["老手"]).delete()
    assert stages.stages_due() == 0  # the same day: not placed again

    in_stage = segments.customers_matching(admin, segments.SegmentFilters.from_json({"stages": [pregnant.pk]}))
    assert set(in_stage.values_list("name", flat=True)) == {"待产"}
    console = Client()
    console.force_login(admin.user)
    made = console.post("/segments/", {"name": "孕期妈妈", "stages": [str(pregnant.pk)]})
    assert made.status_code == 302 and "待产" in console.get(made["Location"]).content.decode()
    for kwargs, code in [
        ({"name": "x", "field_key": "formula_stage", "from_days": 0, "to_days": 10}, "bad_field"),
        ({"name": "x", "field_key": "baby_birth_date", "from_days": 10, "to_days": 10}, "bad_days"),
        ({"name": "孕期", "field_key": "due_date", "from_days": 0, "to_days": 10}, "duplicate_name"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            stages.stage_save(actor=admin, **kwargs)
        assert refused.value.code == code
    with pytest.raises(Forbidden):
        stages.stage_save(actor=shop["guide"], name="y", field_key="due_date", from_days=0, to_days=1)

    api = ApiClient(f.token(f.user(corp, Role.OPERATOR), corp))
    assert [s["name"] for s in api.get("/api/v1/lifecycle-stages").json()] == ["孕期", "0-6月", "6-12月"]
    assert api.get(f"/api/v1/customers/{people['待产'].pk}").json()["stage"]["name"] == "孕期"
    made = api.post("/api/v1/lifecycle-stages", {"name": "1-3岁", "field_key": "baby_birth_date", "from_days": 365, "to_days": 1095, "position": 3})
    assert made.status_code == 201
    assert api.delete(f"/api/v1/lifecycle-stages/{made.json()['id']}").status_code == 204
    browser = Client()
    browser.force_login(f.user(corp, Role.OPERATOR))
    listed = browser.get("/customer-fields/").content.decode()
    assert listed.count('id="stage-form"') == 1 and listed.count('id="field-import"') == 1  # once each, in the page's body
    page = browser.post("/customer-fields/", {"stage-name": "1-3岁", "stage-field_key": "baby_birth_date", "stage-from_days": "365", "stage-to_days": "100"})
    assert page.status_code == 400 and 'id="id_stage-to_days_error"' in page.content.decode()
    assert (
        browser.post(
            "/customer-fields/", {"stage-name": "1-3岁", "stage-field_key": "baby_birth_date", "stage-from_days": "365", "stage-to_days": "1095"}
        ).status_code
        == 302
    )
    assert "孕期" in browser.get(f"/customers/{people['待产'].pk}/").content.decode()


def test_a_large_sheet_is_imported_in_bulk(shop, corp):
    # More rows than one IN of SQLite takes: read and written in chunks, every value set once.
    Customer.objects.bulk_create([Customer(corp=corp, external_userid=f"wmBULK{i:05d}", name=f"客户{i}") for i in range(6200)])
    lines = ["external_userid,宝宝生日,奶粉段数"] + [f"wmBULK{i:05d},2026-0{1 + i % 9}-1{i % 10},{1 + i % 3}段" for i in range(6200)]
    done = services.customer_fields_import(actor=shop["admin"], file_name="big.csv", content="\n".join(lines).encode())
    assert (done.rows, done.customers_changed, done.values_changed) == (6200, 6200, 12400)
    assert CustomerFieldValue.objects.filter(customer__external_userid__startswith="wmBULK").count() == 12400
    assert TimelineEvent.objects.filter(kind="profile_updated", customer__external_userid__startswith="wmBULK").count() == 6200
    again = services.customer_fields_import(actor=shop["admin"], file_name="big.csv", content="\n".join(lines).encode())
    assert (again.customers_changed, again.values_changed) == (0, 0)  # the same sheet twice changes nothing
    one = CustomerFieldValue.objects.get(customer__external_userid="wmBULK00007", field__key="baby_birth_date")
    assert one.date == date(2026, 8, 17)
    # Every one of them moved from one stage to another: placed again in chunks.
    born = stages.stage_save(actor=shop["admin"], name="已出生", field_key="baby_birth_date", from_days=0, to_days=3650, position=1)
    assert stages.stages_place(corp_id=corp.pk, today=date(2026, 12, 6)) == 6200
    early = stages.stage_save(actor=shop["admin"], name="一岁内", field_key="baby_birth_date", from_days=0, to_days=365, position=0)
    assert stages.stages_place(corp_id=corp.pk, today=date(2026, 12, 6)) == 6200
    assert set(CustomerStage.objects.values_list("stage_id", flat=True)) == {early.pk} and born.customers.count() == 0


def test_a_corp_goes_with_its_fields_values_and_stages(shop):
    gone = f.corp()
    owner = f.actor(gone)
    services.custom_field_save(actor=owner, name="宝宝生日", key="baby_birth_date", kind="date")
    stages.stage_save(actor=owner, name="0-6月", field_key="baby_birth_date", from_days=0, to_days=180)
    services.customer_fields_set(actor=owner, customer=f.customer(gone, "王妈妈"), values={"baby_birth_date": "2026-10-01"})
    kept = set(CustomField.objects.values_list("pk", flat=True).exclude(corp=gone))
    Corp.objects.filter(pk=gone.pk).delete()  # the stage on its field does not hold the deletion up
    assert set(CustomField.objects.values_list("pk", flat=True)) == kept and not LifecycleStage.objects.filter(corp_id=gone.pk).exists()
    assert not CustomerFieldValue.objects.filter(corp_id=gone.pk).exists()
