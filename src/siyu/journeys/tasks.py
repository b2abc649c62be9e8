from django_tasks import task

from . import engine, entries


@task()
def run_due(_nothing: int = 0) -> int:
    return engine.run_due()


@task()
def make_bundle(bundle_id: int) -> str:
    return engine.bundle_make(bundle_id)


@task()
def make_call(call_id: int) -> str:
    return engine.call_make(call_id)


@task()
def enter_due(journey_id: int) -> int:
    return entries.enter_due()
