"""Domain events: one small registry through which a lower domain tells the domains above it what
happened, without importing them.

A publisher defines its events as frozen dataclasses in its own `events.py` and calls `publish`;
a subscriber registers in its `AppConfig.ready()` with `subscribe`. Each subscription says
- `order`: subscribers of one event run lowest first (ties by registration), so where one
  subscriber relies on another's writes the order is written down, not an accident of imports;
- `after_commit`: run inside the publisher's transaction (the default: the subscriber's writes
  commit or roll back with the publisher's), or after it commits (for WeCom calls, enqueues,
  anything that must not run for a rolled-back change). With no transaction open, "after commit"
  runs at once.

`publish` returns what the in-transaction subscribers returned, in order, for the few events that
ask a question of their subscribers (documented on the event).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subscription:
    event_type: type
    handler: Callable
    order: int
    after_commit: bool
    name: str


_subscriptions: dict[type, list[Subscription]] = {}


def subscribe(event_type: type, *, order: int = 100, after_commit: bool = False, name: str | None = None) -> Callable:
    """Decorator: call the function with every published `event_type`. Registering the same
    function twice (a reloaded module) keeps one subscription."""

    def register(handler: Callable) -> Callable:
        label = name or f"{handler.__module__}.{handler.__qualname__}"
        subs = [s for s in _subscriptions.get(event_type, []) if s.name != label]
        subs.append(Subscription(event_type, handler, order, after_commit, label))
        subs.sort(key=lambda s: s.order)  # stable: equal orders keep registration order
        _subscriptions[event_type] = subs
        return handler

    return register


def unsubscribe(event_type: type, handler: Callable) -> None:
    _subscriptions[event_type] = [s for s in _subscriptions.get(event_type, []) if s.handler is not handler]


@contextlib.contextmanager
def subscribed(event_type: type, handler: Callable, **options) -> Iterator[None]:
    """A subscription for the length of a block (tests)."""
    subscribe(event_type, **options)(handler)
    try:
        yield
    finally:
        unsubscribe(event_type, handler)


def subscriptions(event_type: type) -> list[Subscription]:
    return list(_subscriptions.get(event_type, []))


def _run_after_commit(sub: Subscription, event) -> None:
    try:
        sub.handler(event)
    except Exception:  # noqa: BLE001 — the publisher's change is committed; one subscriber must not undo the others
        log.exception("after-commit subscriber %s failed on %s", sub.name, type(event).__name__)


def publish(event) -> list:
    answers = []
    for sub in _subscriptions.get(type(event), []):
        if sub.after_commit:
            transaction.on_commit(functools.partial(_run_after_commit, sub, event))
        else:
            answers.append(sub.handler(event))
    return answers
