from datetime import date

from django_tasks import task

from . import behaviour, handover, services


@task()
def assign_guide_task(task_id: int) -> str:
    return services.guide_task_assign(task_id)


@task()
def notify_guides(task_id: int) -> str:
    return services.guide_task_notify(task_id)


@task()
def remind_guides(task_id: int) -> str:
    return services.guide_task_remind(task_id)


@task()
def refresh_tag_task(task_id: int) -> int:
    return services.tag_items_refresh(task_id)


@task()
def pull_behaviour(corp_id: int, staff_ids: list[int], first: str, last: str) -> int:
    return behaviour.behaviour_pull(corp_id, staff_ids, date.fromisoformat(first), date.fromisoformat(last))


@task()
def send_handover(handover_id: int) -> str:
    return handover.handover_send(handover_id)


@task()
def pull_handover(handover_id: int) -> str:
    return handover.handover_pull(handover_id)
