"""Re-encrypt every stored secret under the newest key (the first of CG_ENCRYPTION_KEYS).

Rotation: put the new key first and keep the old one after it, run this command, check with `--check`, then
remove the old key. Everything is read (and must decrypt) before anything is written, in one transaction.
"""

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from heartbeats.crypto import SecretDecryptionError
from heartbeats.models import ExchangeAccount

FIELDS = ("api_key", "secret", "key_passphrase")


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the newest key in CG_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; report how many stored secrets are not yet under the newest key.",
        )

    def handle(self, *args, check=False, **options):
        if check:
            pending = self.pending()
            self.stdout.write(f"{pending} stored secret(s) not under the newest key.")
            if pending:
                raise CommandError("Run `manage.py reencrypt_secrets` before removing older keys.")
            return
        with transaction.atomic():
            accounts = []
            for pk, label in ExchangeAccount.objects.order_by("pk").values_list("pk", "label"):
                try:
                    accounts.append(ExchangeAccount.objects.only("pk", *FIELDS).get(pk=pk))
                except SecretDecryptionError:
                    raise CommandError(
                        f"The secrets of account {label!r} (id {pk}) cannot be decrypted with any configured "
                        "key; nothing was changed. Add the key they were written with after the newest one."
                    ) from None
            values = 0
            for account in accounts:
                # update() runs each field's get_prep_value, which encrypts under the first key.
                plain = {f: getattr(account, f) for f in FIELDS}
                ExchangeAccount.objects.filter(pk=account.pk).update(**plain)
                values += sum(1 for v in plain.values() if v)
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {values} secret(s) of {len(accounts)} account(s) under the newest key."
            )
        )

    def pending(self) -> int:
        newest = Fernet(settings.ENCRYPTION_KEYS[0])
        table = connection.ops.quote_name(ExchangeAccount._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(f) for f in FIELDS)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {table}")  # noqa: S608 (names from the model, no input)
            rows = cursor.fetchall()
        pending = 0
        for row in rows:
            for token in row:
                if not token:
                    continue
                try:
                    newest.decrypt(token.encode())
                except InvalidToken:
                    pending += 1
        return pending
