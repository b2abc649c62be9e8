"""Bringing WeCom's view of people into Siyu's tables. One code path for callbacks and full sync."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from siyu.corps.models import Corp, Department, Staff
from siyu.corps.services import department_upsert, staff_upsert
from siyu.customers.models import Customer, CustomerPhone, Follow, FollowTag
from siyu.customers.services import FollowIn, customers_add_phones, customers_upsert, follows_add
from siyu.kit.db import commit_unflushed, insert_many, statistics_refresh
from siyu.kit.due import DueWork
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.events import publish
from siyu.kit.tenancy import Actor
from siyu.tags.models import Tag, TagGroup

from .client import WeComClient
from .events import SYNC, ContactsAdded, NewFollow
from .models import SyncRun


def _staff_for(corp: Corp, userids: set[str], cache: dict) -> None:
    """Put these members in `cache` (userid → staff): one read for those not there yet."""
    missing = userids - cache.keys()
    if not missing:
        return
    cache.update((s.userid, s) for s in Staff.objects.filter(corp=corp, userid__in=missing))
    for userid in sorted(missing - cache.keys()):
        # A member we have not synced yet: keep the relationship, the name arrives with the staff sync.
        cache[userid] = staff_upsert(corp=corp, userid=userid, name=userid)


def follow_added_key(customer: Customer, staff: Staff, createtime: int) -> str:
    """The same follow found by a callback, an edit or a full sync is one "added" entry."""
    return f"follow-added:{customer.id}:{staff.id}:{createtime}"


def apply_contacts(
    corp: Corp,
    contacts: list[tuple[dict, list[dict]]],
    *,
    source: str,
    tag_cache: dict | None = None,
    staff_cache: dict | None = None,
    cache: dict | None = None,
) -> list[tuple[Customer, list[Follow]]]:
    """Upsert the customers and the given follows of each (with their corp tags, remarks and
    remark phones) from WeCom's JSON, all at once, and publish one ContactsAdded for the follows
    that began. A contact may come several times (a sync page lists it once per member).

    Each entry is (external_contact, follow infos): follow_user entries (tags as objects) or batch
    follow_info entries (tag_id list); both shapes are accepted. `cache` is handed to the
    subscribers (one per sync run).
    """
    staff_cache = {} if staff_cache is None else staff_cache
    cache = {} if cache is None else cache
    customers = customers_upsert(corp=corp, rows=[_customer_row(c) for c, _ in contacts])
    _staff_for(corp, {info["userid"] for _, infos in contacts for info in infos}, staff_cache)
    pairs, wanted = [], []
    for contact, infos in contacts:
        customer = customers[contact["external_userid"]]
        for info in infos:
            staff, createtime = staff_cache[info["userid"]], int(info.get("createtime") or 0)
            pairs.append((customer, info))
            wanted.append(
                FollowIn(
                    customer=customer,
                    staff=staff,
                    added_at=datetime.fromtimestamp(createtime, tz=UTC),
                    remark=_fit(info, "remark"),
                    description=_fit(info, "description"),
                    add_way=int(info.get("add_way", 0) or 0),
                    state=info.get("state", "")[:30],
                    oper_userid=info.get("oper_userid", ""),
                    dedupe_key=follow_added_key(customer, staff, createtime),
                )
            )
    follows = follows_add(wanted, new_customers=frozenset(c.pk for c in customers.values() if c.just_created))
    renamed = []
    for follow, (__, info) in zip(follows, pairs):
        changed = [f for f in ("remark", "description") if getattr(follow, f) != _fit(info, f)]
        for f in changed:
            setattr(follow, f, _fit(info, f))
        if changed:
            renamed.append(follow)
    Follow.objects.bulk_update(renamed, ["remark", "description"])
    customers_add_phones([(customer, info.get("remark_mobiles") or []) for customer, info in pairs])
    _mirror_tags(corp, [(follow, _wecom_tag_ids(info), customer.just_created) for follow, (customer, info) in zip(follows, pairs)], tag_cache)
    began = {}
    for follow, (customer, __) in zip(follows, pairs):
        if follow.just_added:
            began.setdefault(follow.pk, NewFollow(customer=customer, follow=follow, customer_created=customer.just_created))
    if began:
        publish(ContactsAdded(corp=corp, added=tuple(began.values()), source=source, cache=cache))
    applied: dict[str, tuple[Customer, list[Follow]]] = {}
    for follow, (customer, __) in zip(follows, pairs):
        applied.setdefault(customer.external_userid, (customer, []))[1].append(follow)
    return [applied.get(c["external_userid"], (customers[c["external_userid"]], [])) for c, _ in contacts]


def _customer_row(contact: dict) -> dict:
    text = {k: contact.get(k) or "" for k in ("name", "unionid", "avatar", "corp_name")}
    return {"external_userid": contact["external_userid"], **text, "gender": int(contact.get("gender") or 0), "type": int(contact.get("type") or 1)}


def _fit(info: dict, field: str) -> str:
    return (info.get(field) or "")[: Follow._meta.get_field(field).max_length]


def _wecom_tag_ids(info: dict) -> set[str]:
    if "tag_id" in info:
        return set(info["tag_id"] or [])
    return {t["tag_id"] for t in info.get("tags", []) if int(t.get("type", 1)) == 1}


def _mirror_tags(corp: Corp, follows: list[tuple[Follow, set[str], bool]], tag_cache: dict | None) -> None:
    """Make each follow's corp tags equal WeCom's, for tags Siyu knows (unknown ones wait for tag
    sync): one read, one insert, one delete for any number of follows. Entries are (follow, WeCom
    tag ids, whether its customer was just created: a new customer's follows have no tags to read)."""
    if tag_cache is None:
        tag_cache = {}
    if "map" not in tag_cache:
        tag_cache["map"] = dict(Tag.objects.filter(corp=corp, deleted_at__isnull=True, wecom_tag_id__isnull=False).values_list("wecom_tag_id", "id"))
    have: dict[int, dict[int, int]] = {}
    known = [f.pk for f, __, new in follows if not new]
    rows = FollowTag.objects.filter(follow_id__in=known, tag__wecom_tag_id__isnull=False).values_list("follow_id", "tag_id", "id") if known else []
    for follow_id, tag_id, row_id in rows:
        have.setdefault(follow_id, {})[tag_id] = row_id
    add, drop, stamp = [], [], timezone.now()
    for follow, wecom_ids, __ in follows:
        wanted, current = {tag_cache["map"][w] for w in wecom_ids if w in tag_cache["map"]}, have.get(follow.pk, {})
        add += [(corp.pk, follow.pk, t, stamp) for t in sorted(wanted - current.keys())]
        drop += [row_id for tag_id, row_id in current.items() if tag_id not in wanted]
    insert_many(FollowTag, ["corp_id", "follow_id", "tag_id", "created_at"], add, ignore_conflicts=True)
    if drop:
        FollowTag.objects.filter(pk__in=drop).delete()


# -- full sync ----------------------------------------------------------------------------------
MEMBERS_PER_CALL = 100  # batch/get_by_user takes at most 100 userids


@dataclass(frozen=True)
class SyncPhase:
    name: str
    run: Callable  # (run, client, on_progress) -> None; saves its own resume point in run.state
    label: object
    order: int


_phases: dict[str, SyncPhase] = {}
# What a run's counts mean, for people reading them in the console; phases add their own.
COUNT_LABELS: dict[str, object] = {}


def sync_phase(name: str, *, label, order: int, counts: dict | None = None) -> Callable:
    """Decorator: a phase of the full sync, run in `order` after the port's own (staff 10, tags 20,
    customers 30). A domain that mirrors more of WeCom (groups) registers its phase in ready()."""

    def register(function: Callable) -> Callable:
        _phases[name] = SyncPhase(name, function, label, order)
        COUNT_LABELS.update(counts or {})
        return function

    return register


def sync_phases() -> list[SyncPhase]:
    return sorted(_phases.values(), key=lambda p: p.order)


def sync_count(run: SyncRun, key: str, n: int = 1) -> None:
    run.counts[key] = run.counts.get(key, 0) + n


class SyncBusy(Conflict):
    code = "sync_running"


# One run per corp at a time. Its lease is its heartbeat: a run that saved nothing for
# SIYU_SYNC_STALE_SECONDS belongs to a dead worker and is taken over (resumed where it stopped).
# A failed run is not retried by itself: it waits for a person or the next scheduled period.
SYNC_WORK = DueWork(
    "sync",
    SyncRun,
    task="siyu.wecom.tasks.run_sync",
    waiting=(SyncRun.Status.QUEUED,),
    running=SyncRun.Status.RUNNING,
    done=SyncRun.Status.DONE,
    failed=SyncRun.Status.FAILED,
    lease=lambda: timedelta(seconds=settings.SIYU_SYNC_STALE_SECONDS),
    heartbeat="updated_at",
    max_attempts=1,
)


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.SIYU_SYNC_STALE_SECONDS)


