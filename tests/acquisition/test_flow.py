"""A list-mode live code end to end: WeCom contact way, a scan, attribution, tags, welcome."""

from siyu.acquisition import services
from siyu.acquisition.models import Acquisition, LiveCode, LiveCodeDay
from siyu.customers.models import Follow
from siyu.messaging.models import WelcomeSend
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbContactWay, SbWelcomeSent
from siyu.sandbox.services import fault_inject

from .. import factories as f


def _code(hub, **kw):
    channel = services.channel_create(actor=hub.actor, name="门店", group="store")
    group = f.tag_group(hub.actor, "来源", ["门店扫码"])
    tag = group.tags.get()
    members = kw.pop("members", [{"staff_id": s.id} for s in hub.staff])
    code = services.live_code_save(
        actor=hub.actor,
        channel=channel,
        name="南京西路店",
        members=members,
        tag_ids=[tag.id],
        welcome={"text": "你好{customer_name}，我是{staff_name}"},
        **kw,
    )
    return services.live_code_push(code.pk), tag


def test_scan_lands_with_guide_tags_welcome_and_channel(hub):
    code, tag = _code(hub)
    way = SbContactWay.objects.get(config_id=code.config_id)
    assert way.users == ["guide0", "guide1", "guide2"] and way.state == code.state
    # The tag existed only in Siyu: pushing the code created it in WeCom.
    tag.refresh_from_db()
    assert tag.wecom_tag_id

    sb_follow, _ = sb.customer_scans_contact_way(way, name="王小丫")
    hub.handle_callbacks()

    sent = SbWelcomeSent.objects.get()
    assert sent.text == f"你好王小丫，我是{sb_follow.staff.name}"
    follow = Follow.objects.get(customer__external_userid=sb_follow.customer.external_userid)
    assert follow.staff.userid == sb_follow.staff.userid and follow.state == code.state
    assert list(follow.tags.values_list("id", flat=True)) == [tag.id]
    sb_follow.refresh_from_db()
    assert sb_follow.tag_ids == [tag.wecom_tag_id]
    acq = Acquisition.objects.get()
    assert (acq.live_code_id, acq.channel_id, acq.staff_id) == (code.id, code.channel_id, follow.staff_id)
    assert LiveCodeDay.objects.get().adds == 1
    assert WelcomeSend.objects.get().status == "sent"


def test_a_code_wecom_refused_is_pushed_again_by_the_minute_tick(hub, django_capture_on_commit_callbacks):
    channel = services.channel_create(actor=hub.actor, name="官网", group="website")
    fault_inject(corp=hub.sb, errcode=60111, api="externalcontact/add_contact_way", times=1)
    with django_capture_on_commit_callbacks(execute=True):
        code = services.live_code_save(actor=hub.actor, channel=channel, name="官网弹窗", members=[{"staff_id": hub.staff[0].id}])
    code.refresh_from_db()
    assert not code.config_id and "60111" in code.push_error
    # The tick (not only the one retry queued at save time) brings it into WeCom once WeCom answers.
    assert services.live_codes_refresh_due() >= 1
    hub.handle_callbacks()
    code.refresh_from_db()
    assert code.config_id and not code.push_error
    assert SbContactWay.objects.get(config_id=code.config_id).users == ["guide0"]
    assert services.live_codes_refresh_due() == 0
    assert LiveCode.objects.get(pk=code.pk).pushed_users == ["guide0"]
