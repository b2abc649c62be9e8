from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "siyu.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from . import jobs  # noqa: F401, PLC0415 — registers the periodic jobs once the apps are loaded