def active_run(corp: Corp) -> SyncRun | None:
    """The corp's unfinished run (queued, running or failed), the one a new sync resumes."""
    return SyncRun.objects.filter(corp=corp).exclude(status=SyncRun.Status.DONE).order_by("-id").first()


def run_is_busy(run: SyncRun | None, *, queued_counts: bool = True) -> bool:
    # A run that saved nothing for a while belongs to a dead worker: it is resumable, not busy.
    if run is None or run.updated_at <= _stale_before():
        return False
    return run.status == SyncRun.Status.RUNNING or (queued_counts and run.status == SyncRun.Status.QUEUED)


def _claim_run(corp: Corp, restart: bool) -> SyncRun:
    with transaction.atomic():
        run = active_run(corp)
        if run_is_busy(run, queued_counts=False):
            raise SyncBusy(_("A sync of %(corp)s is already running (%(phase)s).") % {"corp": corp.name, "phase": phase_labels().get(run.phase, run.phase)})
        if restart and run is not None:
            run.status, run.error = SyncRun.Status.FAILED, "abandoned: a restart was asked for"
            run.save(update_fields=["status", "error"])
            run = None
        if run is None:
            run = SyncRun.objects.create(corp=corp)
        elif run.status == SyncRun.Status.FAILED:
            SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.QUEUED)  # resumed on request
        if SYNC_WORK.claim(run.pk) is None:
            raise SyncBusy(_("A sync of %(corp)s is already running (%(phase)s).") % {"corp": corp.name, "phase": phase_labels().get(run.phase, run.phase)})
        SyncRun.objects.filter(pk=run.pk).update(error="")
        run.refresh_from_db()
    return run


