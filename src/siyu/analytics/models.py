"""Settings and saved results of the analyses that operators tune per corp."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class RfmSettings(CorpOwned):
    """How a corp splits its buyers into the eight RFM classes (seed 000 §3.5)."""

    class Method(models.TextChoices):
        MEDIAN = "median", _("Median of buyers")
        MEAN = "mean", _("Mean of buyers")
        FIXED = "fixed", _("Fixed values")

    method = models.CharField(max_length=8, choices=Method.choices, default=Method.MEDIAN)
    # Used with the fixed method: recent means at most this many days since the last order;
    # high frequency / spend means strictly more than these.
    recency_days = models.PositiveIntegerField(default=90)
    frequency = models.FloatField(default=1)
    monetary_fen = models.BigIntegerField(default=50000)
    window_days = models.PositiveIntegerField(null=True, blank=True, help_text="orders of the last N days only; empty: all time")
    strategies = models.JSONField(default=dict, blank=True, help_text="class letter → the operators' own strategy text")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp"], name="rfmsettings_one_per_corp")]


class Segment(CorpOwned):
    """A saved audience: filters over tags, channel, staff, RFM class, CLV and order facts,
    evaluated live (its count is today's count), used by mass sends and journeys."""

    name = models.CharField(max_length=64)
    filters = models.JSONField(default=dict)
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "name"], name="segment_unique_name")]

    def __str__(self) -> str:
        return self.name
