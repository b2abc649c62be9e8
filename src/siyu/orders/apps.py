from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "siyu.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from . import subscribers  # noqa: F401, PLC0415 — importing registers them
