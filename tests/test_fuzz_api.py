"""Every operation of the OpenAPI document, fuzzed by Schemathesis as the corp's owner: whatever
the body, query or path, the answer is never a 5xx.

The owner's corp has a little of everything (customers, tags, a channel and live code, an order,
a segment), so generated ids sometimes name real rows; WeCom is the in-process sandbox, so the
operations that call it run the real client. Examples are derandomized: CI runs the same cases
each time, and a failure is reproducible.
"""

import json
import os

import pytest
import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from siyu.acquisition import services as acquisition
from siyu.analytics.segments import SegmentFilters, segment_save
from siyu.api import api
from siyu.kit.tenancy import Actor, Role

from . import factories as f
from .acquisition.conftest import hub, in_process_app  # noqa: F401 — the fixture, named below

EXAMPLES = int(os.environ.get("SIYU_FUZZ_EXAMPLES", "6"))


@pytest.fixture
def owner(hub):  # noqa: F811
    user = f.user(hub.corp, role=Role.OWNER)
    actor = Actor(user=user, corp=hub.corp, role=Role.OWNER)
    customers = [f.customer(hub.corp, name=f"客户{i}") for i in range(3)]
    group = f.tag_group(actor, "等级", ["金卡", "银卡"])
    channel = acquisition.channel_create(actor=actor, name="门店", group="store")
    acquisition.live_code_save(actor=actor, channel=channel, name="门店活码", members=[{"staff_id": hub.staff[0].id}])
    segment_save(actor=actor, name="金卡", filters=SegmentFilters(tags_any=[group.tags.first().id]))
    return {"token": f.token(user, hub.corp), "customers": customers}


# The document /api/openapi.json serves, built when the module is collected (serving it would take
# a request, and requests take the database); the fuzzer's requests then run through Django in
# each test's transaction, like Django's test client.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/"), cls=DjangoJSONEncoder)))
schema.app = in_process_app()


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_no_operation_answers_5xx(case, owner):
    case.call_and_validate(headers={"Authorization": f"Bearer {owner['token']}"}, checks=[not_a_server_error])


def test_the_fuzzer_reaches_past_authentication(owner):
    """Without the token every operation would stop at 401 and the fuzz would test nothing."""
    operation = schema["/api/v1/customers"]["GET"]
    case = operation.Case(query={})
    assert case.call().status_code == 401
    answer = case.call(headers={"Authorization": f"Bearer {owner['token']}"})
    assert answer.status_code == 200 and len(answer.json()["items"]) == 3
