from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CorpsConfig(AppConfig):
    name = "siyu.corps"
    label = "corps"
    verbose_name = _("Corps and people")
