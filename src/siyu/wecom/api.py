from datetime import datetime

from ninja import Router, Schema, Status

from . import selectors
from .sync import sync_request

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
    request.auth.require_admin()
    return list(selectors.sync_runs(request.auth, limit=20))


@router.post("/wecom/sync", response={202: SyncRunOut})
def sync_start(request):
    """Queue a full sync; 409 sync_running while one is queued or running."""
    request.auth.require_admin()
    return Status(202, sync_request(corp=request.auth.corp, user=request.auth.user))
