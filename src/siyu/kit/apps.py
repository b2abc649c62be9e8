from django.apps import AppConfig


class KitConfig(AppConfig):
    name = "siyu.kit"
    label = "kit"
