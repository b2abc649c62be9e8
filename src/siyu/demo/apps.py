from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "siyu.demo"
    label = "demo"
