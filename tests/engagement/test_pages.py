"""The customer's pages in WeChat and the guide's side, through the sandbox: check in (a second tap
counts once), claim a coupon (a second claim is refused in Chinese), see it with its QR, see the
points statement; someone who is not a customer yet is told how to become one; and the guide scans
the coupon in the sidebar: redeemed once, a second scan refused with the reason."""

import json
import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.corps.services import corp_set_credentials
from siyu.engagement import checkin, coupons, earning, lottery, mall, members
from siyu.engagement import points as ledger
from siyu.engagement.models import Checkin, Coupon, LotteryDraw, MallOrder

from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..guides.test_sidebar import _sign_in
from ..messaging.test_mass_sends import _customer
from .test_reading import open_in_wechat


@pytest.fixture
def brand(hub):
    corp_set_credentials(corp=hub.corp, oa_appid=hub.sb.oa_appid, oa_secret=hub.sb.oa_secret)
    hub.corp.agent_id = 1000002
    hub.corp.save()
    mom = _customer(hub, 0, "wmA0", name="王妈妈")
    earning.policy_save(actor=hub.actor, active=True)
    campaign = checkin.campaign_save(actor=hub.actor, name="每日签到", starts_on=date(2026, 1, 1), daily_points=5, stages=[{"days": 1, "points": 20}])
    template = coupons.template_save(actor=hub.actor, name="新客券", kind="no_threshold", amount_fen=1000, valid_days=7, stock=10, claimable=True)
    return mom, campaign, template


def test_a_customer_checks_in_claims_a_coupon_and_sees_it_and_their_points(hub, brand):
    mom, campaign, template = brand
    phone = Client()
    page = open_in_wechat(phone, hub, f"/h5/{hub.corp.corp_id}/checkin/{campaign.pk}", external_userid="wmA0")
    assert page.status_code == 200 and "每日签到" in page.content.decode() and 'id="checkin-button"' in page.content.decode()
    done = phone.post(f"/h5/{hub.corp.corp_id}/checkin/{campaign.pk}")
    text = done.content.decode()
    assert done.status_code == 200 and "签到成功，获得 25 积分" in text and "今日已签到" in text
    phone.post(f"/h5/{hub.corp.corp_id}/checkin/{campaign.pk}")  # a second tap
    assert Checkin.objects.filter(customer=mom).count() == 1
    claim = f"/h5/{hub.corp.corp_id}/coupon/{template.pk}"
    assert "无门槛减10" in phone.get(claim).content.decode()
    assert "领取成功" in phone.post(claim).content.decode()
    again = phone.post(claim)
    assert again.status_code == 409 and "你已领取过这张券" in again.content.decode()
    mine = phone.get(f"/h5/{hub.corp.corp_id}/coupons").content.decode()
    coupon = Coupon.objects.get(customer=mom)
    assert coupon.code in mine and "data:image/svg+xml" in mine
    statement = phone.get(f"/h5/{hub.corp.corp_id}/points").content.decode()
    assert 'id="available">25<' in statement and "签到奖励" in statement
    assert 'id="member"' not in statement  # the brand has no membership levels


def test_the_points_page_shows_the_level_and_what_the_next_one_needs(hub, brand, django_capture_on_commit_callbacks):
    mom, campaign, _template = brand
    with django_capture_on_commit_callbacks(execute=True):
        members.level_save(actor=hub.actor, name="银卡", rank=1, min_points=20, benefits="生日礼")
        members.level_save(actor=hub.actor, name="金卡", rank=2, min_spend_fen=50_050, min_points=100, needs="all", benefits="9折")
    phone = Client()
    page = open_in_wechat(phone, hub, f"/h5/{hub.corp.corp_id}/points", external_userid="wmA0").content.decode()
    assert 'id="level">尚未入会<' in page and "距 银卡：再得 20 积分" in page
    phone.post(f"/h5/{hub.corp.corp_id}/checkin/{campaign.pk}")  # 25 points
    page = phone.get(f"/h5/{hub.corp.corp_id}/points").content.decode()
    assert 'id="level">银卡<' in page and "生日礼" in page
    assert "距 金卡：再消费 ¥501，且再得 75 积分" in page and "可享：9折" in page
    guide = Client()
    _sign_in(guide, hub, "guide0", "wmA0")
    profile = guide.get(f"/sidebar/{hub.corp.corp_id}/customer", {"external_userid": "wmA0"}).content.decode()
    assert 'id="member-level">银卡<' in profile


def test_someone_not_yet_a_customer_is_told_to_add_an_advisor_first(hub, brand):
    _mom, campaign, _template = brand
    page = open_in_wechat(Client(), hub, f"/h5/{hub.corp.corp_id}/checkin/{campaign.pk}", stranger=True)
    assert page.status_code == 403 and "添加品牌顾问的企业微信" in page.content.decode()
    assert not Checkin.objects.exists()


