"""Writes for analytics settings. The caller owns the transaction."""

from __future__ import annotations

from datetime import date

from django.db.models import F
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.db import insert_many
from siyu.kit.errors import InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.tenancy import Actor
from siyu.orders.models import CustomerValue

from .models import ClvFit, CustomerRfmClass, RfmSettings
from .rfm import BY_LETTER, CLASSES, class_q, rfm_compute

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


def rfm_classes_record(corp: Corp, day: date) -> int:
    """Record every customer's RFM class on the corp day `day`, dating each change (a class
    entered, or left for no purchase) to that day; once a day, whoever asks first. Set-based: one
    statement per class, so a 3M-customer corp costs a few scans. Returns the changes dated."""
    RfmSettings.objects.get_or_create(corp=corp)
    settings = RfmSettings.objects.select_for_update().get(corp=corp)  # two passes at once: one records, the other reads its record
    if settings.classes_on is not None and settings.classes_on >= day:
        return 0
    changed_on = day if settings.classes_on is not None else None  # the first record is the baseline, not a change
    result = rfm_compute(corp, as_of=day, settings=settings)
    records = CustomerRfmClass.objects.filter(corp=corp)
    changes = 0
    for c in CLASSES:
        members = CustomerValue.objects.filter(class_q(corp, result, [c.letter], on_value=True), corp=corp).values("customer_id")
        changes += records.filter(customer_id__in=members).exclude(letter=c.letter).update(previous=F("letter"), letter=c.letter, changed_on=changed_on)
        new = list(members.exclude(customer_id__in=records.values("customer_id")).values_list("customer_id", flat=True))
        insert_many(CustomerRfmClass, ["customer", "corp", "letter", "previous", "changed_on"], [(i, corp.pk, c.letter, "", changed_on) for i in new])
        changes += len(new) if changed_on else 0
    buyers = CustomerValue.objects.filter(class_q(corp, result, BY_LETTER, on_value=True), corp=corp).values("customer_id")
    changes += records.exclude(letter="").exclude(customer_id__in=buyers).update(previous=F("letter"), letter="", changed_on=changed_on)
    RfmSettings.objects.filter(pk=settings.pk).update(classes_on=day)
    return changes
