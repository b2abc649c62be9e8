from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class OrdersConfig(AppConfig):
    name = "siyu.orders"
    label = "orders"
    verbose_name = pgettext_lazy("page", "Orders")

    def ready(self) -> None:
        from . import jobs, subscribers  # noqa: F401, PLC0415 — importing registers them
