from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutotagConfig(AppConfig):
    name = "siyu.autotag"
    label = "autotag"
    verbose_name = _("Auto-tag rules")

    def ready(self) -> None:
        from . import subscribers  # noqa: F401, PLC0415 — importing registers them
