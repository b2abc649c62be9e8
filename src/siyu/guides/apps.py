from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GuidesConfig(AppConfig):
    name = "siyu.guides"
    label = "guides"
    verbose_name = _("Guide tasks")

    def ready(self) -> None:
        from . import jobs, subscribers  # noqa: F401, PLC0415 — importing registers them
