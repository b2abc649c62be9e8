from django.contrib.auth import views as auth_views
from django.urls import path

from . import acquisition, autotag, group_codes, leads, phone_imports, views

app_name = "console"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html", redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.dashboard, name="dashboard"),
    path("switch-corp/", views.switch_corp, name="switch_corp"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/<int:customer_id>/", views.customer_profile, name="customer"),
    path("customers/<int:customer_id>/tags/", views.customer_tags, name="customer_tags"),
    path("tags/", views.tag_library, name="tags"),
    path("tags/groups/", views.tag_group_create, name="tag_group_create"),
    path("tags/groups/<int:group_id>/tags/", views.tag_create, name="tag_create"),
    path("tags/groups/<int:group_id>/delete/", views.tag_group_delete, name="tag_group_delete"),
    path("tags/<int:tag_id>/delete/", views.tag_delete, name="tag_delete"),
    path("phone-imports/", phone_imports.phone_import_page, name="phone_imports"),
    path("lead-forms/", leads.lead_form_list, name="lead_forms"),
    path("group-codes/", group_codes.group_code_list, name="group_codes"),
    path("group-codes/<int:group_code_id>/status/", group_codes.group_code_status, name="group_code_status"),
    path("tag-rules/", autotag.rule_list, name="tag_rules"),
    path("tag-rules/<int:rule_id>/backfill/", autotag.rule_backfill, name="tag_rule_backfill"),
    path("tag-rules/<int:rule_id>/delete/", autotag.rule_delete, name="tag_rule_delete"),
    path("channels/", acquisition.channel_list, name="channels"),
    path("channels/<int:channel_id>/costs/", acquisition.channel_cost, name="channel_cost"),
    path("channels/stats/", acquisition.acquisition_stats, name="acquisition_stats"),
    path("channels/stats.xlsx", acquisition.acquisition_stats_xlsx, name="acquisition_stats_xlsx"),
    path("live-codes/", acquisition.live_code_list, name="live_codes"),
    path("live-codes/new/", acquisition.live_code_edit, name="live_code_new"),
    path("live-codes/<int:live_code_id>/", acquisition.live_code_detail, name="live_code"),
    path("live-codes/<int:live_code_id>/edit/", acquisition.live_code_edit, name="live_code_edit"),
    path("live-codes/<int:live_code_id>/status/", acquisition.live_code_status, name="live_code_status"),
    path("live-codes/<int:live_code_id>/qr.png", acquisition.live_code_qr, {"fmt": "png"}, name="live_code_qr_png"),
    path("live-codes/<int:live_code_id>/qr.svg", acquisition.live_code_qr, {"fmt": "svg"}, name="live_code_qr_svg"),
    path("live-codes/<int:live_code_id>/poster.png", acquisition.live_code_poster, name="live_code_poster"),
    path("corp/", views.corp_settings, name="corp_settings"),
    path("corp/register/", views.corp_register, name="corp_register"),
    path("sync/", views.sync_page, name="sync"),
    path("sync/start/", views.sync_start, name="sync_start"),
    path("inbox/", views.callback_inbox, name="inbox"),
    path("inbox/<int:event_id>/retry/", views.callback_retry, name="inbox_retry"),
]
