from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "siyu.analytics"
    label = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from . import jobs  # noqa: F401, PLC0415 — importing registers them
