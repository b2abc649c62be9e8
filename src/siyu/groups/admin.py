from django.contrib import admin

from siyu.kit.admin import ReadOnlyInline

from .models import CustomerGroup, GroupMember


class MemberInline(ReadOnlyInline):
    model = GroupMember
    fields = ("userid", "type", "name", "customer", "join_time", "join_scene", "state", "left_at")


@admin.register(CustomerGroup)
class CustomerGroupAdmin(admin.ModelAdmin):
    # Groups are WeCom's: edited there, mirrored here.
    list_display = ("name", "corp", "owner", "member_count", "status", "created_at_wecom")
    list_filter = ("corp", "status")
    search_fields = ("name", "chat_id")
    readonly_fields = [f.name for f in CustomerGroup._meta.fields]
    inlines = [MemberInline]
