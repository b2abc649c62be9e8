from django.contrib import admin

from siyu.kit.admin import ReadOnlyInline

from .models import Tag, TagGroup


class TagInline(ReadOnlyInline):
    model = Tag
    fields = ("name", "order", "wecom_tag_id", "deleted_at")


@admin.register(TagGroup)
class TagGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "corp", "order", "deleted_at")
    list_filter = ("corp",)
    inlines = [TagInline]
