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
