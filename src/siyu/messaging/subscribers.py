"""What messaging does with WeCom's events (registered in MessagingConfig.ready())."""

from siyu.kit.events import subscribe
from siyu.wecom.events import ContactAddReceived

from .services import welcome_enqueue


@subscribe(ContactAddReceived)
def welcome_on_add(event: ContactAddReceived) -> None:
    welcome_enqueue(event)
