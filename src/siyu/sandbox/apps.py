from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "siyu.sandbox"
    label = "sandbox"
    verbose_name = "WeCom sandbox"
