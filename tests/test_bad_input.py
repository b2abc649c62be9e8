"""Bad input: a 4xx that names the field and a stable code, and nothing written."""

import pytest

from siyu.customers.models import FollowTag, TimelineEvent
from siyu.kit.tenancy import Role
from siyu.orders.models import Order
from siyu.tags.models import Tag, TagGroup

from . import factories as f


@pytest.fixture
def setup(corp, admin_user):
    actor = f.actor(corp, Role.ADMIN)
    group = f.tag_group(actor, name="等级", tags=["新客"])
    s = f.staff(corp)
    c = f.customer(corp)
    f.follow(c, s)
    return {"group": group, "tag": group.tags.get(), "customer": c, "staff": s}


def counts():
    return (TagGroup.objects.count(), Tag.objects.count(), FollowTag.objects.count(), TimelineEvent.objects.count())


def assert_error(response, status, code, field):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"]


@pytest.mark.parametrize(
    "params,code,field",
    [
        ({"tags_all": [999999]}, "unknown_tag", "tags_all"),
        ({"tags_any": [999999]}, "unknown_tag", "tags_any"),
        ({"cursor": "not-a-cursor!"}, "invalid_cursor", "cursor"),
        ({"cursor": "eyJ2IjoyfQ"}, "invalid_cursor", "cursor"),
        ({"limit": "abc"}, "invalid_input", "limit"),
        ({"limit": 0}, "invalid_input", "limit"),
        ({"limit": 5000}, "invalid_input", "limit"),
        ({"tags_all": ["x"]}, "invalid_input", "tags_all.0"),
        ({"added_from": "2026-13-45"}, "invalid_input", "added_from"),
        ({"q": "x" * 65}, "invalid_input", "q"),
    ],
)
def test_customer_list_rejects(api, setup, params, code, field):
    status = 400 if code in ("unknown_tag", "invalid_cursor") else 422
    assert_error(api.get("/api/v1/customers", **params), status, code, field)


def test_other_corps_tag_is_unknown(api, setup, db):
    other = f.corp()
    foreign = f.tag_group(f.actor(other), tags=["别家"]).tags.get()
    assert_error(api.get("/api/v1/customers", tags_all=[foreign.id]), 400, "unknown_tag", "tags_all")


def test_over_long_and_empty_names(api, setup):
    before = counts()
    assert_error(api.post("/api/v1/tag-groups", {"name": "长" * 31}), 422, "invalid_input", "name")
    assert_error(api.post("/api/v1/tag-groups", {"name": ""}), 422, "invalid_input", "name")
    assert_error(api.post("/api/v1/tag-groups", {"name": "好组", "tags": ["ok", "长" * 31]}), 422, "invalid_input", "tags.1")
    assert_error(api.post(f"/api/v1/tag-groups/{setup['group'].id}/tags", {"name": "长" * 31}), 422, "invalid_input", "name")
    assert_error(api.patch(f"/api/v1/tags/{setup['tag'].id}", {"name": "长" * 31}), 422, "invalid_input", "name")
    assert counts() == before
    assert Tag.objects.get(pk=setup["tag"].id).name == "新客"


def test_duplicate_tag_in_one_request_writes_nothing(api, setup):
    before = counts()
    # The second "a" collides with the first inside one request: the group must not be left behind.
    assert_error(api.post("/api/v1/tag-groups", {"name": "新组", "tags": ["a", "a"]}), 409, "duplicate_name", "name")
    assert counts() == before
    assert not TagGroup.objects.filter(name="新组").exists()


