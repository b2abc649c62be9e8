from django_tasks import task

from . import phone_import, services


@task(queue_name="priority")
def refresh_live_code(live_code_id: int) -> str:
    return services.live_code_push_due(live_code_id)


@task()
def run_phone_import(batch_pk: int) -> str:
    return phone_import.phone_import_run(batch_pk)
