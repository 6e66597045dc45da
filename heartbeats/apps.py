from django.apps import AppConfig


class HeartbeatsConfig(AppConfig):
    name = "heartbeats"
    verbose_name = "Countdown Guard"

    def ready(self):
        from heartbeats import audit, checks  # noqa: F401  (signal receivers and system checks)
        from heartbeats.engine import signals  # noqa: F401  (engine Schedules after migrate, worker kickoff)
