from django_tasks import task

from . import services
from .models import TagRule


@task()
def backfill_rule(rule_id: int) -> dict:
    try:
        return services.rule_backfill(rule_id)
    except Exception:
        TagRule.objects.filter(pk=rule_id).update(backfill_status="failed")
        raise
