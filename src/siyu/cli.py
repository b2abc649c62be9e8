"""The `siyu` command: Django's management commands under one name."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    if sys.argv[1:2] == ["demo"]:
        # The demo's WeCom is the sandbox; everywhere else it is off unless asked for.
        os.environ.setdefault("SIYU_SANDBOX", "1")
    from django.core.management import execute_from_command_line  # noqa: PLC0415 — after the settings module is chosen

    execute_from_command_line(["siyu", *sys.argv[1:]])


if __name__ == "__main__":
    main()
