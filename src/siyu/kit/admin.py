from django.contrib import admin
from django.db import models

# WeCom's URLs (API base, avatars) are https; say so rather than rely on Django's changing default.
HTTPS_URLS = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyInline(admin.TabularInline):
    """Rows shown in admin for reading: they are written through services (scoping, WeCom mirroring)."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False
