from django_tasks import task

from . import services


# Welcome sends share the callbacks' queue and go first in it (priority 100): WeCom's window
# closes 20 seconds after the add, whatever else is waiting.
@task(queue_name="priority")
def send_welcome(welcome_send_id: int) -> str:
    return services.welcome_send(welcome_send_id)


@task(queue_name="priority")
def refresh_live_code(live_code_id: int) -> str:
    code = services.live_code_push(live_code_id)
    return f"pushed {len(code.pushed_users)} user(s)" + (" (overflowing)" if code.overflowing else "")
