from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "siyu.messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from . import jobs, subscribers  # noqa: F401, PLC0415 — importing registers them
