from django.urls import path

from . import views, views_acquisition, views_operations, views_pages, views_wechat  # noqa: F401 — importing registers their endpoints

urlpatterns = [
    path("cgi-bin/gettoken", views.gettoken),
    path("connect/oauth2/authorize", views_pages.authorize),
    path("chat/<str:corpid>/", views_pages.chat),
    path("wechat/open", views_wechat.open_in_wechat),
    path("camera", views_pages.camera),
    path("sns/oauth2/access_token", views_wechat.sns_access_token),
    path("sns/userinfo", views_wechat.sns_userinfo),
    path("jssdk/jwxwork.js", views_pages.jssdk),
    path("jssdk/call", views_pages.jssdk_call),
    path("qr/<str:kind>/<str:config_id>.png", views_acquisition.qr_code),
    path("scan/<str:kind>/<str:config_id>/", views_acquisition.scan),
    *(path(f"cgi-bin/{api}", view) for api, view in views.ROUTES.items()),
]
