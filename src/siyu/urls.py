from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from siyu.acquisition.views import landing, lead_form
from siyu.api import api
from siyu.console.views import healthz
from siyu.guides import sidebar
from siyu.wecom.callbacks import callback

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/", api.urls),
    path("wecom/callback/<str:corp_id>/", callback, name="wecom_callback"),
    path("l/<str:corp_id>/<str:state>/", landing, name="live_code_landing"),
    path("f/<str:slug>/", lead_form, name="lead_form"),
    path("sidebar/<str:corp_id>/", sidebar.sidebar, name="sidebar"),
    path("sidebar/<str:corp_id>/oauth/", sidebar.sidebar_oauth, name="sidebar_oauth"),
    path("sidebar/<str:corp_id>/config", sidebar.sidebar_config, name="sidebar_config"),
    path("sidebar/<str:corp_id>/customer", sidebar.sidebar_customer, name="sidebar_customer"),
    path("sidebar/<str:corp_id>/sent", sidebar.sidebar_sent, name="sidebar_sent"),
    path("sidebar/<str:corp_id>/note", sidebar.sidebar_note, name="sidebar_note"),
    path("sidebar/<str:corp_id>/profile", sidebar.sidebar_profile, name="sidebar_profile"),
    path("sidebar/<str:corp_id>/replies", sidebar.sidebar_replies, name="sidebar_replies"),
    path("sidebar/<str:corp_id>/chat", sidebar.sidebar_chat, name="sidebar_chat"),
    path("sidebar/<str:corp_id>/reply-sent", sidebar.sidebar_reply_sent, name="sidebar_reply_sent"),
    path("sidebar/<str:corp_id>/coupon-verify", sidebar.sidebar_coupon_verify, name="sidebar_coupon_verify"),
    path("h5/", include("siyu.engagement.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("siyu.console.urls")),
]

if settings.SIYU_SANDBOX:
    urlpatterns.insert(0, path("sandbox/", include("siyu.sandbox.urls")))
