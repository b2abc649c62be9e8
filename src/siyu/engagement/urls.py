from django.urls import path

from . import views

urlpatterns = [
    path("<str:corp_id>/", views.h5_home, name="h5_home"),
    path("<str:corp_id>/oauth", views.h5_oauth, name="h5_oauth"),
    path("<str:corp_id>/c/<str:token>", views.h5_content, name="h5_content"),
    path("<str:corp_id>/v/<str:key>", views.h5_progress, name="h5_progress"),
    path("<str:corp_id>/m/<str:token>", views.h5_media, name="h5_media"),
    path("<str:corp_id>/points", views.h5_points, name="h5_points"),
    path("<str:corp_id>/checkin/<int:campaign_id>", views.h5_checkin, name="h5_checkin"),
    path("<str:corp_id>/coupons", views.h5_coupons, name="h5_coupons"),
    path("<str:corp_id>/mall", views.h5_mall, name="h5_mall"),
    path("<str:corp_id>/lottery/<int:lottery_id>", views.h5_lottery, name="h5_lottery"),
    path("<str:corp_id>/game/<int:game_id>", views.h5_game, name="h5_game"),
    path("<str:corp_id>/tasks", views.h5_tasks, name="h5_tasks"),
    path("<str:corp_id>/mall/orders", views.h5_mall_orders, name="h5_mall_orders"),
    path("<str:corp_id>/coupon/<int:template_id>", views.h5_coupon_claim, name="h5_coupon_claim"),
]
