"""Settings and saved results of the analyses that operators tune per corp."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned

from .clv import BGNBD_BOUNDS, GG_BOUNDS, at_limit


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
    # The corp day its customers' classes were last recorded (CustomerRfmClass); empty: never.
    classes_on = models.DateField(null=True, blank=True)

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


class ClvFit(CorpOwned):
    """The latest CLV fit of a corp: BG/NBD (purchases, alive) and Gamma-Gamma (spend per purchase)."""

    as_of = models.DateField(null=True, blank=True)
    horizon_days = models.PositiveIntegerField(default=365)
    customers = models.IntegerField(default=0)
    repeat_customers = models.IntegerField(default=0)
    bgnbd = models.JSONField(default=dict, help_text="r, alpha, a, b, log_likelihood (time unit: weeks)")
    gamma_gamma = models.JSONField(default=dict, blank=True, help_text="p, q, gamma, log_likelihood (money: fen); empty when too few repeat buyers")
    fitted_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="", help_text="why the last refit could not run")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp"], name="clvfit_one_per_corp")]

    @property
    def at_limit(self) -> bool:
        bg, gg = self.bgnbd, self.gamma_gamma
        bg_at = bool(bg) and at_limit([bg["r"], bg["alpha"], bg["a"], bg["b"]], BGNBD_BOUNDS)
        gg_at = bool(gg) and at_limit([gg["p"], gg["q"], gg["gamma"]], GG_BOUNDS)
        return bg_at or gg_at


class CustomerClv(CorpOwned):
    """Each buyer's predictions from the corp's latest fit; filterable (segments) and sortable."""

    customer = models.OneToOneField("customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="clv")
    expected_purchases = models.FloatField(help_text="purchases expected in the fit's horizon")
    p_alive = models.FloatField()
    expected_spend_fen = models.BigIntegerField(help_text="expected value of one future purchase")
    clv_fen = models.BigIntegerField(help_text="expected purchases × expected spend over the horizon")

    class Meta:
        indexes = [models.Index(fields=["corp", "clv_fen"]), models.Index(fields=["corp", "p_alive"])]


class CustomerRfmClass(CorpOwned):
    """A customer's RFM class as last recorded, and the day it last changed: what a journey on
    "RFM class changed" reads. Classes move with orders and with time passing (a buyer grows
    lapsed), so they are recorded once a corp day, not on every event. The first record of a corp
    is its baseline: no change is dated then."""

    customer = models.OneToOneField("customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="rfm_class")
    letter = models.CharField(max_length=1, blank=True, help_text="A–H; empty: no counted order (any more)")
    previous = models.CharField(max_length=1, blank=True)
    changed_on = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["corp", "changed_on", "letter"])]
