from django.contrib import admin

from .models import Tag, TagGroup


class TagInline(admin.TabularInline):
    model = Tag
    extra = 0
    fields = ("name", "order", "wecom_tag_id", "deleted_at")
    # Tags are created through services (corp scoping, WeCom mirroring), not here.
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TagGroup)
class TagGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "corp", "order", "deleted_at")
    list_filter = ("corp",)
    inlines = [TagInline]