def test_a_guide_scans_the_customers_coupon_in_the_sidebar_once(hub, brand):
    mom, _campaign, template = brand
    coupon = coupons.coupon_claim(corp=hub.corp, template=template, customer_id=mom.pk)
    guide = Client()
    _sign_in(guide, hub, "guide0", "wmA0")
    profile = guide.get(f"/sidebar/{hub.corp.corp_id}/customer", {"external_userid": "wmA0"}).content.decode()
    assert 'id="coupons-usable">1<' in profile and "scan-coupon" in profile
    verify = f"/sidebar/{hub.corp.corp_id}/coupon-verify"
    first = guide.post(verify, {"code": f"SIYU-COUPON:{coupon.code}", "store": "徐汇店"})
    assert first.status_code == 200 and json.loads(first.content)["status"] == "redeemed"
    coupon.refresh_from_db()
    assert coupon.staff == hub.staff[0] and coupon.store == "徐汇店"
    second = guide.post(verify, {"code": coupon.code})
    assert second.status_code == 409 and "已使用" in json.loads(second.content)["error"]["message"]
    unknown = guide.post(verify, {"code": "NOPE"})
    assert unknown.status_code == 409 and "不是本品牌的优惠券" in json.loads(unknown.content)["error"]["message"]


def test_a_customer_exchanges_points_in_the_mall_once_and_picks_the_item_up_in_store(hub, brand):
    mom, _campaign, _template = brand
    bib = mall.item_save(actor=hub.actor, kind="goods", name="围兜", points=30, delivery="pickup", stock=5)
    ledger.points_earn(corp=hub.corp, customer_id=mom.pk, points=40, reason="manual", source="test", source_id="gift")
    phone = Client()
    page = open_in_wechat(phone, hub, f"/h5/{hub.corp.corp_id}/mall", external_userid="wmA0")
    key = re.search(r'name="key" value="([^"]+)"', page.content.decode()).group(1)
    first = phone.post(f"/h5/{hub.corp.corp_id}/mall", {"item": bib.pk, "key": key})
    assert first.status_code == 200 and "兑换成功：围兜" in first.content.decode()
    twin = phone.post(f"/h5/{hub.corp.corp_id}/mall", {"item": bib.pk, "key": key})  # the same page's second tap
    assert twin.status_code == 200 and MallOrder.objects.count() == 1 and 'id="available">10<' in twin.content.decode()
    short = phone.post(f"/h5/{hub.corp.corp_id}/mall", {"item": bib.pk, "key": "another-page"})
    assert short.status_code == 409 and "积分不足" in short.content.decode() and MallOrder.objects.count() == 1
    order = MallOrder.objects.get()
    assert order.pickup_code in phone.get(f"/h5/{hub.corp.corp_id}/mall/orders").content.decode()
    guide = Client()
    _sign_in(guide, hub, "guide0", "wmA0")
    handed = guide.post(f"/sidebar/{hub.corp.corp_id}/coupon-verify", {"code": f"SIYU-PICKUP:{order.pickup_code}"})
    assert handed.status_code == 200 and json.loads(handed.content)["coupon"] == "围兜"
    again = guide.post(f"/sidebar/{hub.corp.corp_id}/coupon-verify", {"code": f"SIYU-PICKUP:{order.pickup_code}"})
    assert again.status_code == 409 and "已被领取" in json.loads(again.content)["error"]["message"]


def test_a_customer_draws_once_a_tap_and_sees_the_odds_as_run(hub, brand):
    mom, _campaign, _template = brand
    window = {"starts_at": timezone.now() - timedelta(hours=1), "ends_at": timezone.now() + timedelta(days=1)}
    prizes = [{"name": "10积分", "kind": "points", "per_million": 1_000_000, "points": 10, "stock": 1}]
    game = lottery.lottery_save(actor=hub.actor, name="幸运转盘", prizes=prizes, draws_per_day=2, **window)
    phone = Client()
    page = open_in_wechat(phone, hub, f"/h5/{hub.corp.corp_id}/lottery/{game.pk}", external_userid="wmA0")
    text = page.content.decode()
    assert "10积分：100%" in text and "今天还剩 2 次" in text
    key = re.search(r'name="key" value="([^"]+)"', text).group(1)
    won = phone.post(f"/h5/{hub.corp.corp_id}/lottery/{game.pk}", {"key": key})
    assert "恭喜抽中：10积分" in won.content.decode()
    twin = phone.post(f"/h5/{hub.corp.corp_id}/lottery/{game.pk}", {"key": key})
    assert LotteryDraw.objects.count() == 1 and "今天还剩 1 次" in twin.content.decode()
    # The one unit is gone: the page says so, and the next draw wins nothing.
    after = phone.post(f"/h5/{hub.corp.corp_id}/lottery/{game.pk}", {"key": "second-page"}).content.decode()
    assert "谢谢参与，再接再厉" in after and "（已抽完）" in after and "今天的次数已用完" in after
