"""Group chat callbacks, registered with WeCom's port (wecom.handlers) in GroupsConfig.ready()."""

from __future__ import annotations

from django.utils import timezone

from siyu.wecom.client import WeComClient, WeComError
from siyu.wecom.events import CALLBACK
from siyu.wecom.handlers import callback_handler, event_time
from siyu.wecom.models import CallbackEvent

from .codes import group_codes_after_change
from .services import group_apply, group_dismissed

# groupchat/get for a group that was dismissed (or never visible to this app).
CHAT_GONE = {86003}


@callback_handler("change_external_chat", "create", "update")
def group_changed(event: CallbackEvent, client: WeComClient):
    # Create and every kind of update (members, owner, name, notice): the event says what moved,
    # groupchat/get says what the group is now; applying "now" is idempotent and order-proof.
    data = event.payload
    fetched_at = timezone.now()
    try:
        chat = client.groupchat_get(data.get("ChatId", ""))
    except WeComError as exc:
        if exc.errcode in CHAT_GONE:
            return group_gone(event, client)
        raise
    removed = set(data.get("MemChangeList") or []) if data.get("UpdateDetail") == "del_member" and str(data.get("QuitScene")) == "1" else set()

    def write():
        group, counts = group_apply(corp=event.corp, data=chat, removed=removed, fetched_at=fetched_at, source=CALLBACK)
        if counts.get("stale"):
            return "skipped: a newer answer was already applied"
        group_codes_after_change(corp=event.corp, group=group)
        return f"group applied: {counts['joined']} joined, {counts['left']} left"

    return write


@callback_handler("change_external_chat", "dismiss")
def group_gone(event: CallbackEvent, client: WeComClient):
    chat_id = event.payload.get("ChatId", "")
    return lambda: "dismissed" if group_dismissed(corp=event.corp, chat_id=chat_id, at=event_time(event)) else "unknown group"
