from django_tasks import task

from . import codes


@task(queue_name="priority")
def refresh_group_code(group_code_id: int) -> str:
    return codes.group_code_push_due(group_code_id)
