"""Writes for auto-tag rules: saving them, applying them to follows, backfilling."""

from __future__ import annotations

import functools
import logging
import operator
from collections import defaultdict

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.customers.models import Follow, FollowTag, TimelineEvent
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor
from siyu.tags.selectors import resolve_tags

from .conditions import compile_rule, conditions_clean
from .models import TagRule

log = logging.getLogger(__name__)
BATCH = 2000


def rule_save(
    *,
    actor: Actor,
    rule: TagRule | None = None,
    name: str,
    conditions: list,
    match: str = TagRule.Match.ALL,
    add_tag_ids: list[int] = (),
    remove_tag_ids: list[int] = (),
    enabled: bool = True,
) -> TagRule:
    actor.require_manager()
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_("A rule needs a name."), field="name")
    text_within(name, 64, "name")
    if match not in TagRule.Match.values:
        raise InvalidInput(_("Match all or any."), field="match")
    clean = conditions_clean(actor.corp, conditions)
    add = resolve_tags(actor, list(add_tag_ids), "add_tag_ids")
    remove = resolve_tags(actor, list(remove_tag_ids), "remove_tag_ids")
    if not add and not remove:
        raise InvalidInput(_("A rule must add or remove at least one tag."), code="no_action", field="add_tag_ids")
    both = {t.id for t in add} & {t.id for t in remove}
    if both:
        raise InvalidInput(_("The same tag cannot be added and removed by one rule."), code="tag_conflict", field="remove_tag_ids")
    rule = rule or TagRule(corp=actor.corp)
    rule.name, rule.match, rule.conditions, rule.enabled = name, match, clean, enabled
    rule.save()
    rule.add_tags.set(add)
    rule.remove_tags.set(remove)
    return rule


def rule_delete(*, actor: Actor, rule: TagRule) -> None:
    actor.require_manager()
    rule.delete()


def matching_follows(rule: TagRule):
    """Active follows of the rule's corp that meet its conditions (evaluate in the corp's timezone)."""
    return Follow.objects.filter(corp_id=rule.corp_id, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True).filter(
        compile_rule(rule.conditions, rule.match)
    )


def _changes(rule: TagRule, follow_ids: list[int]) -> dict[int, tuple[set[int], set[int]]]:
    """Per follow among `follow_ids`: the rule's tags it lacks, and the tags it has that the rule removes."""
    add = {t.id for t in rule.add_tags.all()}
    remove = {t.id for t in rule.remove_tags.all()}
    have = defaultdict(set)
    for fid, tid in FollowTag.objects.filter(follow_id__in=follow_ids, tag_id__in=add | remove).values_list("follow_id", "tag_id"):
        have[fid].add(tid)
    out = {}
    for fid in follow_ids:
        plus, minus = add - have[fid], remove & have[fid]
        if plus or minus:
            out[fid] = (plus, minus)
    return out


def _apply(corp: Corp, rule: TagRule, changes: dict[int, tuple[set[int], set[int]]]) -> int:
    """Write the changes (tags, timeline) and queue them for WeCom after the commit."""
    if not changes:
        return 0
    FollowTag.objects.bulk_create(
        [FollowTag(corp=corp, follow_id=fid, tag_id=tid) for fid, (plus, _minus) in changes.items() for tid in plus],
        ignore_conflicts=True,
        batch_size=BATCH,
    )
    for fid, (_plus, minus) in changes.items():
        if minus:
            FollowTag.objects.filter(follow_id=fid, tag_id__in=minus).delete()
    names = dict(rule.add_tags.values_list("id", "name")) | dict(rule.remove_tags.values_list("id", "name"))
    follows = dict(Follow.objects.filter(pk__in=list(changes)).values_list("pk", "customer_id"))
    staff = dict(Follow.objects.filter(pk__in=list(changes)).values_list("pk", "staff_id"))
    stamp = now()
    events = []
    for fid, (plus, minus) in changes.items():
        for kind, ids in ((TimelineEvent.Kind.TAGGED, plus), (TimelineEvent.Kind.UNTAGGED, minus)):
            if ids:
                events.append(
                    TimelineEvent(
                        corp=corp,
                        customer_id=follows[fid],
                        kind=kind,
                        staff_id=staff[fid],
                        occurred_at=stamp,
                        data={"tags": sorted(names[t] for t in ids), "by": f"rule: {rule.name}"},
                    )
                )
    TimelineEvent.objects.bulk_create(events, batch_size=BATCH)
    payload = [[fid, sorted(plus), sorted(minus)] for fid, (plus, minus) in changes.items()]
    enqueue_after_commit("siyu.wecom.tasks.push_tags_to_wecom", corp.pk, payload)
    return len(changes)