def full_sync(*, corp: Corp, client: WeComClient | None = None, restart: bool = False, on_progress=None) -> SyncRun:
    """Staff, corp tags, every customer with its follows, then groups. Resumes the last unfinished run.

    Each page of customers is committed with the run's resume point, so an interruption (crash,
    Ctrl-C, WeCom refusing) loses at most the page in flight, and running again continues there.
    Applying a contact is idempotent, so a page done twice changes nothing. One run per corp at a
    time: a second caller gets SyncBusy.
    """
    client = client or WeComClient(corp)
    run = _claim_run(corp, restart)
    calls_before = client.calls
    try:
        phases = sync_phases()
        names = [p.name for p in phases]
        for phase in phases[names.index(run.phase) if run.phase in names else 0 :]:
            run.phase = phase.name
            run.save(update_fields=["phase"])
            if on_progress:
                on_progress(run)  # a phase begins: a watcher times phases from here
            phase.run(run, client, on_progress)
        run.status, run.finished_at = SyncRun.Status.DONE, timezone.now()
    except BaseException as exc:
        run.status, run.error = SyncRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        run.api_calls += client.calls - calls_before
        run.save(update_fields=["status", "error", "finished_at", "api_calls"])
    return run


def sync_request(*, corp: Corp, user=None) -> SyncRun:
    """Queue a full sync for the worker (the console's button, the API, the schedule)."""
    if not corp.secret_encrypted:
        raise InvalidInput(_("The corp has no customer-contact secret yet; save it in the corp settings first."), field="secret", code="no_secret")
    with transaction.atomic():
        run = active_run(corp)
        if run_is_busy(run):
            raise SyncBusy(gettext("A sync is already queued or running."))
        if run is None:
            run = SyncRun.objects.create(corp=corp, requested_by=user)
        else:
            run.status, run.requested_by = SyncRun.Status.QUEUED, user
            run.save(update_fields=["status", "requested_by", "updated_at"])
        SYNC_WORK.enqueue(run.pk)
    return run


