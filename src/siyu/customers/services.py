"""Writes for customers, follows, follow tags and the timeline. The caller owns the transaction."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.corps.models import Corp, Staff
from siyu.kit.clock import now
from siyu.kit.db import in_chunks, insert_many, insert_objects
from siyu.kit.errors import InvalidInput
from siyu.kit.events import publish
from siyu.kit.tenancy import Actor
from siyu.tags.models import Tag
from siyu.tags.selectors import resolve_tags

from .events import CustomerNoted, CustomersIdentified, FollowTagsChanged
from .models import Customer, CustomerPhone, Follow, FollowTag, TimelineEvent

Kind = TimelineEvent.Kind


def timeline_record(
    *, customer: Customer, kind: str, occurred_at: datetime | None = None, staff: Staff | None = None, data: dict | None = None, dedupe_key: str | None = None
) -> TimelineEvent | None:
    """Append one event; with a dedupe_key, a second call with the same key writes nothing and returns None."""
    event = TimelineEvent(
        corp_id=customer.corp_id, customer=customer, kind=kind, staff=staff, occurred_at=occurred_at or now(), data=data or {}, dedupe_key=dedupe_key
    )
    if dedupe_key is None:
        event.save()
        return event
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        return None
    return event


TIMELINE_COLUMNS = ["corp_id", "customer_id", "kind", "staff_id", "occurred_at", "data", "dedupe_key"]


def timeline_record_many(events: list[TimelineEvent]) -> None:
    """Append many events at once; those whose dedupe_key is recorded already are skipped."""
    insert_many(TimelineEvent, TIMELINE_COLUMNS, [tuple(getattr(e, c) for c in TIMELINE_COLUMNS) for e in events], ignore_conflicts=True)


# What WeCom says of a customer, mirrored as it says it.
WECOM_CUSTOMER_FIELDS = {"name": "", "unionid": "", "avatar": "", "gender": 0, "type": 1, "corp_name": ""}


def customer_upsert(
    *,
    corp: Corp,
    external_userid: str,
    name: str,
    unionid: str = "",
    avatar: str = "",
    gender: int = 0,
    type: int = 1,
    corp_name: str = "",
    phones: list[str] | tuple = (),
) -> Customer:
    fields = {"name": name, "unionid": unionid, "avatar": avatar, "gender": gender, "type": type, "corp_name": corp_name}
    customer = customers_upsert(corp=corp, rows=[{"external_userid": external_userid, **fields}])[external_userid]
    customer_add_phones(customer=customer, phones=phones)
    return customer


def customers_upsert(*, corp: Corp, rows: list[dict]) -> dict[str, Customer]:
    """Customers as WeCom describes them (`external_userid` and WECOM_CUSTOMER_FIELDS), any number
    at once: one read of those that exist, one insert of the new, one update of the changed.
    Returns external_userid → customer; `just_created` on each says whether this call made it."""
    wanted: dict[str, dict] = {}
    for row in rows:
        if not row.get("external_userid"):
            raise InvalidInput(_("The external_userid is required."), field="external_userid")
        fields = {k: row.get(k, default) for k, default in WECOM_CUSTOMER_FIELDS.items()}
        fields["name"] = fields["name"][:64]
        wanted[row["external_userid"]] = fields
    found = {}
    for chunk in in_chunks(list(wanted)):
        found.update((c.external_userid, c) for c in Customer.objects.filter(corp=corp, external_userid__in=chunk))
    new = [Customer(corp=corp, external_userid=e, **fields) for e, fields in wanted.items() if e not in found]
    created, meanwhile = _insert_racing(
        new, lambda c: Customer.objects.get_or_create(corp=corp, external_userid=c.external_userid, defaults=wanted[c.external_userid])
    )
    found.update((c.external_userid, c) for c in meanwhile)
    changed, unionid_changed, stamp = [], [], now()
    for euid, customer in found.items():
        diff = [k for k, v in wanted[euid].items() if getattr(customer, k) != v]
        if diff:
            for k in diff:
                setattr(customer, k, wanted[euid][k])
            customer.updated_at = stamp
            changed.append(customer)
            if "unionid" in diff:
                unionid_changed.append(customer)
    if changed:
        Customer.objects.bulk_update(changed, [*WECOM_CUSTOMER_FIELDS, "updated_at"])
    for customer in found.values():
        customer.just_created = False
    for customer in created:
        customer.just_created = True  # callers with follow-up work for new customers only read this
        found[customer.external_userid] = customer
    if created:
        publish(CustomersIdentified(corp_id=corp.pk, customers=tuple(created), created=True))
    if unionid_changed:
        publish(CustomersIdentified(corp_id=corp.pk, customers=tuple(unionid_changed), created=False))
    return {euid: found[euid] for euid in wanted}


def _insert_racing(new: list, get_or_create) -> tuple[list, list]:
    """Insert `new` rows in one statement and return (made, found). Should another writer have
    made some meanwhile (a callback racing a sync page), they go one at a time, by get_or_create(row)."""
    if not new:
        return [], []
    try:
        with transaction.atomic():
            return insert_objects(new), []
    except IntegrityError:
        made, found = [], []
        for row in new:
            row, was_made = get_or_create(row)
            (made if was_made else found).append(row)
        return made, found


def customer_add_phones(*, customer: Customer, phones) -> None:
    customers_add_phones([(customer, phones)])


def customers_add_phones(pairs: list[tuple[Customer, list[str]]]) -> None:
    """Phones learned of customers ((customer, phones), …): the new ones stored in one insert and
    announced in one CustomersIdentified."""
    pairs = [(c, [p.strip() for p in phones if p and p.strip()]) for c, phones in pairs if phones]
    pairs = [(c, phones) for c, phones in pairs if phones]
    if not pairs:
        return  # the usual case in syncs and callbacks; no query
    existing = set(CustomerPhone.objects.filter(customer_id__in={c.pk for c, _ in pairs}).values_list("customer_id", "phone"))
    learned: dict[int, list[str]] = {}
    customers = {}
    for customer, phones in pairs:
        for phone in phones:
            if (customer.pk, phone) not in existing and phone not in learned.get(customer.pk, ()):
                learned.setdefault(customer.pk, []).append(phone)
                customers[customer.pk] = customer
    if not learned:
        return
    rows = [(customers[cid].corp_id, cid, p) for cid, phones in learned.items() for p in phones]
    insert_many(CustomerPhone, ["corp_id", "customer_id", "phone"], rows, ignore_conflicts=True)
    corp_id = next(iter(customers.values())).corp_id
    publish(CustomersIdentified(corp_id=corp_id, customers=tuple(customers.values()), created=False, phones={k: tuple(v) for k, v in learned.items()}))


@dataclass(frozen=True)
class FollowIn:
    """A relationship to record (follows_add): `dedupe_key` names its "added" timeline entry, so
    the same add found twice (a callback, then a sync) is one entry."""

    customer: Customer
    staff: Staff
    added_at: datetime
    remark: str = ""
    description: str = ""
    add_way: int = 0
    state: str = ""
    oper_userid: str = ""
    dedupe_key: str | None = None


def follow_add(
    *,
    customer: Customer,
    staff: Staff,
    added_at: datetime,
    remark: str = "",
    description: str = "",
    add_way: int = 0,
    state: str = "",
    oper_userid: str = "",
    dedupe_key: str | None = None,
) -> Follow:
    """Record that `staff` now follows `customer`; re-adding after a deletion reactivates the follow."""
    return follows_add([FollowIn(customer, staff, added_at, remark, description, add_way, state, oper_userid, dedupe_key)])[0]


def follows_add(wanted: list[FollowIn], *, new_customers: frozenset[int] = frozenset()) -> list[Follow]:
    """Record many relationships at once (one read, one insert, one update): each new one, or one
    that had ended and begins again, gets `just_added` and its "added" timeline entry; one that
    is active already is left as it is. Returns the follows in the order asked. `new_customers`:
    ids of customers the caller has just created, whose follows need no reading."""
    for w in wanted:
        if w.staff.corp_id != w.customer.corp_id:
            raise InvalidInput(_("The staff member belongs to another corp."), field="staff")
    if not wanted:
        return []
    found = {}
    known = list({w.customer.pk for w in wanted if w.customer.pk not in new_customers})
    for chunk in in_chunks(known):
        found.update(((f.customer_id, f.staff_id), f) for f in Follow.objects.filter(customer_id__in=chunk))
    new, again, added = {}, [], []
    for w in wanted:
        key = (w.customer.pk, w.staff.pk)
        follow = found.get(key) or new.get(key)
        if follow is None:
            new[key] = Follow(
                corp_id=w.customer.corp_id,
                customer=w.customer,
                staff=w.staff,
                added_at=w.added_at,
                remark=w.remark,
                description=w.description,
                add_way=w.add_way,
                state=w.state,
                oper_userid=w.oper_userid,
            )
            added.append(w)
        elif follow.pk is not None and not follow.is_active:
            follow.deleted_by_staff_at = follow.deleted_by_customer_at = None
            follow.added_at, follow.add_way, follow.state = w.added_at, w.add_way, w.state
            again.append(follow)
            added.append(w)
    fields = ("corp_id", "added_at", "remark", "description", "add_way", "state", "oper_userid")
    made, meanwhile = _insert_racing(
        list(new.values()), lambda f: Follow.objects.get_or_create(customer=f.customer, staff=f.staff, defaults={k: getattr(f, k) for k in fields})
    )
    for follow in [*found.values(), *meanwhile]:
        follow.just_added = False
        found[(follow.customer_id, follow.staff_id)] = follow
    for follow in made + again:
        follow.just_added = True  # callers with follow-up work for a new relationship (attribution, welcome) read this
        found[(follow.customer_id, follow.staff_id)] = follow
    if again:
        Follow.objects.bulk_update(again, ["deleted_by_staff_at", "deleted_by_customer_at", "added_at", "add_way", "state"])
    entries = []
    for w in added:
        if found[(w.customer.pk, w.staff.pk)].just_added:
            data = {"add_way": w.add_way, "state": w.state}
            entries.append(
                TimelineEvent(
                    corp_id=w.customer.corp_id, customer=w.customer, kind=Kind.ADDED, staff=w.staff, occurred_at=w.added_at, data=data, dedupe_key=w.dedupe_key
                )
            )
    timeline_record_many(entries)
    return [found[(w.customer.pk, w.staff.pk)] for w in wanted]


def follow_end(*, follow: Follow, by: str, at: datetime | None = None, dedupe_key: str | None = None) -> Follow:
    """Either side ended the relationship (`by` is "staff" or "customer")."""
    at = at or now()
    if by == "staff":
        field, kind = "deleted_by_staff_at", Kind.DELETED_BY_STAFF
    elif by == "customer":
        field, kind = "deleted_by_customer_at", Kind.DELETED_BY_CUSTOMER
    else:
        raise ValueError(f"by must be 'staff' or 'customer', not {by!r}")
    if getattr(follow, field) is None:
        setattr(follow, field, at)
        follow.save(update_fields=[field])
        timeline_record(customer=follow.customer, kind=kind, occurred_at=at, staff=follow.staff, dedupe_key=dedupe_key)
    return follow


def _target_follows(*, actor: Actor, customer: Customer, staff: Staff | None) -> list[Follow]:
    follows = Follow.objects.filter(customer=customer, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True).select_related("staff")
    if actor.is_guide:
        # A guide tags only through their own relationship, whatever staff they name.
        follows = follows.filter(staff_id=actor.staff_id)
    elif staff is not None:
        follows = follows.filter(staff=staff)
    found = list(follows)
    if not found:
        raise InvalidInput(_("No active follow to tag: the staff member does not follow this customer."), code="not_following", field="staff_id")
    return found


def customer_tags_change(*, actor: Actor, customer: Customer, add: list[Tag] = (), remove: list[Tag] = (), staff: Staff | None = None) -> dict:
    """Mark and unmark corp tags on the customer's follows; returns what actually changed.

    Without `staff`, a manager's change applies to every active follow (the customer's tags as
    the corp sees them); a guide's change always applies to their own follow only.
    """
    _refuse_overlap(add, remove)
    follows = _target_follows(actor=actor, customer=customer, staff=staff)
    added, removed = _follow_tags_apply(actor=actor, follows=follows, add=add, remove=remove)
    return {
        "added": [{"staff_id": f.staff_id, "tag_id": t.id} for f, t in added],
        "removed": [{"staff_id": f.staff_id, "tag_id": t.id} for f, t in removed],
    }


def customer_tags_set(*, actor: Actor, customer: Customer, tag_ids, staff: Staff | None = None) -> dict:
    """A tag editor's checked set becomes the tags of the chosen follow(s) (the console's profile,
    the sidebar): a checked tag is added where a follow lacks it, an unchecked one removed where it
    is. Nothing checked or unchecked anew, nothing is done. Unknown tags are refused as `tags`."""
    follows = _target_follows(actor=actor, customer=customer, staff=staff)
    have: dict[int, set[int]] = {f.pk: set() for f in follows}
    for follow_id, tag_id in FollowTag.objects.filter(follow__in=follows, tag__deleted_at__isnull=True).values_list("follow_id", "tag_id"):
        have[follow_id].add(tag_id)
    checked = set(tag_ids)
    on_every, on_any = set.intersection(*have.values()), set.union(*have.values())
    if checked <= on_every and not on_any - checked:
        return {"added": [], "removed": []}
    return customer_tags_change(
        actor=actor,
        customer=customer,
        add=resolve_tags(actor, sorted(checked), "tags"),
        remove=resolve_tags(actor, sorted(on_any - checked), "tags"),
        staff=staff,
    )


BULK_TAG_MAX = 10_000


def customers_tags_change(*, actor: Actor, customers: QuerySet[Customer], add: list[Tag] = (), remove: list[Tag] = ()) -> dict:
    """The customer list's bulk action: these tags added to / removed from every active follow of
    these customers that the actor may change (a guide: their own). One transaction; WeCom is
    marked after commit, as for one customer. Counts what changed."""
    if not add and not remove:
        raise InvalidInput(_("Choose at least one tag to add or remove."), code="no_tags", field="add")
    _refuse_overlap(add, remove)
    ids = list(customers.order_by().values_list("id", flat=True)[: BULK_TAG_MAX + 1])
    if not ids:
        raise InvalidInput(_("Choose at least one customer."), code="no_customers", field="customers")
    if len(ids) > BULK_TAG_MAX:
        raise InvalidInput(
            _("At most %(max)s customers can be tagged at once; narrow the filters.") % {"max": BULK_TAG_MAX}, code="too_many_customers", field="customers"
        )
    follows = []
    for start in range(0, len(ids), 2000):
        chunk = Follow.objects.filter(
            corp=actor.corp, customer_id__in=ids[start : start + 2000], deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True
        )
        if actor.is_guide:
            chunk = chunk.filter(staff_id=actor.staff_id)
        follows += chunk.select_related("customer", "staff")
    added, removed = _follow_tags_apply(actor=actor, follows=follows, add=add, remove=remove)
    return {
        "customers": len(ids),
        "follows": len(follows),
        "added": len(added),
        "removed": len(removed),
        "customers_changed": len({f.customer_id for f, _t in (*added, *removed)}),
    }


def _refuse_overlap(add, remove) -> None:
    if {t.id for t in add} & {t.id for t in remove}:
        raise InvalidInput(_("The same tag cannot be added and removed at once."), code="tag_conflict", field="remove")


def _follow_tags_apply(*, actor: Actor, follows: list[Follow], add, remove) -> tuple[list, list]:
    """Add and remove tags on these follows: the rows, a timeline entry per follow changed, and
    FollowTagsChanged so WeCom is marked alike. Returns the (follow, tag) pairs added and removed."""
    if not follows:
        return [], []
    corp_id = follows[0].corp_id
    tag_ids = [t.id for t in (*add, *remove)]
    existing = set()
    for start in range(0, len(follows), 2000):
        chunk = [f.id for f in follows[start : start + 2000]]
        existing |= set(FollowTag.objects.filter(follow_id__in=chunk, tag_id__in=tag_ids).values_list("follow_id", "tag_id"))
    added = [(f, t) for f in follows for t in add if (f.id, t.id) not in existing]
    removed = [(f, t) for f in follows for t in remove if (f.id, t.id) in existing]
    FollowTag.objects.bulk_create([FollowTag(corp_id=corp_id, follow=f, tag=t) for f, t in added], batch_size=1000, ignore_conflicts=True)
    for tag in remove:
        gone = [f.id for f, t in removed if t.id == tag.id]
        for start in range(0, len(gone), 2000):
            FollowTag.objects.filter(tag=tag, follow_id__in=gone[start : start + 2000]).delete()
    stamp = now()
    by = actor.user.get_username() if actor.user else "system"
    events, changes = [], {}
    for kind, pairs in ((Kind.TAGGED, added), (Kind.UNTAGGED, removed)):
        names: dict[int, list[str]] = {}
        for f, t in pairs:
            names.setdefault(f.id, []).append(t.name)
            changes.setdefault(f.id, ([], []))[0 if kind == Kind.TAGGED else 1].append(t.id)
        by_id = {f.id: f for f, _t in pairs}
        events += [
            TimelineEvent(corp_id=corp_id, customer_id=f.customer_id, kind=kind, staff=f.staff, occurred_at=stamp, data={"tags": names[f.id], "by": by})
            for f in by_id.values()
        ]
    timeline_record_many(events)
    if changes:
        publish(FollowTagsChanged(corp_id=corp_id, changes=tuple((follow_id, tuple(plus), tuple(minus)) for follow_id, (plus, minus) in changes.items())))
    return added, removed


NOTE_MAX = 1000


def customer_note_add(*, actor: Actor, customer: Customer, text: str, staff: Staff | None = None) -> TimelineEvent:
    """A follow-up note (跟进记录) on the customer's timeline, by the actor's staff member (a
    guide writes as themselves, through their own relationship)."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("Write the note first."), code="empty_note", field="text")
    if len(text) > NOTE_MAX:
        raise InvalidInput(_("A note is at most %(n)s characters.") % {"n": NOTE_MAX}, code="note_too_long", field="text")
    if actor.is_guide:
        # The caller found the customer among the guide's own; the note is theirs.
        staff = Staff.objects.get(pk=actor.staff_id)
    author = actor.user.get_username() if actor.user is not None else ""
    event = timeline_record(customer=customer, kind=Kind.NOTE, staff=staff, data={"text": text, "by": author})
    publish(CustomerNoted(corp_id=customer.corp_id, customer_id=customer.pk, staff_id=staff.pk if staff else None, at=event.occurred_at))
    return event
