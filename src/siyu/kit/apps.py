from django.apps import AppConfig


class KitConfig(AppConfig):
    name = "siyu.kit"
    label = "kit"

    def ready(self):
        from . import db  # noqa: F401, PLC0415 — registers the any_of lookup, once the models can load