def sync_start(*, actor: Actor) -> SyncRun:
    """A person's request for a full sync (the console's button, the API): an admin's."""
    actor.require_admin()
    return sync_request(corp=actor.corp, user=actor.user)


def syncs_due() -> int:
    """Queue the periodic sync of every corp whose last complete sync is older than the setting."""
    hours = settings.SIYU_SYNC_EVERY_HOURS
    if hours <= 0:
        return 0
    cutoff = timezone.now() - timedelta(hours=hours)
    queued = 0
    for corp in Corp.objects.exclude(secret_encrypted=""):
        last = SyncRun.objects.filter(corp=corp, status=SyncRun.Status.DONE).order_by("-finished_at").values_list("finished_at", flat=True).first()
        if last and last > cutoff:
            continue
        run = active_run(corp)
        if run_is_busy(run) or (run and run.status == SyncRun.Status.FAILED and run.updated_at > cutoff):
            continue  # a failed run waits for a person or the next period, not a retry every sweep
        try:
            sync_request(corp=corp)
            queued += 1
        except SyncBusy:
            pass
    return queued


def syncs_sweep(*, older_than: timedelta = timedelta(seconds=60)) -> int:
    """Queued runs whose task was lost, and runs a dead worker left, get a task again."""
    return SYNC_WORK.sweep(older_than=older_than)


def phase_labels() -> dict[str, object]:
    return {p.name: p.label for p in sync_phases()}


_count = sync_count


@sync_phase("staff", label=_("Staff"), order=10, counts={"staff_created": _("staff added"), "staff_updated": _("staff updated"), "staff_left": _("staff left")})
def _sync_staff(run, client, on_progress) -> None:
    departments = client.department_list()
    users = client.user_list(1, fetch_child=True)
    corp = run.corp
    with transaction.atomic():
        by_id = {d["id"]: department_upsert(corp=corp, wecom_id=d["id"], name=d["name"], order=d.get("order", 0)) for d in departments}
        for d in departments:
            parent = by_id.get(d.get("parentid"))
            if parent and by_id[d["id"]].parent_id != parent.id:
                Department.objects.filter(pk=by_id[d["id"]].pk).update(parent=parent)
        existing = {s.userid: s for s in Staff.objects.filter(corp=corp)}
        seen = set()
        for u in users:
            seen.add(u["userid"])
            dept = by_id.get((u.get("department") or [None])[0])
            leads = bool((u.get("is_leader_in_dept") or [0])[0])  # aligned with `department`: the main one first
            before = existing.get(u["userid"])
            if before is None:
                _count(run, "staff_created")
            elif (before.name, before.department_id, before.status, before.is_leader) != (u["name"], dept.id if dept else None, Staff.Status.ACTIVE, leads):
                _count(run, "staff_updated")
            staff_upsert(corp=corp, userid=u["userid"], name=u["name"], department=dept, position=u.get("position", ""), is_leader=leads)
        left = Staff.objects.filter(corp=corp, status=Staff.Status.ACTIVE).exclude(userid__in=seen).update(status=Staff.Status.LEFT)
        _count(run, "staff_left", left)
        run.save(update_fields=["counts"])


@sync_phase(
    "tags",
    label=_("Tags"),
    order=20,
    counts={
        "tag_groups_created": _("tag groups added"),
        "tag_groups_linked": _("tag groups linked"),
        "tags_created": _("tags added"),
        "tags_linked": _("tags linked"),
        "tags_deleted": _("tags deleted"),
    },
)
def _sync_tags(run, client, on_progress) -> None:
    groups = client.get_corp_tag_list()
    with transaction.atomic():
        for key, n in mirror_tag_library(run.corp, groups).items():
            _count(run, key, n)
        run.save(update_fields=["counts"])


