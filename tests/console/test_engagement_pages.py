"""The console's customer-side pages as an operator uses them: an article saved to the library
(its script removed) and refused without what its kind needs, next to the field; an interest rule;
points switched on and a customer's points corrected with a reason; a check-in campaign whose bad
stage line is refused by line; a coupon created and issued to a segment by the worker."""

import pytest
from django.test import Client
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from siyu.analytics.models import Segment
from siyu.engagement.models import CheckinCampaign, Coupon, CouponTemplate, InterestRule, LotteryPrize, MemberLevel, PointsAccount, PointsPolicy
from siyu.kit.tenancy import Role
from siyu.messaging.models import ContentItem

from .. import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    corp = f.corp("控制台品牌")
    client = Client()
    client.force_login(f.user(corp, role=Role.OPERATOR))
    return corp, client


def test_an_article_is_saved_clean_and_a_video_without_its_file_is_refused_at_the_field(operator):
    corp, client = operator
    saved = client.post("/library/new/", {"kind": "article", "title": "辅食入门", "body": "<p>米粉</p><script>x()</script>", "tags": "辅食，新品"})
    item = ContentItem.objects.get(corp=corp)
    assert saved.status_code == 302 and item.body == "<p>米粉</p>" and item.tags == ["辅食", "新品"]
    refused = client.post("/library/new/", {"kind": "video", "title": "教程"})
    assert refused.status_code == 400 and ContentItem.objects.count() == 1
    assert "这种类型还需要" in refused.content.decode()
    page = client.get(f"/library/{item.pk}/").content.decode()
    assert "辅食入门" in page and 'id="stat-views">0<' in page


def test_an_interest_rule_names_a_tag_of_the_corps_library(operator):
    corp, client = operator
    group = f.tag_group(f.actor(corp), name="兴趣", tags=["关注辅食"])
    tag = group.tags.get()
    assert client.post("/library/interest-rules/", {"content_tag": "辅食", "reads": "3", "tag_id": str(tag.pk)}).status_code == 302
    again = client.post("/library/interest-rules/", {"content_tag": "辅食", "reads": "2", "tag_id": str(tag.pk)})
    assert again.status_code == 400 and InterestRule.objects.count() == 1


def test_points_are_switched_on_and_a_correction_needs_a_reason(operator):
    corp, client = operator
    policy = {"form": "policy", "active": "on", "per_yuan": "2", "refund_days": "7", "contact_added": "10", "group_joined": "0"}
    policy |= {"content_read": "1", "content_read_daily": "3", "expiry": "year_end", "expiry_months": "12"}
    assert client.post("/points/", policy).status_code == 302
    assert PointsPolicy.objects.get(corp=corp).active and PointsPolicy.objects.get(corp=corp).per_yuan == 2
    mom = f.customer(corp, "调整妈妈")
    assert client.post("/points/", {"form": "adjust", "customer_id": str(mom.pk), "points": "50", "note": "补发活动积分"}).status_code == 302
    assert PointsAccount.objects.get(customer=mom).available == 50
    refused = client.post("/points/", {"form": "adjust", "customer_id": str(mom.pk), "points": "-80", "note": "扣回"})
    assert refused.status_code == 400 and PointsAccount.objects.get(customer=mom).available == 50


def test_membership_levels_are_added_refused_at_the_field_edited_and_deleted(operator, django_capture_on_commit_callbacks):
    corp, client = operator
    level = {"form": "level", "name": "银卡", "rank": "1", "needs": "any", "min_spend_yuan": "500", "min_points": "100", "benefits": "生日礼"}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/points/", level).status_code == 302
    silver = MemberLevel.objects.get(corp=corp)
    assert (silver.min_spend_fen, silver.min_orders, silver.min_points) == (50_000, None, 100)
    refused = client.post("/points/", {**level, "name": "金卡"})
    assert refused.status_code == 400 and 'id="id_rank_error"' in refused.content.decode() and MemberLevel.objects.count() == 1
    page = client.get("/points/").content.decode()
    assert "银卡" in page and "生日礼" in page
    with django_capture_on_commit_callbacks(execute=True):
        edited = client.post(f"/points/levels/{silver.pk}/", {**level, "min_spend_yuan": "", "min_orders": "2", "needs": "all"})
    assert edited.status_code == 302
    silver.refresh_from_db()
    assert (silver.min_spend_fen, silver.min_orders, silver.needs) == (None, 2, "all")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/points/levels/{silver.pk}/", {"delete": "1"}).status_code == 302
    assert not MemberLevel.objects.exists()


def test_a_check_in_campaigns_bad_stage_line_is_refused_by_its_number(operator):
    corp, client = operator
    fields = {"name": "21天打卡", "starts_on": "2026-12-01", "daily_points": "5", "counting": "streak", "day_items": ""}
    bad = client.post("/checkins/", {**fields, "stages": "7, 50\n21 days"})
    assert bad.status_code == 400 and "第 2 行" in bad.content.decode() and not CheckinCampaign.objects.exists()
    good = client.post("/checkins/", {**fields, "stages": "7, 50\n21, 200"})
    campaign = CheckinCampaign.objects.get(corp=corp)
    assert good.status_code == 302 and [s["days"] for s in campaign.stages] == [7, 21]
    assert f"/h5/{corp.corp_id}/checkin/{campaign.pk}" in client.get(f"/checkins/{campaign.pk}/").content.decode()


def test_a_coupon_is_created_and_issued_to_a_segment_once_each(operator, django_capture_on_commit_callbacks):
    corp, client = operator
    created = client.post("/coupons/", {"name": "满199减30", "kind": "amount_off", "threshold": "199", "amount": "30", "valid_days": "30", "per_person": "1"})
    template = CouponTemplate.objects.get(corp=corp)
    assert created.status_code == 302 and (template.threshold_fen, template.amount_fen) == (19_900, 3_000)
    people = [f.customer(corp, f"分群{i}") for i in range(3)]
    segment = Segment.objects.create(corp=corp, name="全部", filters={})
    for _ in range(2):  # issued twice: nobody gets a second one
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(f"/coupons/{template.pk}/", {"segment": str(segment.pk)}).status_code == 302
        for task in DBTaskResult.objects.filter(status="READY", task_path__endswith="issue_to_segment"):
            import_string(task.task_path).call(*task.args_kwargs["args"])
            task.delete()
    assert sorted(Coupon.objects.values_list("customer_id", flat=True)) == sorted(p.pk for p in people)
    assert "满199减30" in client.get("/coupons/").content.decode()


def test_a_lottery_is_created_from_prize_lines_and_a_bad_line_is_named(operator):
    corp, client = operator
    fields = {"name": "大转盘", "kind": "wheel", "starts_at": "2026-12-01 10:00", "ends_at": "2026-12-31 22:00", "draws_per_day": "1", "points_cost": "0"}
    bad = client.post("/lotteries/", {**fields, "prizes": "10积分, points, 20, , , 10\n奶瓶, goods, lots"})
    assert bad.status_code == 400 and "第 2 行" in bad.content.decode()
    good = client.post("/lotteries/", {**fields, "prizes": "10积分, points, 20, , , 10\n奶瓶, goods, 0.5, 20, 2"})
    assert good.status_code == 302
    prizes = list(LotteryPrize.objects.filter(corp=corp).order_by("position").values_list("name", "per_million", "stock", "daily_cap", "points"))
    assert prizes == [("10积分", 200_000, None, None, 10), ("奶瓶", 5_000, 20, 2, 0)]
