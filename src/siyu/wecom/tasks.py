from django.conf import settings
from django_tasks import task

from siyu.kit import queue

from . import services
from .models import SyncRun
from .outbound import follow_tags_push
from .sync import SyncBusy, full_sync


# Callbacks go to the priority queue: a welcome message has 20 seconds (issue 4).
@task(queue_name="priority")
def handle_callback_event(event_id: int) -> str:
    return services.callbacks_handle(event_id=event_id, gather=0.0 if queue.draining else settings.SIYU_CALLBACK_GATHER)


@task()
def run_sync(run_pk: int) -> dict:
    run = SyncRun.objects.select_related("corp").filter(pk=run_pk).first()
    if run is None or run.status == SyncRun.Status.DONE:
        return {"skipped": "the run is over"}
    try:
        run = full_sync(corp=run.corp)
    except SyncBusy:
        return {"skipped": "another worker is running this corp's sync"}
    return run.counts


@task()
def push_tags_to_wecom(corp_pk: int, changes: list) -> str:
    """Mirror tag changes Siyu made on follows (rules, phone-import tags) into WeCom, so WeCom and
    Siyu agree and the next contact read does not undo them. [follow id, add ids, remove ids]."""

    return follow_tags_push(corp_pk=corp_pk, changes=changes)
