from django.urls import path

from . import views

urlpatterns = [
    path("cgi-bin/gettoken", views.gettoken),
    path("cgi-bin/externalcontact/get_follow_user_list", views.get_follow_user_list),
    path("cgi-bin/externalcontact/list", views.external_list),
    path("cgi-bin/externalcontact/get", views.external_get),
    path("cgi-bin/externalcontact/batch/get_by_user", views.batch_get_by_user),
    path("cgi-bin/department/list", views.department_list),
    path("cgi-bin/user/list", views.user_list),
    path("cgi-bin/externalcontact/get_corp_tag_list", views.get_corp_tag_list),
    path("cgi-bin/externalcontact/add_corp_tag", views.add_corp_tag),
    path("cgi-bin/externalcontact/edit_corp_tag", views.edit_corp_tag),
    path("cgi-bin/externalcontact/del_corp_tag", views.del_corp_tag),
    path("cgi-bin/externalcontact/mark_tag", views.mark_tag),
    path("cgi-bin/externalcontact/groupchat/list", views.groupchat_list),
    path("cgi-bin/externalcontact/groupchat/get", views.groupchat_get),
]
