from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog

from heartbeats import views
from heartbeats.api.endpoints import api, unknown_endpoint
from heartbeats.views import alerts, api_tokens, cancel_orders, duties, metrics, strategies, twofactor

# django-otp-webauthn's endpoints (its scripts find them by these names), with the audit trail and lockout.
passkey_patterns = [
    path(
        "registration/begin/",
        twofactor.BeginPasskeyRegistration.as_view(),
        name="credential-registration-begin",
    ),
    path(
        "registration/complete/",
        twofactor.CompletePasskeyRegistration.as_view(),
        name="credential-registration-complete",
    ),
    path(
        "authentication/begin/",
        twofactor.BeginPasskeyAuthentication.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        twofactor.CompletePasskeyAuthentication.as_view(),
        name="credential-authentication-complete",
    ),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
]

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
    # For Prometheus: a bearer token or an allowed address, no session (heartbeats.views.metrics).
    path("metrics", metrics.metrics, name="metrics"),
    path("policies/new/", views.policy_new, name="policy_new"),
    # Ids are taken as text and checked by the lookup helper, so "abc" gets a clear message, not a bare 404.
    path("policies/<str:policy_id>/", views.policy_detail, name="policy"),
    path("policies/<str:policy_id>/arm/", views.policy_arm, name="policy_arm"),
    path("policies/<str:policy_id>/disarm/", views.policy_disarm, name="policy_disarm"),
    path("disarm-all/", views.disarm_all, name="disarm_all"),
    path("selection/", views.selection, name="selection"),
    path("maintenance/", views.maintenance_page, name="maintenance"),
    path("maintenance/new/", views.maintenance_create, name="maintenance_create"),
    path("maintenance/<str:window_id>/end/", views.maintenance_end, name="maintenance_end"),
    path("maintenance/<str:window_id>/extend/", views.maintenance_extend, name="maintenance_extend"),
    path("alerts/", alerts.alerts_page, name="alerts"),
    path("alerts/channels/new/", alerts.channel_new, name="alert_channel_new"),
    path("alerts/channels/<str:channel_id>/", alerts.channel_edit, name="alert_channel"),
    path("alerts/channels/<str:channel_id>/test/", alerts.channel_test, name="alert_channel_test"),
    path("alerts/channels/<str:channel_id>/delete/", alerts.channel_delete, name="alert_channel_delete"),
    path("ping/<str:key>", strategies.ping, name="ping"),
    path("ping/<str:key>/fail", strategies.ping_fail, name="ping_fail"),
    path("strategies/", strategies.strategies_page, name="strategies"),
    path("strategies/new/", strategies.strategy_new, name="strategy_new"),
    path("strategies/<str:strategy_id>/", strategies.strategy_detail, name="strategy"),
    path("strategies/<str:strategy_id>/edit/", strategies.strategy_edit, name="strategy_edit"),
    path("strategies/<str:strategy_id>/new-ping-url/", strategies.strategy_new_key, name="strategy_new_key"),
    path("strategies/<str:strategy_id>/delete/", strategies.strategy_delete, name="strategy_delete"),
    path("strategies/<str:strategy_id>/release/", strategies.strategy_release, name="strategy_release"),
    path("cancel-orders/", cancel_orders.cancel_orders, name="cancel_orders"),
    path("duties/", duties.duties_page, name="duties"),
    path("second-factor/", twofactor.overview, name="second_factor"),
    path("second-factor/verify/", twofactor.verify, name="second_factor_verify"),
    path("second-factor/app/", twofactor.totp_add, name="second_factor_totp"),
    path("second-factor/recovery-codes/", twofactor.recovery_codes, name="second_factor_recovery_codes"),
    path("second-factor/<str:kind>/<str:device_id>/remove/", twofactor.remove, name="second_factor_remove"),
    path("second-factor/passkeys/", include((passkey_patterns, "otp_webauthn"))),
    path("operations/<str:operation_id>/", views.operation_detail, name="operation"),
    path("operations/<str:operation_id>/results.json", views.operation_json, name="operation_json"),
    path("operations/<str:operation_id>/rearm/", views.rearm, name="rearm"),
    path("api-tokens/", api_tokens.tokens_page, name="api_tokens"),
    path("api-tokens/new/", api_tokens.token_new, name="api_token_new"),
    path("api-tokens/<str:token_id>/revoke/", api_tokens.token_revoke, name="api_token_revoke"),
    # The token API for runbooks and bots (heartbeats.api): a bearer token, no session. Its root and any
    # path it does not know answer with a JSON 404 (django-ninja's root would give the people's HTML page).
    path("api/v1/", unknown_endpoint),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", unknown_endpoint),
]