def test_wrong_types_and_malformed_json(api, setup):
    before = counts()
    assert_error(api.post("/api/v1/tag-groups", {"name": 42}), 422, "invalid_input", "name")
    assert_error(api.post("/api/v1/tag-groups", {"name": "ok", "order": "first"}), 422, "invalid_input", "order")
    response = api.call("post", "/api/v1/tag-groups", "{not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    assert_error(api.get("/api/v1/customers/abc"), 422, "invalid_input", "customer_id")
    assert counts() == before


def test_tag_change_with_unknown_ids(api, setup):
    c = setup["customer"]
    before = counts()
    assert_error(api.post(f"/api/v1/customers/{c.id}/tags", {"add": [setup["tag"].id, 999999]}), 400, "unknown_tag", "add")
    assert_error(api.post(f"/api/v1/customers/{c.id}/tags", {"remove": [999999]}), 400, "unknown_tag", "remove")
    assert_error(api.post(f"/api/v1/customers/{c.id}/tags", {"add": [setup["tag"].id], "staff_id": 999999}), 400, "unknown_staff", "staff_id")
    assert_error(api.post(f"/api/v1/customers/{c.id}/tags", {"add": [setup["tag"].id], "remove": [setup["tag"].id]}), 400, "tag_conflict", "remove")
    assert_error(api.post(f"/api/v1/customers/{c.id}/tags", {"add": ["VIP"]}), 422, "invalid_input", "add.0")
    assert counts() == before


def test_duplicate_group_name_is_a_conflict(api, setup):
    before = counts()
    assert_error(api.post("/api/v1/tag-groups", {"name": "等级", "tags": ["新"]}), 409, "duplicate_name", "name")
    assert counts() == before


ORDER = {"order_no": "H1", "paid_at": "2026-11-01T10:00:00+08:00", "amount": "10.00"}


@pytest.mark.parametrize(
    "method,path,body,field",
    [
        ("post", "/api/v1/orders", {**ORDER, "amount": True}, "amount"),
        ("post", "/api/v1/orders", {**ORDER, "lines": [{"amount": True}]}, "lines.0.amount"),
        ("post", "/api/v1/orders", {**ORDER, "lines": [{"amount": "10", "quantity": True}]}, "lines.0.quantity"),
        ("post", "/api/v1/orders", {**ORDER, "refunds": [{"refund_no": "R1", "amount": False}]}, "refunds.0.amount"),
        ("post", "/api/v1/refunds", {"order_no": "H1", "refund_no": "R1", "amount": True}, "amount"),
        ("put", "/api/v1/rfm/settings", {"monetary_fen": True}, "monetary_fen"),
        ("put", "/api/v1/rfm/settings", {"recency_days": True}, "recency_days"),
    ],
)
def test_true_is_not_a_number(api, setup, method, path, body, field):
    response = api.call(method, path, body)
    assert response.status_code == 422, response.content
    assert response.json()["error"]["field"] == field, response.json()
    assert not Order.objects.exists()


def test_a_channel_cost_of_true_is_refused(api, setup):
    channel = api.post("/api/v1/channels", {"name": "官网", "group": "website"}).json()
    assert_error(api.put(f"/api/v1/channels/{channel['id']}/costs/2026-11-01", {"amount_fen": True}), 422, "invalid_input", "amount_fen")


def test_a_live_code_that_expires_in_the_past_is_refused(api, setup):
    channel = api.post("/api/v1/channels", {"name": "官网", "group": "website"}).json()
    body = {"channel_id": channel["id"], "name": "过期码", "members": [{"staff_id": setup["staff"].id}], "expires_at": "2020-01-01T00:00:00+08:00"}
    assert_error(api.post("/api/v1/live-codes", body), 400, "expires_in_past", "expires_at")
    assert_error(api.post("/api/v1/live-codes", {**body, "expires_at": "2020-01-01T00:00:00"}), 400, "expires_in_past", "expires_at")  # no zone: the corp's


def test_a_batch_with_one_order_twice_names_the_duplicate(api, setup):
    response = api.post("/api/v1/orders/batch", {"orders": [ORDER, {**ORDER, "amount": "12.00"}]})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "batch_rejected" and error["details"] == [
        {"index": 1, "field": "order_no", "code": "duplicate_order", "message": error["details"][0]["message"]}
    ]
    assert not Order.objects.exists()


BIG = 2**64
EDGE_QUERIES = [
    ("/api/v1/customers", {"added_from": "0001-01-01"}, "added_from", "date_out_of_range"),
    ("/api/v1/customers", {"added_to": "9999-12-31"}, "added_to", "date_out_of_range"),
    ("/api/v1/customers", {"tags_all": str(BIG)}, "tags_all.0", "number_too_large"),
    ("/api/v1/customers", {"q": "a\x00b"}, "q", "nul_character"),
    ("/api/v1/funnel", {"start": "0001-01-01", "end": "2026-01-01"}, "start", "date_out_of_range"),
]
EDGE_BODIES = [
    ("post", "/api/v1/orders", {**ORDER, "lines": [{"amount": "1", "quantity": BIG}]}, "lines.0.quantity", "number_too_large"),
    ("post", "/api/v1/segments/count", {"tags_all": [BIG]}, "tags_all.0", "number_too_large"),
    ("post", "/api/v1/segments/count", {"added_from": "0001-01-01"}, "added_from", "date_out_of_range"),
    ("post", "/api/v1/segments", {"name": "x\x00", "filters": {}}, "name", "nul_character"),
    ("post", "/api/v1/channels", {"name": "官\x00网", "group": "website"}, "name", "nul_character"),
]


@pytest.mark.parametrize("path,params,field,code", EDGE_QUERIES)
def test_edge_values_in_a_query_are_refused_naming_the_field(api, setup, path, params, field, code):
    assert_error(api.get(path, **params), 422, code, field)


@pytest.mark.parametrize("method,path,body,field,code", EDGE_BODIES)
def test_edge_values_in_a_body_are_refused_and_nothing_is_written(api, setup, method, path, body, field, code):
    before = counts()
    assert_error(api.call(method, path, body), 422, code, field)
    assert counts() == before and not Order.objects.exists()


def test_a_channel_cost_beyond_64_bits_is_refused(api, setup):
    channel = api.post("/api/v1/channels", {"name": "官网", "group": "website"}).json()
    assert_error(api.put(f"/api/v1/channels/{channel['id']}/costs/2026-11-01", {"amount_fen": BIG}), 422, "number_too_large", "amount_fen")


def test_positions_beyond_32_bits_are_refused_naming_the_field(api, setup):
    # The column is a 32-bit integer: PostgreSQL would refuse it with a 500 (the fuzz found it).
    response = api.post("/api/v1/tag-groups", {"name": "位置", "order": 2**31})
    assert response.status_code == 422 and "order" in response.content.decode()
