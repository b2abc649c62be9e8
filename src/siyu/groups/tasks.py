from django_tasks import task

from . import codes


@task(queue_name="priority")
def refresh_group_code(group_code_id: int) -> str:
    code = codes.group_code_push(group_code_id)
    return f"join way holds {len(code.pushed_chat_ids)} group(s)" + (f"; {code.alert}" if code.alert else "")
