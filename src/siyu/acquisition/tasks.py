from django_tasks import task

from . import services


@task(queue_name="priority")
def refresh_live_code(live_code_id: int) -> str:
    return services.live_code_push_due(live_code_id)
