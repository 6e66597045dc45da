import os
import sys

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps

from heartbeats.exchange.redact import RedactingFilter
from heartbeats.logs import redact_every_handler


class HeartbeatsConfig(AppConfig):
    name = "heartbeats"
    verbose_name = "Countdown Guard"

    def ready(self):
        # Handlers made outside settings.LOGGING (a server's, a library's) redact like LOGGING's own.
        redact_every_handler(RedactingFilter)
        # Imported here, once the models are loaded (Django's app loading): system checks and signal
        # receivers register themselves (the audit trail, privilege changes, no task run but the queue
        # guard's refusal); django-q2's processes start their duties (duties/worker.py).
        from heartbeats import checks, duties  # noqa: F401
        from heartbeats.domain import audit, privileges  # noqa: F401
        from heartbeats.duties import queue_guard, worker  # noqa: F401

        if os.environ.get("RUN_MAIN") == "true" and "runserver" in sys.argv:
            # The development server's serving process (not its autoreloader) runs the web's duties.
            duties.start("web")


class GuardAdminConfig(admin_apps.AdminConfig):
    """Django's admin, whose default site signs people in through the dashboard's own sign-in and second
    factor (heartbeats.admin_site). Every `admin.register` lands on that site."""

    default = False  # named in INSTALLED_APPS; "heartbeats" itself is HeartbeatsConfig
    default_site = "heartbeats.admin_site.GuardAdminSite"
