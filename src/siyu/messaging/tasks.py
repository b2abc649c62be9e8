from django_tasks import task

from . import services


# Welcome sends share the callbacks' queue and go first in it (priority 100): WeCom's window
# closes 20 seconds after the add, whatever else is waiting.
@task(queue_name="priority")
def send_welcome(welcome_send_id: int) -> str:
    return services.welcome_send(welcome_send_id)


@task()
def push_group_welcome(group_welcome_id: int) -> str:
    return services.group_welcome_push(group_welcome_id)
