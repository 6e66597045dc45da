"""`manage.py simulator`: runs the Binance futures exchange simulator (see heartbeats.simulator.cli)."""

from django.core.management.base import BaseCommand

from heartbeats.simulator import cli


class Command(BaseCommand):
    help = "Runs the Binance futures exchange simulator until interrupted."
    # The simulator is framework-free: it must start even while the dashboard's own checks fail.
    requires_system_checks = []

    def add_arguments(self, parser):
        cli.add_arguments(parser)

    def handle(self, *args, **options):
        cli.run(options, out=self.stdout)
