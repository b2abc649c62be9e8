from django.contrib import admin

from siyu.kit.admin import HTTPS_URLS, ReadOnlyInline

from .models import Customer, Follow, TimelineEvent


class FollowInline(ReadOnlyInline):
    model = Follow
    fields = ("staff", "remark", "added_at", "add_way", "state", "deleted_by_staff_at", "deleted_by_customer_at")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URLS
    list_display = ("name", "external_userid", "corp", "gender", "type", "created_at")
    list_filter = ("corp", "type")
    search_fields = ("name", "external_userid", "unionid")
    inlines = [FollowInline]


@admin.register(TimelineEvent)
class TimelineEventAdmin(admin.ModelAdmin):
    list_display = ("customer", "kind", "staff", "occurred_at")
    list_filter = ("kind",)
    raw_id_fields = ("customer", "staff")
