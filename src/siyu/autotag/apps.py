from django.apps import AppConfig


class AutotagConfig(AppConfig):
    name = "siyu.autotag"
    label = "autotag"
    verbose_name = "Auto-tag rules"

    def ready(self) -> None:
        from . import subscribers  # noqa: F401, PLC0415 — importing registers them
