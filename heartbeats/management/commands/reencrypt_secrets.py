"""Re-encrypt every stored secret under the newest key (the first of CG_ENCRYPTION_KEYS): exchange accounts'
keys, alert channels' URLs, authenticator apps' keys -- every EncryptedTextField of every model.

Rotation: put the new key first and keep the old one after it, run this command, check with `--check`, then
remove the old key. Everything is read (and must decrypt) before anything is written, in one transaction.
"""

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from heartbeats.crypto import SecretDecryptionError, encrypted_fields


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
            rows = []
            for model, fields in encrypted_fields():
                for pk in model.objects.order_by("pk").values_list("pk", flat=True):
                    try:
                        rows.append((model, model.objects.only("pk", *fields).get(pk=pk), fields))
                    except SecretDecryptionError:
                        shown = model.objects.defer(*fields).get(pk=pk)
                        raise CommandError(
                            f"The secrets of {model._meta.verbose_name} {str(shown)!r} (id {pk}) cannot be "
                            "decrypted with any configured key; nothing was changed. Add the key they were "
                            "written with after the newest one."
                        ) from None
            values, counts = 0, {}
            for model, row, fields in rows:
                # update() runs each field's get_prep_value, which encrypts under the first key.
                plain = {f: getattr(row, f) for f in fields}
                model.objects.filter(pk=row.pk).update(**plain)
                values += sum(1 for v in plain.values() if v)
                counts[model._meta.verbose_name] = counts.get(model._meta.verbose_name, 0) + 1
        held = ", ".join(f"{n} {name}(s)" for name, n in counts.items()) or "no rows"
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {values} secret(s) of {held} under the newest key.")
        )

    def pending(self) -> int:
        newest = Fernet(settings.ENCRYPTION_KEYS[0])
        pending = 0
        for model, fields in encrypted_fields():
            table = connection.ops.quote_name(model._meta.db_table)
            columns = ", ".join(connection.ops.quote_name(model._meta.get_field(f).column) for f in fields)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {columns} FROM {table}")  # noqa: S608 (names from the models, no input)
                rows = cursor.fetchall()
            for row in rows:
                for token in row:
                    if not token:
                        continue
                    try:
                        newest.decrypt(token.encode())
                    except InvalidToken:
                        pending += 1
        return pending
