from django.apps import AppConfig


class AcquisitionConfig(AppConfig):
    name = "siyu.acquisition"
    label = "acquisition"
    verbose_name = "Acquisition"

    def ready(self) -> None:
        from . import jobs, subscribers  # noqa: F401, PLC0415 — importing registers them
