from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "siyu.groups"
    label = "groups"

    def ready(self) -> None:
        # WeCom's group-chat callbacks and sync phase, and subscribers to other domains' events.
        from . import handlers, jobs, subscribers, sync  # noqa: F401, PLC0415 — importing registers them
