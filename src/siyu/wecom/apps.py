from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WecomConfig(AppConfig):
    name = "siyu.wecom"
    label = "wecom"
    verbose_name = _("WeCom")

    def ready(self) -> None:
        from . import handlers, jobs, subscribers  # noqa: F401, PLC0415 — importing registers the contact handlers, the jobs and the subscribers
