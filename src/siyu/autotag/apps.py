from django.apps import AppConfig


class AutotagConfig(AppConfig):
    name = "siyu.autotag"
    label = "autotag"
    verbose_name = "Auto-tag rules"
