from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned

# WeCom's own limit for corp tag and tag group names.
NAME_MAX = 30


class TagGroup(CorpOwned):
    """A group in the corp tag library (source channel, level, baby month-age …)."""

    name = models.CharField(max_length=NAME_MAX)
    order = models.IntegerField(default=0)
    wecom_group_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Soft delete: tags already on customers stay explainable in their timeline.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        constraints = [
            models.UniqueConstraint(fields=["corp", "name"], condition=Q(deleted_at__isnull=True), name="taggroup_unique_live_name"),
            models.UniqueConstraint(fields=["corp", "wecom_group_id"], name="taggroup_unique_wecom_id"),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(CorpOwned):
    group = models.ForeignKey(TagGroup, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=NAME_MAX)
    order = models.IntegerField(default=0)
    wecom_tag_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], condition=Q(deleted_at__isnull=True), name="tag_unique_live_name_in_group"),
            models.UniqueConstraint(fields=["corp", "wecom_tag_id"], name="tag_unique_wecom_id"),
        ]

    def __str__(self) -> str:
        return self.name
