"""What messaging does with the events of the domains below it (registered in MessagingConfig.ready())."""

from siyu.acquisition.events import LiveCodeSaved
from siyu.groups.events import GroupCodeSaved
from siyu.groups.models import GroupCode
from siyu.kit.events import subscribe
from siyu.wecom.events import ContactAddReceived

from .services import group_welcome_set, welcome_enqueue, welcome_message_set


@subscribe(ContactAddReceived)
def welcome_on_add(event: ContactAddReceived) -> None:
    welcome_enqueue(event)


@subscribe(LiveCodeSaved)
def live_code_welcome(event: LiveCodeSaved) -> None:
    if event.welcome is not None:
        welcome = event.welcome
        welcome_message_set(actor=event.actor, live_code=event.live_code, text=welcome.get("text", ""), attachments=welcome.get("attachments", []))


@subscribe(GroupCodeSaved)
def group_code_welcome(event: GroupCodeSaved) -> None:
    if event.code.status == GroupCode.Status.DELETED:
        group_welcome_set(actor=event.actor, group_code=event.code)  # its template goes too
    elif event.welcome is not None:
        group_welcome_set(actor=event.actor, group_code=event.code, text=event.welcome.get("text", ""), attachments=event.welcome.get("attachments", []))
