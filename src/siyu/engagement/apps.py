from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    name = "siyu.engagement"
    label = "engagement"
    verbose_name = _("Engagement")

    def ready(self) -> None:
        from . import jobs, subscribers  # noqa: F401, PLC0415 — importing registers them
