from django_tasks import task

from . import services


@task()
def backfill_rule(rule_id: int) -> dict:
    try:
        return services.rule_backfill(rule_id)
    except Exception:
        from .models import TagRule

        TagRule.objects.filter(pk=rule_id).update(backfill_status="failed")
        raise


@task()
def push_tags_to_wecom(corp_pk: int, changes: list) -> str:
    """Mirror rule-made tag changes into WeCom (mark_tag per follow), so WeCom and Siyu agree and
    the next contact read does not undo them. `changes`: [follow id, add tag ids, remove tag ids]."""
    from siyu.wecom.outbound import follow_tags_push

    return follow_tags_push(corp_pk=corp_pk, changes=changes)
