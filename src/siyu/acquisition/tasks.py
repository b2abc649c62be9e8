from django_tasks import task

from . import services


@task(queue_name="priority")
def refresh_live_code(live_code_id: int) -> str:
    code = services.live_code_push(live_code_id)
    return f"pushed {len(code.pushed_users)} user(s)" + (" (overflowing)" if code.overflowing else "")
