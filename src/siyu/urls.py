from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from siyu.acquisition.views import landing, lead_form
from siyu.api import api
from siyu.console.views import healthz
from siyu.wecom.callbacks import callback

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/", api.urls),
    path("wecom/callback/<str:corp_id>/", callback, name="wecom_callback"),
    path("l/<str:corp_id>/<str:state>/", landing, name="live_code_landing"),
    path("f/<str:slug>/", lead_form, name="lead_form"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("siyu.console.urls")),
]

if settings.SIYU_SANDBOX:
    urlpatterns.insert(0, path("sandbox/", include("siyu.sandbox.urls")))
