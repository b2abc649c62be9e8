import pytest

from siyu.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from siyu.kit.tenancy import Role
from siyu.tags import selectors, services
from siyu.tags.models import Tag, TagGroup

from .. import factories as f


@pytest.fixture
def admin(db):
    return f.actor(f.corp(), Role.ADMIN)


def test_group_with_tags_in_order(admin):
    group = services.tag_group_create(actor=admin, name="宝宝月龄", tag_names=["孕期", "0-6月", "6-12月"])
    (listed,) = selectors.tag_library(admin)
    assert listed.id == group.id
    assert [t.name for t in listed.live_tags] == ["孕期", "0-6月", "6-12月"]


def test_deleting_the_last_tag_deletes_the_group(admin):
    group = services.tag_group_create(actor=admin, name="城市", tag_names=["上海", "北京"])
    shanghai, beijing = group.tags.order_by("order")
    services.tag_delete(actor=admin, tag=shanghai)
    assert TagGroup.objects.get(pk=group.pk).deleted_at is None
    services.tag_delete(actor=admin, tag=beijing)
    assert TagGroup.objects.get(pk=group.pk).deleted_at is not None
    assert list(selectors.tag_library(admin)) == []


def test_soft_deleted_names_can_be_reused(admin):
    group = services.tag_group_create(actor=admin, name="等级", tag_names=["VIP"])
    services.tag_group_delete(actor=admin, group=group)
    again = services.tag_group_create(actor=admin, name="等级", tag_names=["VIP"])
    assert again.id != group.id
    assert Tag.objects.filter(name="VIP").count() == 2


def test_names_are_unique_per_corp_and_group(admin):
    group = services.tag_group_create(actor=admin, name="兴趣", tag_names=["奶粉"])
    with pytest.raises(Conflict):
        services.tag_group_create(actor=admin, name="兴趣", tag_names=["美妆"])
    with pytest.raises(Conflict):
        services.tag_create(actor=admin, group=group, name="奶粉")
    other = f.actor(f.corp(), Role.ADMIN)
    services.tag_group_create(actor=other, name="兴趣", tag_names=["奶粉"])  # another corp may


def test_names_are_checked(admin):
    with pytest.raises(InvalidInput) as exc:
        services.tag_group_create(actor=admin, name="  ")
    assert exc.value.field == "name"
    with pytest.raises(InvalidInput) as exc:
        services.tag_group_create(actor=admin, name="x" * 31)
    assert exc.value.code == "name_too_long"


def test_guides_cannot_edit_the_library(admin):
    corp = admin.corp
    guide = f.actor(corp, Role.GUIDE, staff=f.staff(corp))
    group = services.tag_group_create(actor=admin, name="等级", tag_names=["VIP"])
    with pytest.raises(Forbidden):
        services.tag_group_create(actor=guide, name="新")
    with pytest.raises(Forbidden):
        services.tag_delete(actor=guide, tag=group.tags.get())
    assert selectors.tag_library(guide).count() == 1  # but may read it


def test_other_corps_tags_are_not_found(admin):
    other = f.actor(f.corp(), Role.ADMIN)
    group = services.tag_group_create(actor=other, name="别家", tag_names=["x"])

    with pytest.raises(NotFound):
        selectors.tag_group_get(admin, group.id)
    with pytest.raises(NotFound):
        selectors.tag_get(admin, group.tags.get().id)


def test_a_group_needs_a_tag(admin):
    with pytest.raises(InvalidInput) as refused:
        services.tag_group_create(actor=admin, name="空组", tag_names=[])
    assert refused.value.code == "empty_group" and refused.value.field == "tags"
    assert not TagGroup.objects.filter(name="空组").exists()
