from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.customers import services
from siyu.customers.models import Customer, CustomerPhone, Follow, FollowTag, TimelineEvent
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Role

from .. import factories as f


@pytest.fixture
def corp_world(db):
    corp = f.corp()
    admin = f.actor(corp, Role.ADMIN)
    group = f.tag_group(admin, tags=["VIP", "新客"])
    vip, new = group.tags.order_by("order")
    return corp, admin, vip, new


def test_customer_upsert_updates_and_keeps_phones(corp_world):
    corp, *_ = corp_world
    c = services.customer_upsert(corp=corp, external_userid="wm1", name="王", phones=["13800000000"])
    same = services.customer_upsert(corp=corp, external_userid="wm1", name="王芳", phones=["13800000000", "13900000000"])
    assert same.id == c.id
    assert Customer.objects.get(pk=c.id).name == "王芳"
    assert sorted(CustomerPhone.objects.filter(customer=c).values_list("phone", flat=True)) == ["13800000000", "13900000000"]


def test_follow_add_is_idempotent_and_records_once(corp_world):
    corp, *_ = corp_world
    s = f.staff(corp)
    c = f.customer(corp)
    at = timezone.now()
    services.follow_add(customer=c, staff=s, added_at=at, state="store", dedupe_key="cb-1")
    services.follow_add(customer=c, staff=s, added_at=at, state="store", dedupe_key="cb-1")
    assert Follow.objects.filter(customer=c).count() == 1
    assert TimelineEvent.objects.filter(customer=c, kind="added").count() == 1


def test_follow_end_and_readd(corp_world):
    corp, *_ = corp_world
    s = f.staff(corp)
    c = f.customer(corp)
    follow = services.follow_add(customer=c, staff=s, added_at=timezone.now() - timedelta(days=2))
    services.follow_end(follow=follow, by="customer")
    services.follow_end(follow=follow, by="customer")
    follow.refresh_from_db()
    assert follow.deleted_by_customer_at is not None and not follow.is_active
    assert TimelineEvent.objects.filter(customer=c, kind="deleted_by_customer").count() == 1
    services.follow_add(customer=c, staff=s, added_at=timezone.now(), state="web")
    follow.refresh_from_db()
    assert follow.is_active and follow.state == "web"
    assert TimelineEvent.objects.filter(customer=c, kind="added").count() == 2


def test_timeline_dedupe_key(corp_world):
    corp, *_ = corp_world
    c = f.customer(corp)
    assert services.timeline_record(customer=c, kind="tagged", dedupe_key="k") is not None
    assert services.timeline_record(customer=c, kind="tagged", dedupe_key="k") is None
    assert TimelineEvent.objects.filter(customer=c).count() == 1


def test_tag_change_on_every_active_follow_with_timeline(corp_world):
    corp, admin, vip, new = corp_world
    s1, s2, s3 = f.staff(corp), f.staff(corp), f.staff(corp)
    c = f.customer(corp)
    f.follow(c, s1, tags=[new])
    f.follow(c, s2)
    gone = f.follow(c, s3)
    services.follow_end(follow=gone, by="staff")
    result = services.customer_tags_change(actor=admin, customer=c, add=[vip], remove=[new])
    assert sorted(r["staff_id"] for r in result["added"]) == [s1.id, s2.id]
    assert result["removed"] == [{"staff_id": s1.id, "tag_id": new.id}]
    assert set(FollowTag.objects.filter(follow__customer=c).values_list("follow__staff_id", "tag_id")) == {(s1.id, vip.id), (s2.id, vip.id)}
    tagged = TimelineEvent.objects.filter(customer=c, kind="tagged")
    assert tagged.count() == 2 and all(e.data["tags"] == ["VIP"] for e in tagged)
    assert TimelineEvent.objects.filter(customer=c, kind="untagged").get().data["tags"] == ["新客"]
    # Again: nothing changes, nothing recorded.
    again = services.customer_tags_change(actor=admin, customer=c, add=[vip], remove=[new])
    assert again == {"added": [], "removed": []}
    assert TimelineEvent.objects.filter(customer=c, kind__in=["tagged", "untagged"]).count() == 3


def test_tag_change_for_one_staff_and_not_following(corp_world):
    corp, admin, vip, _ = corp_world
    s1, s2, stranger = f.staff(corp), f.staff(corp), f.staff(corp)
    c = f.customer(corp)
    f.follow(c, s1)
    f.follow(c, s2)
    services.customer_tags_change(actor=admin, customer=c, add=[vip], staff=s2)
    assert list(FollowTag.objects.filter(follow__customer=c).values_list("follow__staff_id", flat=True)) == [s2.id]
    with pytest.raises(InvalidInput) as exc:
        services.customer_tags_change(actor=admin, customer=c, add=[vip], staff=stranger)
    assert exc.value.code == "not_following"


def test_follow_must_stay_in_one_corp(corp_world):
    corp, *_ = corp_world
    with pytest.raises(InvalidInput):
        services.follow_add(customer=f.customer(corp), staff=f.staff(f.corp()), added_at=timezone.now())
