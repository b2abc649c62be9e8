"""Auto-tag rules (自动打标签): conditions on how and when a customer came, actions on tags."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class TagRule(CorpOwned):
    """When a follow meets the conditions (all or any), add and remove these tags on it.

    Rules run when a customer is added and when they join a group, and can be backfilled over
    the existing follows. `conditions` is a list of {"kind": …} objects (conditions.py).
    """

    class Match(models.TextChoices):
        ALL = "all", _("All conditions")
        ANY = "any", _("Any condition")

    name = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(default=list)
    add_tags = models.ManyToManyField("tags.Tag", blank=True, related_name="+")
    remove_tags = models.ManyToManyField("tags.Tag", blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    backfill_status = models.CharField(max_length=8, blank=True, default="", help_text="queued, running, done or failed")
    backfilled_at = models.DateTimeField(null=True, blank=True)
    backfill_counts = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name
