"""Customer moments through the real client against the sandbox: WeCom's content rules refused
before anything is made, a task per executor, who published and whom it reached, likes and
comments that tag the customers (in WeCom too), a lost answer found not repeated, cancel and
reminders by the app."""

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from siyu.customers.models import FollowTag
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Role
from siyu.messaging import moments
from siyu.messaging.media import media_create
from siyu.messaging.models import Moment, MomentReaction
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbAppMessage, SbFollow, SbMoment
from siyu.wecom.client import WeComClient

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient
from .test_mass_sends import _customer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _run_queue() -> list:
    outcomes = []
    for _round in range(10):
        queued = list(DBTaskResult.objects.filter(status="READY", task_path__startswith="siyu.").order_by("id"))
        if not queued:
            break
        for task in queued:
            task.delete()
            with TestCase.captureOnCommitCallbacks(execute=True):
                outcomes.append(import_string(task.task_path).call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"]))
    return outcomes


def _pull(moment) -> str:
    Moment.objects.filter(pk=moment.pk).update(pull_due_at=now())
    with TestCase.captureOnCommitCallbacks(execute=True):
        return moments.moment_pull(moment.pk)


@pytest.fixture
def feed(hub):
    for i in range(3):
        _customer(hub, 0, f"wmP{i}")
    _customer(hub, 1, "wmQ0")
    group = f.tag_group(hub.actor, "互动", ["点赞过", "评论过"])
    return {t.name: t for t in group.tags.all()}


def test_a_moment_reaches_customers_and_likes_and_comments_tag_them(hub, feed, django_capture_on_commit_callbacks):
    image = media_create(actor=hub.actor, kind="image", name="海报.png", content=PNG)
    with django_capture_on_commit_callbacks(execute=True):
        moment = moments.moment_create(
            actor=hub.actor,
            text="新品上市",
            attachments=[{"msgtype": "image", "image": {"media": image.id}}],
            staff_ids=[hub.staff[0].id, hub.staff[1].id],
            like_tag_id=feed["点赞过"].id,
            comment_tag_id=feed["评论过"].id,
        )
    assert "created" in _run_queue()
    moment.refresh_from_db()
    assert moment.status == "created" and moment.moment_id and moment.executors == 2
    made = SbMoment.objects.get(moment_id=moment.moment_id)
    assert sorted(made.tasks.values_list("userid", flat=True)) == ["guide0", "guide1"]
    # guide0 publishes; two of their customers react.
    assert sandbox.moment_publish(moment=made, userid="guide0") == 3
    sandbox.moment_react(moment=made, external_userid="wmP0", like=True)
    sandbox.moment_react(moment=made, external_userid="wmP1", like=True, comment=True)
    assert _pull(moment) == "pulled"
    moment.refresh_from_db()
    assert (moment.published, moment.reached, moment.likes, moment.comments) == (1, 3, 2, 1)
    tagged = {(ft.follow.customer.external_userid, ft.tag.name) for ft in FollowTag.objects.select_related("follow__customer", "tag")}
    assert tagged == {("wmP0", "点赞过"), ("wmP1", "点赞过"), ("wmP1", "评论过")}
    # WeCom is told too (the tags' push), and a second pull records nothing twice.
    _run_queue()
    feed["点赞过"].refresh_from_db()
    assert feed["点赞过"].wecom_tag_id in SbFollow.objects.get(customer__external_userid="wmP0").tag_ids
    _pull(moment)
    assert MomentReaction.objects.count() == 3


@pytest.mark.parametrize(
    ("attachments", "text", "field"),
    [
        ("mixed", "x", "attachments"),
        ("two links", "x", "attachments"),
        ("big video", "x", "attachments.0.video.media"),
        ("long title", "x", "attachments.0.link.title"),
        ("none", "长" * 2001, "text"),
    ],
)
def test_wecoms_moment_rules_are_refused_before_anything_is_made(hub, feed, attachments, text, field, monkeypatch):
    image = media_create(actor=hub.actor, kind="image", name="a.png", content=PNG)
    link = {"msgtype": "link", "link": {"title": "新品", "url": "https://shop.example.com/a"}}
    video = media_create(actor=hub.actor, kind="video", name="v.mp4", content=b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    monkeypatch.setattr(moments, "MOMENT_VIDEO_BYTES", 10)  # a 10 MB file is the rule; a small one stands in
    cases = {
        "mixed": [{"msgtype": "image", "image": {"media": image.id}}, link],
        "two links": [link, link],
        "big video": [{"msgtype": "video", "video": {"media": video.id}}],
        "long title": [{"msgtype": "link", "link": {"title": "标" * 22, "url": "https://shop.example.com/a"}}],
        "none": [],
    }
    with pytest.raises(InvalidInput) as refused:
        moments.moment_create(actor=hub.actor, text=text, attachments=cases[attachments], staff_ids=[hub.staff[0].id])
    assert refused.value.field == field
    assert not Moment.objects.exists() and not SbMoment.objects.exists()


def test_a_lost_answer_is_found_not_repeated_and_cancel_and_reminders_work(hub, feed, django_capture_on_commit_callbacks, monkeypatch):
    hub.corp.agent_id = 1000002
    hub.corp.save()
    with django_capture_on_commit_callbacks(execute=True):
        moment = moments.moment_create(actor=hub.actor, text="会员日", staff_ids=[hub.staff[0].id])
    real_send = WeComClient._send

    def answer_lost(self, method, api, **kwargs):
        answer = real_send(self, method, api, **kwargs)
        return {"errcode": -1, "errmsg": "transport: timed out", "transport": True} if api == "externalcontact/add_moment_task" else answer

    monkeypatch.setattr(WeComClient, "_send", answer_lost)
    assert moments.moment_create_in_wecom(moment.pk) == "failed"
    monkeypatch.setattr(WeComClient, "_send", real_send)
    Moment.objects.filter(pk=moment.pk).update(due_at=now())
    assert moments.moment_create_in_wecom(moment.pk) == "adopted"
    assert SbMoment.objects.count() == 1 and Moment.objects.get(pk=moment.pk).moment_id == SbMoment.objects.get().moment_id
    # Nobody published yet: the app reminds, once a day.
    assert moments.moment_remind_in_wecom(moment.pk) == 1 and moments.moment_remind_in_wecom(moment.pk) == 0
    assert SbAppMessage.objects.get().touser == "guide0"
    with django_capture_on_commit_callbacks(execute=True):
        moments.moment_cancel(actor=hub.actor, moment=Moment.objects.get(pk=moment.pk))
    _run_queue()
    assert Moment.objects.get(pk=moment.pk).status == "cancelled" and SbMoment.objects.get().cancelled
    assert sandbox.moment_publish(moment=SbMoment.objects.get(), userid="guide0") == 0  # too late to publish


def test_the_api_makes_and_lists_moments_and_a_guide_sees_only_their_own(hub, feed, django_capture_on_commit_callbacks):
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/moments", {"text": "新品", "staff_ids": [hub.staff[0].id]})
    assert r.status_code == 201, r.content
    _run_queue()
    moment_id = r.json()["id"]
    body = api.get(f"/api/v1/moments/{moment_id}").json()
    assert body["status"] == "created" and body["executors"] == 1
    assert [m["id"] for m in api.get("/api/v1/moments").json()["items"]] == [moment_id]
    r = api.post("/api/v1/moments", {"text": "x", "attachments": [{"msgtype": "link", "link": {"title": "a", "url": "https://a.example"}}] * 2})
    assert r.status_code == 400 and r.json()["error"]["code"] == "mixed_attachments"
    other_guide = ApiClient(f.token(f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[1]), hub.corp))
    assert other_guide.get(f"/api/v1/moments/{moment_id}").status_code == 404
    assert other_guide.get("/api/v1/moments").json()["items"] == []
    assert now() - timedelta(minutes=5) < Moment.objects.get(pk=moment_id).created_at
