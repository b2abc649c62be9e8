from django_tasks import task

from . import importer


@task()
def run_order_import(run_pk: int) -> str:
    return importer.order_import_run(run_pk)
