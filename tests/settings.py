"""The settings the test suite runs with: production's, with the WeCom sandbox on (tests drive the
real client against it). Said in the environment, so the `siyu worker` subprocesses tests start
load the production settings module and still get the sandbox."""

import os

os.environ.setdefault("SIYU_SANDBOX", "1")
os.environ["DJANGO_SETTINGS_MODULE"] = "siyu.settings"

from siyu.settings import *  # noqa: E402, F403
