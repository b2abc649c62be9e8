from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    name = "siyu.groups"
    label = "groups"
    verbose_name = _("Customer groups")

    def ready(self) -> None:
        # WeCom's group-chat callbacks and sync phase, and subscribers to other domains' events.
        from . import handlers, jobs, subscribers, sync  # noqa: F401, PLC0415 — importing registers them
