from django.urls import path

from . import views

urlpatterns = [
    path("cgi-bin/gettoken", views.gettoken),
    path("cgi-bin/externalcontact/get_follow_user_list", views.get_follow_user_list),
    path("cgi-bin/externalcontact/list", views.external_list),
    path("cgi-bin/externalcontact/get", views.external_get),
    path("cgi-bin/externalcontact/batch/get_by_user", views.batch_get_by_user),
]
