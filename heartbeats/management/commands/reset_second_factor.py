"""Remove every second-factor device of a user, from the console: for the superuser who lost theirs (others
are reset from the admin's user list). Audited like a reset in the admin."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from heartbeats import twofactor


class Command(BaseCommand):
    help = (
        "Remove a user's authenticator apps, passkeys and recovery codes. They enrol again at their next "
        "sign-in (written to the audit trail)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None
        removed = twofactor.reset_devices(
            user, by=None, ip=None, reason=f"Second factor of {username} reset from the console"
        )
        if removed:
            self.stdout.write(
                f"Removed from {username}: {', '.join(removed)}. They enrol again at next sign-in."
            )
        else:
            self.stdout.write(f"{username} had no second-factor device.")
