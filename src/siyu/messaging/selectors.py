from django.db.models import Count

from siyu.corps.models import Staff
from siyu.kit.tenancy import Actor

from .models import Media, WelcomeMessage, WelcomeSend


def welcome_messages(actor: Actor):
    return WelcomeMessage.objects.for_corp(actor.corp).select_related("live_code", "staff").order_by("id")


def welcome_sends(actor: Actor, *, status: str | None = None):
    qs = WelcomeSend.objects.for_corp(actor.corp)
    if actor.is_guide:
        # A guide sees the welcomes of their own adds (a send names the staff by WeCom userid).
        qs = qs.filter(userid__in=Staff.objects.filter(corp=actor.corp, pk=actor.staff_id).values("userid"))
    return qs.filter(status=status) if status else qs


def welcome_send_counts(actor: Actor) -> dict[str, int]:
    return dict(welcome_sends(actor).order_by().values_list("status").annotate(n=Count("id")))


def welcome_for_live_code(actor: Actor, live_code) -> WelcomeMessage | None:
    return WelcomeMessage.objects.for_corp(actor.corp).filter(live_code=live_code).first()


def media_list(actor: Actor):
    return Media.objects.for_corp(actor.corp).defer("content").order_by("-id")
