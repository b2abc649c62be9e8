from datetime import datetime

from ninja import Router, Schema, Status

from . import selectors, sync

router = Router(tags=["wecom"])


class SyncRunOut(Schema):
    id: int
    status: str
    phase: str
    progress_done: int
    progress_total: int
    counts: dict[str, int]
    api_calls: int
    error: str
    started_at: datetime
    finished_at: datetime | None


@router.get("/wecom/sync-runs", response=list[SyncRunOut])
def sync_runs(request):
    return list(selectors.sync_runs(request.auth, limit=20))


@router.post("/wecom/sync", response={202: SyncRunOut})
def sync_start(request):
    """Queue a full sync; 409 sync_running while one is queued or running."""
    return Status(202, sync.sync_start(actor=request.auth))
