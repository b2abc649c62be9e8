from django_tasks import task

from . import mass_sends, moments, services


# Welcome sends share the callbacks' queue and go first in it (priority 100): WeCom's window
# closes 20 seconds after the add, whatever else is waiting.
@task(queue_name="priority")
def send_welcome(welcome_send_id: int) -> str:
    return services.welcome_send(welcome_send_id)


@task()
def push_group_welcome(group_welcome_id: int) -> str:
    return services.group_welcome_push(group_welcome_id)


@task()
def plan_mass_send(send_id: int) -> str:
    return mass_sends.mass_send_plan(send_id)


@task()
def create_mass_send_task(task_id: int) -> str:
    return mass_sends.mass_send_task_create(task_id)


@task()
def pull_mass_send(send_id: int) -> str:
    return mass_sends.mass_send_pull(send_id)


@task()
def cancel_mass_send(send_id: int) -> str:
    return mass_sends.mass_send_cancel_in_wecom(send_id)


@task()
def remind_mass_send(send_id: int) -> dict:
    return mass_sends.mass_send_remind_in_wecom(send_id)


@task()
def mirror_staff_sends(corp_id: int) -> int:
    return mass_sends.staff_sends_mirror(corp_id)


@task()
def create_moment(moment_id: int) -> str:
    return moments.moment_create_in_wecom(moment_id)


@task()
def pull_moment(moment_id: int) -> str:
    return moments.moment_pull(moment_id)


@task()
def cancel_moment(moment_id: int) -> str:
    return moments.moment_cancel_in_wecom(moment_id)


@task()
def remind_moment(moment_id: int) -> int:
    return moments.moment_remind_in_wecom(moment_id)
