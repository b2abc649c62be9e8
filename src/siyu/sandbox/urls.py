from django.urls import path

from . import views, views_acquisition, views_operations  # noqa: F401 — importing registers their endpoints

urlpatterns = [
    path("cgi-bin/gettoken", views.gettoken),
    path("qr/<str:kind>/<str:config_id>.png", views_acquisition.qr_code),
    path("scan/<str:kind>/<str:config_id>/", views_acquisition.scan),
    *(path(f"cgi-bin/{api}", view) for api, view in views.ROUTES.items()),
]
