from django.apps import AppConfig


class WecomConfig(AppConfig):
    name = "siyu.wecom"
    label = "wecom"

    def ready(self) -> None:
        from . import handlers, jobs, subscribers  # noqa: F401, PLC0415 — importing registers the contact handlers, the jobs and the subscribers
