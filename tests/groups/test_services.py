from datetime import timedelta

import pytest

from siyu.groups.models import GroupMember
from siyu.groups.services import group_apply
from siyu.kit.clock import now
from tests import factories

pytestmark = pytest.mark.django_db


def chat(members, name="群"):
    return {
        "chat_id": "wrX",
        "name": name,
        "owner": "",
        "create_time": 1700000000,
        "member_list": [{"userid": m, "type": 2, "join_time": 1700000000} for m in members],
    }


def test_an_older_answer_applied_late_does_not_undo_a_newer_one():
    corp = factories.corp()
    t = now()
    group_apply(corp=corp, data=chat(["wmA"], name="新名字"), fetched_at=t)
    group, counts = group_apply(corp=corp, data=chat(["wmA", "wmB"], name="旧名字"), fetched_at=t - timedelta(seconds=1))
    assert counts.get("stale") == 1
    assert group.name == "新名字"
    assert list(GroupMember.objects.values_list("userid", flat=True)) == ["wmA"]


def test_applying_the_same_answer_twice_changes_nothing():
    corp = factories.corp()
    group_apply(corp=corp, data=chat(["wmA", "wmB"]))
    group, counts = group_apply(corp=corp, data=chat(["wmA", "wmB"]))
    assert counts == {"joined": 0, "left": 0} and group.member_count == 2