def mirror_tag_library(corp: Corp, groups: list[dict]) -> dict:
    """Make Siyu's WeCom-linked tag library equal get_corp_tag_list's answer; returns counts."""
    counts: dict[str, int] = {}
    stamp = timezone.now()
    seen_groups, seen_tags = set(), set()
    for g in groups:
        seen_groups.add(g["group_id"])
        group = TagGroup.objects.filter(corp=corp, wecom_group_id=g["group_id"]).first()
        if group is None:
            # A group made in Siyu under the same name is the same group: adopt it.
            group = TagGroup.objects.filter(corp=corp, name=g["group_name"], deleted_at__isnull=True, wecom_group_id__isnull=True).first() or TagGroup(
                corp=corp
            )
            key = "tag_groups_created" if group.pk is None else "tag_groups_linked"
            counts[key] = counts.get(key, 0) + 1
        group.wecom_group_id, group.name, group.order, group.deleted_at = g["group_id"], g["group_name"][:30], g.get("order", 0), None
        group.save()
        for t in g.get("tag", []):
            seen_tags.add(t["id"])
            tag = Tag.objects.filter(corp=corp, wecom_tag_id=t["id"]).first()
            if tag is None:
                tag = Tag.objects.filter(group=group, name=t["name"], deleted_at__isnull=True, wecom_tag_id__isnull=True).first() or Tag(corp=corp, group=group)
                key = "tags_created" if tag.pk is None else "tags_linked"
                counts[key] = counts.get(key, 0) + 1
            tag.group, tag.wecom_tag_id, tag.name, tag.order, tag.deleted_at = group, t["id"], t["name"][:30], t.get("order", 0), None
            tag.save()
    gone_tags = Tag.objects.filter(corp=corp, wecom_tag_id__isnull=False, deleted_at__isnull=True).exclude(wecom_tag_id__in=seen_tags)
    counts["tags_deleted"] = gone_tags.update(deleted_at=stamp)
    TagGroup.objects.filter(corp=corp, wecom_group_id__isnull=False, deleted_at__isnull=True).exclude(wecom_group_id__in=seen_groups).update(deleted_at=stamp)
    return counts


@sync_phase(
    "customers",
    label=_("Customers"),
    order=30,
    counts={
        "contacts_seen": _("contacts read"),
        "customers_created": _("customers added"),
        "follows_created": _("follows added"),
    },
)
def _sync_customers(run, client, on_progress) -> None:
    corp = run.corp
    members = client.get_follow_user_list()
    chunks = [members[i : i + MEMBERS_PER_CALL] for i in range(0, len(members), MEMBERS_PER_CALL)]
    run.progress_total = len(members)
    if "customers_before" not in run.state:
        run.state.update(
            chunk=0, cursor="", customers_before=Customer.objects.filter(corp=corp).count(), follows_before=Follow.objects.filter(corp=corp).count()
        )
    run.save(update_fields=["progress_total", "state"])
    staff_cache, tag_cache, cache = {}, {}, {}
    pages = 0
    for index in range(run.state["chunk"], len(chunks)):
        cursor = run.state["cursor"] if index == run.state["chunk"] else ""
        for items, next_cursor in client.read_ahead(client.iter_contacts_by_user(chunks[index], cursor=cursor, limit=100)):
            with transaction.atomic():
                # A page lost in a crash is lost with its resume point, and read again: its commit
                # need not wait for the disk.
                commit_unflushed()
                apply_contacts(
                    corp, [(i["external_contact"], [i["follow_info"]]) for i in items], source=SYNC, staff_cache=staff_cache, tag_cache=tag_cache, cache=cache
                )
                run.state.update(chunk=index + 1 if not next_cursor else index, cursor=next_cursor)
                _count(run, "contacts_seen", len(items))
                run.progress_done = sum(len(c) for c in chunks[: run.state["chunk"]])
                run.save(update_fields=["state", "counts", "progress_done"])
            pages += 1
            if pages >= 4 and pages & (pages - 1) == 0:
                # The tables a page reads by the hundred keys grow from nothing to millions of rows
                # in one run; planner statistics from when they were small would have PostgreSQL
                # scan a whole table for each page. Refreshed as they double, a few times a run.
                statistics_refresh(Customer, Follow, FollowTag, CustomerPhone)
            if on_progress:
                on_progress(run)
    run.counts["customers_created"] = Customer.objects.filter(corp=corp).count() - run.state["customers_before"]
    run.counts["follows_created"] = Follow.objects.filter(corp=corp).count() - run.state["follows_before"]
    run.progress_done = run.progress_total
    run.save(update_fields=["counts", "progress_done"])
