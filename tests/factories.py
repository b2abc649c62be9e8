"""Small builders for test data, going through the same services the product uses."""

import itertools
from datetime import datetime

from django.utils import timezone

from siyu.corps.models import Membership
from siyu.corps.services import api_token_create, corp_create, membership_grant, staff_upsert, user_create
from siyu.customers.models import FollowTag
from siyu.customers.services import customer_upsert, follow_add
from siyu.kit.tenancy import Actor, Role
from siyu.tags.services import tag_create, tag_group_create

_seq = itertools.count(1)
PASSWORD = "correct-horse-42"


def corp(name: str | None = None, **kw):
    n = next(_seq)
    return corp_create(corp_id=kw.pop("corp_id", f"wwtest{n:06d}"), name=name or f"Corp {n}", **kw)


def staff(corp, name: str | None = None, userid: str | None = None):
    n = next(_seq)
    return staff_upsert(corp=corp, userid=userid or f"staff{n}", name=name or f"Staff {n}")


def user(corp, role: str = Role.ADMIN, staff=None, username: str | None = None):
    u = user_create(username=username or f"user{next(_seq)}", password=PASSWORD)
    membership_grant(user=u, corp=corp, role=role, staff=staff)
    return u


def actor(corp, role: str = Role.ADMIN, staff=None) -> Actor:
    u = user(corp, role=role, staff=staff)
    return Actor(user=u, corp=corp, role=role, staff_id=staff.id if staff else None)


def token(u, corp) -> str:
    _, raw = api_token_create(membership=Membership.objects.get(user=u, corp=corp), name="test")
    return raw


def tag_group(actor, name: str | None = None, tags=()):
    return tag_group_create(actor=actor, name=name or f"Group {next(_seq)}", tag_names=list(tags))


def tag(actor, group, name: str):
    return tag_create(actor=actor, group=group, name=name)


def customer(corp, name: str | None = None, phones=(), **kw):
    n = next(_seq)
    return customer_upsert(corp=corp, external_userid=kw.pop("external_userid", f"wm{n:08d}"), name=name or f"Customer {n}", phones=list(phones), **kw)


def follow(customer, staff, added_at: datetime | None = None, tags=(), state: str = "", remark: str = ""):
    f = follow_add(customer=customer, staff=staff, added_at=added_at or timezone.now(), state=state, remark=remark)
    FollowTag.objects.bulk_create([FollowTag(corp_id=customer.corp_id, follow=f, tag=t) for t in tags])
    return f


def lead_form_post(questions=(), routes=(), **fields) -> dict:
    """The lead form editor's POST: page fields, then question rows (label, type, options, required,
    key) and city-route rows (city, live code id), as the browser sends its formsets."""
    data = {"title": "", "intro": "", **fields, "q-TOTAL_FORMS": len(questions), "q-INITIAL_FORMS": 0, "r-TOTAL_FORMS": len(routes), "r-INITIAL_FORMS": 0}
    for i, q in enumerate(questions):
        data[f"q-{i}-type"] = "text"  # the select's first option, as a browser sends it
        data.update({f"q-{i}-{k}": v for k, v in q.items() if k != "required"})
        if q.get("required", True):
            data[f"q-{i}-required"] = "on"
    for i, (city, code) in enumerate(routes):
        data.update({f"r-{i}-city": city, f"r-{i}-live_code": code})
    return data
