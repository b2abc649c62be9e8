from django.apps import AppConfig


class CorpsConfig(AppConfig):
    name = "siyu.corps"
    label = "corps"
