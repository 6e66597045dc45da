from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class HeartbeatsConfig(AppConfig):
    name = "heartbeats"
    verbose_name = "Countdown Guard"

    def ready(self):
        from heartbeats import checks  # noqa: F401  (system checks)
        from heartbeats.domain import audit  # noqa: F401  (signal receivers)
        from heartbeats.engine import signals  # noqa: F401  (engine Schedules after migrate, worker kickoff)


class GuardAdminConfig(admin_apps.AdminConfig):
    """Django's admin, whose default site signs people in through the dashboard's own sign-in and second
    factor (heartbeats.admin_site). Every `admin.register` lands on that site."""

    default = False  # named in INSTALLED_APPS; "heartbeats" itself is HeartbeatsConfig
    default_site = "heartbeats.admin_site.GuardAdminSite"