def rules_apply(*, corp: Corp, follows: list[Follow]) -> int:
    """Run every enabled rule of the corp on these follows (a new add, a group join); returns how
    many follow-rule pairs changed tags. Idempotent: a tag already there is not added again."""
    ids = [f.pk for f in follows]
    if not ids:
        return 0
    changed = 0
    with timezone.override(corp.tzinfo):
        for rule in TagRule.objects.filter(corp=corp, enabled=True).prefetch_related("add_tags", "remove_tags").order_by("id"):
            matched = list(matching_follows(rule).filter(pk__in=ids).values_list("pk", flat=True))
            if matched:
                changed += _apply(corp, rule, _changes(rule, matched))
    return changed


def _needs_change(rule: TagRule) -> Q:
    """A follow lacking one of the rule's tags, or carrying one it removes."""
    parts = [Q(~Exists(FollowTag.objects.filter(follow=OuterRef("pk"), tag_id=t.id))) for t in rule.add_tags.all()]
    remove = [t.id for t in rule.remove_tags.all()]
    if remove:
        parts.append(Q(Exists(FollowTag.objects.filter(follow=OuterRef("pk"), tag_id__in=remove))))
    return functools.reduce(operator.or_, parts, Q(pk__in=[]))


def rule_preview(rule: TagRule) -> dict:
    """How many active follows meet the rule now, and how many of them a backfill would change
    (two counts in the database, whatever the corp's size)."""
    with timezone.override(rule.corp.tzinfo):
        matching = matching_follows(rule)
        return {"matching": matching.count(), "would_change": matching.filter(_needs_change(rule)).count()}


def rule_backfill_request(*, actor: Actor, rule: TagRule) -> TagRule:
    actor.require_manager()
    if not rule.enabled:
        raise InvalidInput(_("Enable the rule before backfilling it."), code="rule_disabled", field="enabled")
    if rule.backfill_status in ("queued", "running"):
        return rule
    rule.backfill_status = "queued"
    rule.save(update_fields=["backfill_status"])
    enqueue_after_commit("siyu.autotag.tasks.backfill_rule", rule.pk)
    return rule


def rule_backfill(rule_id: int) -> dict:
    """Apply a rule to every existing follow that meets it, a batch per transaction; a crash leaves
    finished batches in place and a rerun skips what is already tagged."""
    rule = TagRule.objects.select_related("corp").prefetch_related("add_tags", "remove_tags").get(pk=rule_id)
    TagRule.objects.filter(pk=rule_id).update(backfill_status="running")
    with timezone.override(rule.corp.tzinfo):
        matching = matching_follows(rule)
        total = matching.count()
        ids = list(matching.filter(_needs_change(rule)).order_by("pk").values_list("pk", flat=True))
    changed = 0
    for i in range(0, len(ids), BATCH):
        with transaction.atomic():
            changed += _apply(rule.corp, rule, _changes(rule, ids[i : i + BATCH]))
    counts = {"matching": total, "changed": changed}
    TagRule.objects.filter(pk=rule_id).update(backfill_status="done", backfilled_at=now(), backfill_counts=counts)
    return counts
