"""Login throttling policy for django-axes (the maintained package that counts and locks)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

MAX_COOLOFF = timedelta(days=1)


def login_cooloff(request=None) -> timedelta:
    """How long a locked account or network waits: SIYU_LOGIN_COOLOFF_MINUTES, doubling with each
    failure past the limit (a script that keeps guessing waits longer and longer), at most a day."""
    failures = getattr(request, "axes_failures_since_start", 0) or 0
    extra = min(max(0, failures - settings.AXES_FAILURE_LIMIT), 16)
    return min(timedelta(minutes=settings.SIYU_LOGIN_COOLOFF_MINUTES) * 2**extra, MAX_COOLOFF)
