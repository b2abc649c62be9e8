"""Writes for analytics settings. The caller owns the transaction."""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.tenancy import Actor

from .models import ClvFit, RfmSettings
from .rfm import BY_LETTER

STRATEGY_MAX = 500


def rfm_settings_save(
    *, actor: Actor, method: str, recency_days: int, frequency: float, monetary_fen: int, window_days: int | None, strategies: dict[str, str]
) -> RfmSettings:
    actor.require_manager()
    if method not in RfmSettings.Method.values:
        raise InvalidInput(_("The method is one of %(value)s.") % {"value": ", ".join(RfmSettings.Method.values)}, code="bad_method", field="method")
    if window_days is not None and window_days < 1:
        raise InvalidInput(_("The window is at least 1 day, or empty for all time."), code="bad_window", field="window_days")
    for letter, text in strategies.items():
        if letter not in BY_LETTER:
            raise InvalidInput(_("No RFM class %(letter)r; classes are A–H.") % {"letter": letter}, code="bad_rfm_class", field=f"strategies.{letter}")
        if len(text) > STRATEGY_MAX:
            raise InvalidInput(
                _("The strategy of class %(letter)s is longer than %(strategy_max)s characters.") % {"letter": letter, "strategy_max": STRATEGY_MAX},
                code="too_long",
                field=f"strategies.{letter}",
            )
    settings, _created = RfmSettings.objects.get_or_create(corp=actor.corp)
    settings.method, settings.recency_days, settings.frequency, settings.monetary_fen = method, recency_days, frequency, monetary_fen
    settings.window_days = window_days
    settings.strategies = {k: v.strip() for k, v in strategies.items() if v.strip()}
    settings.save()
    return settings


def clv_refresh_queue(*, actor: Actor, horizon_days: int) -> None:

    actor.require_manager()
    ClvFit.objects.update_or_create(corp=actor.corp, defaults={"queued_at": now(), "error": ""})
    corp_id = actor.corp.id
    enqueue_after_commit("siyu.analytics.tasks.refresh_clv", corp_id, horizon_days)
