from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from siyu.kit.admin import HTTPS_URLS

from .models import ApiToken, Corp, Department, Membership, Staff, User

admin.site.register(User, UserAdmin)


@admin.register(Corp)
class CorpAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ("name", "corp_id", "timezone", "created_at")
    # Ciphertexts are useless to read and dangerous to edit by hand.
    exclude = ("secret_encrypted", "token_encrypted", "aes_key_encrypted")


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "wecom_id", "corp", "parent")
    list_filter = ("corp",)


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ("name", "userid", "corp", "department", "status")
    list_filter = ("corp", "status")
    search_fields = ("name", "userid")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "corp", "role", "staff")
    list_filter = ("corp", "role")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "membership", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash")
