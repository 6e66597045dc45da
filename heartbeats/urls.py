from django.contrib.auth import views as auth_views
from django.urls import path

from heartbeats import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    # Django's LogoutView accepts POST only: a link or a prefetch cannot sign anyone out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.board, name="board"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("status.json", views.status_json, name="status_json"),
    path("policies/new/", views.policy_new, name="policy_new"),
    # Ids are taken as text and checked by the lookup helper, so "abc" gets a clear message, not a bare 404.
    path("policies/<str:policy_id>/", views.policy_detail, name="policy"),
    path("policies/<str:policy_id>/arm/", views.policy_arm, name="policy_arm"),
    path("policies/<str:policy_id>/disarm/", views.policy_disarm, name="policy_disarm"),
    path("disarm-all/", views.disarm_all, name="disarm_all"),
    path("operations/<str:operation_id>/", views.operation_detail, name="operation"),
    path("operations/<str:operation_id>/results.json", views.operation_json, name="operation_json"),
]
