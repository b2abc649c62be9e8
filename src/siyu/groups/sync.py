"""The groups phase of WeCom's full sync (registered with wecom.sync in GroupsConfig.ready())."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.corps.models import Staff
from siyu.wecom.client import WeComError
from siyu.wecom.events import SYNC
from siyu.wecom.sync import sync_count, sync_phase

from .models import CustomerGroup
from .services import group_apply, group_dismissed

OWNERS_PER_CALL = 100  # groupchat/list's owner filter, kept at the size of batch/get_by_user's


@sync_phase(
    "groups",
    label=_("Customer groups"),
    order=40,
    counts={
        "groups_seen": _("groups read"),
        "group_members_joined": _("group joins"),
        "group_members_left": _("group leaves"),
        "groups_dismissed": _("groups dismissed"),
    },
)
def sync_groups(run, client, on_progress) -> None:
    """Every group of every staff member (owner filter in chunks: unfiltered lists stop at 1,000).

    Details are read page by page with no transaction open, then the page is applied and the
    resume point saved together. A group not seen by this run is gone from WeCom: dismissed.
    """
    corp = run.corp
    owners = sorted(Staff.objects.filter(corp=corp).values_list("userid", flat=True))
    chunks = [owners[i : i + OWNERS_PER_CALL] for i in range(0, len(owners), OWNERS_PER_CALL)]
    if "group_chunk" not in run.state:
        run.state.update(group_chunk=0, group_cursor="", groups_since=timezone.now().isoformat())
    run.progress_total, run.progress_done = len(owners), min(run.state["group_chunk"] * OWNERS_PER_CALL, len(owners))
    run.save(update_fields=["state", "progress_total", "progress_done"])
    since = datetime.fromisoformat(run.state["groups_since"])
    for index in range(run.state["group_chunk"], len(chunks)):
        cursor = run.state["group_cursor"] if index == run.state["group_chunk"] else ""
        # Pages of 100 groups keep the run's heartbeat (its saves) frequent: each group is one more call.
        for items, next_cursor in client.iter_groupchats(owners=chunks[index], cursor=cursor, limit=100):
            details = []
            for item in items:
                fetched_at = timezone.now()
                try:
                    details.append((client.groupchat_get(item["chat_id"]), fetched_at))
                except WeComError as exc:
                    if exc.errcode != 86003:  # dismissed between list and get: the end of the run catches it
                        raise
            with transaction.atomic():
                for chat, fetched_at in details:
                    _, counts = group_apply(corp=corp, data=chat, fetched_at=fetched_at, source=SYNC)
                    sync_count(run, "group_members_joined", counts["joined"])
                    sync_count(run, "group_members_left", counts["left"])
                sync_count(run, "groups_seen", len(details))
                run.state.update(group_chunk=index + 1 if not next_cursor else index, group_cursor=next_cursor)
                run.progress_done = min(run.state["group_chunk"] * OWNERS_PER_CALL, len(owners))
                run.save(update_fields=["state", "counts", "progress_done"])
            if on_progress:
                on_progress(run)
    with transaction.atomic():
        gone = CustomerGroup.objects.filter(corp=corp, status=CustomerGroup.Status.ACTIVE).filter(Q(fetched_at__lt=since) | Q(fetched_at__isnull=True))
        chat_ids = list(gone.values_list("chat_id", flat=True))
        for chat_id in chat_ids:
            group_dismissed(corp=corp, chat_id=chat_id)
        sync_count(run, "groups_dismissed", len(chat_ids))
        run.save(update_fields=["counts"])
