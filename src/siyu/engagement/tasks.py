from django_tasks import task

from . import reading


@task()
def reading_alert(view_id: int) -> str:
    return reading.reading_alert(view_id)
