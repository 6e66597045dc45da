"""Forms for the two things people configure: exchange accounts (with their write-only key) and policies.

Both validate everything before anything is written, and do their network checks (the key check, the venue's
symbol list) inside `is_valid()`: callers must not hold a database transaction open around it. Others commit
meanwhile (a disarm, the engine's facts, another key admin), so `save_audited()` writes only the columns the
form owns, under a lock on the stored row, after checking that row again.
"""

import copy
import json
import re
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, transaction

from heartbeats.crypto import looks_like_token
from heartbeats.desk.alerts.ledger import announce
from heartbeats.domain import audit, budget, symbols
from heartbeats.domain.audit import account_changes, policy_changes
from heartbeats.domain.clients import KeyCheckFailed, check_key, disable_refusal, signer_for
from heartbeats.domain.validation import (
    MIN_COUNTDOWN_MS,
    MIN_INTERVAL_S,
    VENUE_NAMES,
    exchange_url_refusal,
    timing_errors,
    venue_bounds_text,
)
from heartbeats.exchange import venues
from heartbeats.exchange.errors import InvalidKeyError
from heartbeats.models import (
    BASE_URLS,
    SECRET_FIELDS,
    Action,
    CountdownPolicy,
    Effect,
    Environment,
    ExchangeAccount,
    KeyType,
    Status,
    Venue,
)
from heartbeats.models.alerts import AlertEvent

_PEM_ONE_LINE = re.compile(r"^(-----BEGIN [A-Z ]+-----)\s*(.+?)\s*(-----END [A-Z ]+-----)$", re.DOTALL)


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, not even the one just posted (e.g. after a failed check)."""

    def format_value(self, value):
        return None


def _secret_input():
    return forms.PasswordInput(
        render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
    )


def normalise_pem(text: str) -> str:
    """A PEM key pasted into a single-line field loses its line breaks; put them back."""
    match = _PEM_ONE_LINE.match(text.strip())
    if not match or "\n" in text.strip():
        return text.strip()
    head, body, tail = match.groups()
    body = re.sub(r"\s+", "", body)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([head, *lines, tail]) + "\n"


# A number as people type it: ASCII digits, a minus sign at most (int() also takes "١٢", "+5", " 5 ").
PLAIN_NUMBER = re.compile(r"-?[0-9]+")


class PlainNumbersMixin:
    """Numbers and ids posted to a form in plain ASCII digits only (README, Input): the same spelling
    everywhere, so what is stored, audited and shown is what was sent."""

    NUMBER_FIELDS = (forms.IntegerField, forms.ModelChoiceField, forms.ModelMultipleChoiceField)

    def _clean_fields(self):
        super()._clean_fields()
        for name, bound in self._bound_items():
            if bound.field.disabled or not isinstance(bound.field, self.NUMBER_FIELDS):
                continue
            values = bound.data if isinstance(bound.data, list | tuple) else [bound.data]
            odd = [str(v) for v in values if v not in (None, "") and not PLAIN_NUMBER.fullmatch(str(v))]
            if odd:
                self.add_error(name, f"Write it in plain digits (0–9): “{odd[0][:20]}” is not.")


class LockedEditMixin:
    """The write behind save_audited(). A new row is inserted whole. An edit locks the stored row (until the
    caller's transaction ends), refuses if the stored row no longer allows it (check_stored), and updates the
    form's own columns only: desired state, the engine's facts and whatever else other writers own are never
    written back from the copy loaded when the request began.

    OWNED_FIELDS may name relations too: a many-to-many field (written here, after the row, under its lock)
    or the rows pointing at this one (compared here; the form writes them itself)."""

    # The form's model fields, named once: the admin's subclass lists its read-only fields in Meta.fields.
    OWNED_FIELDS: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before = copy.copy(self.instance) if self.instance.pk else None
        # A copy carries the row, not its relations: their ids as they were when the request began.
        self.before_related = (
            {n: _related_ids(self.instance, n) for n in self.OWNED_FIELDS if _is_relation(self.instance, n)}
            if self.before is not None
            else {}
        )

    def owned_columns(self) -> list[str]:
        """The stored columns the edit writes: the form's own, and the row's last-changed time if any."""
        stamps = [f.name for f in self.instance._meta.concrete_fields if getattr(f, "auto_now", False)]
        return [*(n for n in self.OWNED_FIELDS if not _is_relation(self.instance, n)), *stamps]

    def compared_columns(self) -> list[str]:
        """Columns whose change meanwhile voids this form's checks."""
        return list(self.OWNED_FIELDS)

    def check_stored(self, stored) -> None:
        """Raise ValidationError when the stored row, locked, no longer allows this edit."""
        changed = self._changed_meanwhile(stored)
        if changed:
            names = ", ".join(dict.fromkeys(self._column_label(c) for c in changed))
            raise ValidationError(
                f"{stored} was changed by someone else while this form was being checked ({names}). "
                "Nothing was saved: reload the page and make your change again."
            )

    def _changed_meanwhile(self, stored) -> list[str]:
        changed = []
        for column in self.compared_columns():
            if column in self.before_related:
                if self.before_related[column] != _related_ids(stored, column):
                    changed.append(column)
                continue
            attname = stored._meta.get_field(column).attname
            if getattr(self.before, attname) != getattr(stored, attname):
                changed.append(column)
        return changed

    def _column_label(self, column: str) -> str:
        return "API key" if column in SECRET_FIELDS else str(self[column].label)

    def _write(self):
        if self.before is None:
            return self.save()
        if self.errors:
            raise ValueError("save_audited() needs a valid form: call is_valid() first.")
        stored = _locked(self.instance)
        self.check_stored(stored)
        columns = self.owned_columns()
        _take_stored(self.instance, stored, keep=columns)
        self.instance.save(update_fields=columns)
        for name in self.before_related:
            if self.instance._meta.get_field(name).many_to_many:
                getattr(self.instance, name).set(self.cleaned_data[name])
        return self.instance


def _is_relation(instance, name: str) -> bool:
    """Whether `name` is a many-to-many field of the model or the rows of another model pointing at it."""
    field = instance._meta.get_field(name)
    return field.many_to_many or field.one_to_many


def _related_ids(instance, name: str) -> set:
    return set(getattr(instance, name).values_list("pk", flat=True))


def _locked(instance):
    """The stored row of `instance`, locked until the transaction ends."""
    try:
        return type(instance).objects.select_for_update().get(pk=instance.pk)
    except ObjectDoesNotExist:
        raise ValidationError(
            f"{instance} was deleted while this form was being checked. Nothing was saved."
        ) from None


def _take_stored(instance, stored, *, keep) -> None:
    """Give `instance` the stored values of every column the edit does not write, so neither the caller nor
    the audit trail sees the stale copy."""
    for field in stored._meta.concrete_fields:
        if field.name not in keep:
            setattr(instance, field.attname, getattr(stored, field.attname))


class AccountForm(PlainNumbersMixin, LockedEditMixin, forms.ModelForm):
    """An exchange account. The key fields are write-only: always rendered blank; on edit a blank field keeps
    the stored value and filling them in rotates the key. A new or changed key is checked against the
    exchange (a signed read) before anything is saved."""

    new_api_key = forms.CharField(label="API key", required=False, strip=True, widget=_secret_input())
    new_secret = forms.CharField(
        label="Secret or private key",
        required=False,
        strip=True,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text="The HMAC secret, or the PEM private key (Ed25519 or RSA).",
    )
    new_key_passphrase = forms.CharField(
        label="Key passphrase (OKX: the API passphrase)",
        required=False,
        strip=False,
        widget=_secret_input(),
        help_text="OKX: the passphrase chosen when the API key was created (required). Binance: only for an "
        "encrypted PEM private key. Encrypted like the secret and never shown again.",
    )

    KEY_FIELDS = ("new_api_key", "new_secret", "new_key_passphrase")
    # Changing any of these means the key must be proven again against the exchange.
    CHECKED_FIELDS = ("venue", "environment", "custom_base_url", "key_type", "enabled")

    class Meta:
        model = ExchangeAccount
        fields = ["label", "venue", "environment", "custom_base_url", "key_type", "egress", "enabled"]
        labels = {"custom_base_url": "Custom base URL"}
        help_texts = {
            "venue": "Binance futures keep one switch per symbol. Options keep one per underlying: BTCUSDT "
            "covers every BTC option. Binance runs no Options testnet: production or a custom base URL. "
            "OKX and Kraken Futures keep one switch for the whole account (on OKX also one per order tag); "
            "their keys are HMAC, OKX's with its API passphrase. OKX: production or a custom base URL; "
            "Kraken Futures: production, its testnet (demo-futures.kraken.com) or a custom base URL.",
            "key_type": "OKX and Kraken Futures keys are HMAC (Kraken's secret is base64, as Kraken gives "
            "it).",
        }

    OWNED_FIELDS = Meta.fields
    # The environments as the form offers them, for every venue (which venue runs which: the help text).
    ENVIRONMENT_CHOICES = [
        (Environment.PRODUCTION.value, "Production (the venue's own host)"),
        (
            Environment.TESTNET.value,
            "Testnet / demo (Binance futures demo, Kraken Futures demo-futures.kraken.com)",
        ),
        (Environment.CUSTOM.value, "Custom base URL"),
    ]

    class Media:
        js = ["heartbeats/account_form.js"]

    def __init__(self, *args, client_kw: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.client_kw = client_kw or {}
        self.key_rotated = False
        if "environment" in self.fields:
            self.fields["environment"].choices = self.ENVIRONMENT_CHOICES
        if "venue" in self.fields:
            # What each venue accepts, for account_form.js to offer only that (clean() checks the same).
            self.fields["venue"].widget.attrs["data-venues"] = json.dumps(
                {
                    key: {
                        "key_types": list(spec.key_types),
                        "environments": [*spec.base_urls, Environment.CUSTOM.value],
                    }
                    for key, spec in venues.VENUES.items()
                }
            )
        if self.before is not None:
            keep = (
                f"Stored key {self.before.masked_api_key}. Leave blank to keep it; fill in to rotate the key."
            )
            # Beside the stored key's last characters, "API key" twice would read as the same thing.
            self.fields["new_api_key"].label = "New API key"
            self.fields["new_secret"].label = "New secret or private key"
            self.fields["new_key_passphrase"].label = "New key passphrase (OKX: the API passphrase)"
            self.fields["new_api_key"].help_text = keep
            self.fields["new_secret"].help_text += " Leave blank to keep the stored one."

    def clean(self):
        data = super().clean()
        adding = self.before is None
        api_key = data.get("new_api_key", "")
        secret = data.get("new_secret", "")
        passphrase = data.get("new_key_passphrase", "")
        for name, value in (
            ("new_api_key", api_key),
            ("new_secret", secret),
            ("new_key_passphrase", passphrase),
        ):
            if value and looks_like_token(value):
                self.add_error(name, "This looks like encrypted data, not a key. Paste the key itself.")
        if api_key and re.search(r"\s", api_key):
            self.add_error("new_api_key", "An API key has no spaces or line breaks: paste it again.")
        if adding:
            if not api_key:
                self.add_error("new_api_key", "Enter the API key.")
            if not secret:
                self.add_error("new_secret", "Enter the secret or private key that belongs to the API key.")
        elif api_key or secret:
            if not (api_key and secret):
                self.add_error(
                    "new_secret" if api_key else "new_api_key",
                    "To rotate the key, enter both the new API key and its secret "
                    f"(leave both blank to keep the stored key {self.before.masked_api_key}).",
                )
        elif data.get("key_type") and data["key_type"] != self.before.key_type:
            self.add_error("new_secret", "A different key type needs its new API key and secret.")
        spec = venues.VENUES.get(data.get("venue") or "")
        if spec is not None and data.get("key_type") and data["key_type"] not in spec.key_types:
            kinds = " or ".join(KeyType(k).label for k in spec.key_types)
            self.add_error("key_type", f"{spec.label} issues {kinds} keys: choose {kinds}.")
        if spec is not None and spec.passphrase:
            if secret and not passphrase:
                self.add_error(
                    "new_key_passphrase",
                    f"{spec.label} keys come with a passphrase, chosen when the key was created: enter it "
                    "with the key.",
                )
            elif passphrase and not secret:
                self.add_error(
                    "new_key_passphrase",
                    "A passphrase is only taken together with its API key and secret (leave all three blank "
                    "to keep the stored key).",
                )
        elif passphrase and not secret:
            self.add_error("new_key_passphrase", "A passphrase is only taken together with the private key.")
        elif passphrase and data.get("key_type") == KeyType.HMAC:
            self.add_error(
                "new_key_passphrase", "Only an encrypted PEM key has a passphrase; HMAC secrets have none."
            )
        if secret and data.get("key_type") == KeyType.HMAC and "-----BEGIN" in secret:
            self.add_error("new_secret", "This is a PEM private key: choose key type Ed25519 or RSA.")
        if secret and data.get("key_type") in (KeyType.ED25519, KeyType.RSA):
            if "-----BEGIN" not in secret:
                self.add_error(
                    "new_secret",
                    f"A {KeyType(data['key_type']).label} key is a PEM private key starting with "
                    "-----BEGIN PRIVATE KEY-----. For an HMAC secret choose key type HMAC-SHA256.",
                )
            else:
                data["new_secret"] = normalise_pem(secret)
        environment, venue = data.get("environment"), data.get("venue")
        if (
            environment
            and venue
            and environment != Environment.CUSTOM
            and (environment, venue) not in BASE_URLS
        ):
            spec = venues.VENUES[venue]
            if spec.family == "binance":
                message = (
                    f"Binance runs no {Environment(environment).label} for {Venue(venue).label}: choose "
                    "Binance production, or a custom base URL (such as the simulator's)."
                )
            else:
                offered = " or ".join(
                    f"{name} ({spec.base_urls[name].split('://', 1)[-1]})" for name in spec.base_urls
                )
                message = (
                    f"{spec.label} has no {environment} host here: choose {offered}, or a custom base URL "
                    "(such as the simulator's)."
                )
            self.add_error("environment", message)
        if data.get("environment") == Environment.CUSTOM:
            # A URL that failed its own check has said what is wrong: "needs its base URL" would be untrue.
            if not data.get("custom_base_url") and "custom_base_url" not in self.errors:
                self.add_error("custom_base_url", "A custom environment needs its base URL.")
            elif data.get("custom_base_url") and (refusal := exchange_url_refusal(data["custom_base_url"])):
                # Checked before anything is sent: only known exchange hosts are ever called.
                self.add_error("custom_base_url", refusal)
            elif re.search(
                r"/([fde]api|api/v5|derivatives)(/|$)", urlsplit(data.get("custom_base_url") or "").path
            ):
                # Pasted from an endpoint's documentation: the client adds /fapi/v1/… itself.
                self.add_error(
                    "custom_base_url",
                    "Give the base URL only, e.g. https://host or http://127.0.0.1:8800: "
                    "the /fapi/…, /dapi/…, /eapi/…, /api/v5/… or /derivatives/… part of each request is "
                    "added for you.",
                )
        elif "custom_base_url" in data:
            data["custom_base_url"] = ""
        if self.before is not None and self.before.enabled and data.get("enabled") is False:
            refusal = disable_refusal(self.before)
            if refusal:
                self.add_error("enabled", refusal)
        return data

    def _post_clean(self):
        super()._post_clean()  # the instance now carries the form's plain fields
        if self.errors:
            return
        data = self.cleaned_data
        if data.get("new_secret"):
            self.instance.api_key = data["new_api_key"]
            self.instance.secret = data["new_secret"]
            self.instance.key_passphrase = data.get("new_key_passphrase", "")
            self.key_rotated = self.before is not None
        # Key material first: no network call for a key that cannot even sign.
        try:
            signer_for(self.instance)
        except InvalidKeyError as exc:  # its message carries no key material
            self.add_error(
                "new_secret", f"Not a usable {self.instance.get_key_type_display()} key: {exc.msg}"
            )
            return
        before = self.before
        joins_egress = before is None or before.egress != self.instance.egress or not before.enabled
        if self.instance.enabled and joins_egress:
            try:
                budget.check_account_fits(self.instance)
            except ValidationError as exc:
                self.add_error(None, exc)
                return
        if self._needs_key_check():
            try:
                check_key(self.instance, **self.client_kw)
            except KeyCheckFailed as exc:
                self.add_error(None, f"Key check failed: {exc} Nothing was saved.")
                self._announce_key_check_failure(str(exc))

    def _announce_key_check_failure(self, reason: str) -> None:
        account = self.instance
        spec = venues.VENUES.get(account.venue, venues.USDM)
        if spec.family == "okx":
            what = "its Trade permission, its IP allowlist, its passphrase"
        elif spec.family == "kraken":
            what = "its access (full access to Kraken Futures' API), its IP allowlist"
        else:
            trading = "Options" if _covers_underlyings(account) else "futures trading"
            what = f"the key's permissions ({trading}), its IP whitelist"
        announce(
            AlertEvent.KEY_CHECK_FAILED,
            f"Key check failed: {account.label}",
            f"The exchange did not accept the key given for account {account.label} ({reason}) Nothing was "
            f"saved; the stored key, if any, is still in use.\nWhat to do: check {what} and that it belongs "
            "to this account.",
            account_ids=[account.pk] if account.pk else [],
        )

    def _needs_key_check(self) -> bool:
        if self.before is None or self.key_rotated:
            return True
        return any(getattr(self.before, f) != getattr(self.instance, f) for f in self.CHECKED_FIELDS) and (
            self.instance.enabled
        )

    def changes(self) -> dict:
        """What this save changed, for the audit trail (keys masked, secrets named only)."""
        return account_changes(self.before, self.instance)

    def audit_entries(self) -> list[tuple[str, dict]]:
        """(action, changes) rows for this save: account_create; or key_rotate and/or account_change."""
        changes = self.changes()
        if self.before is None:
            return [(Action.ACCOUNT_CREATE, changes)]
        key_part = {k: changes.pop(k) for k in list(changes) if k in SECRET_FIELDS}
        entries = [(Action.KEY_ROTATE, key_part)] if self.key_rotated else []
        return entries + ([(Action.ACCOUNT_CHANGE, changes)] if changes else [])

    def owned_columns(self) -> list[str]:
        rotated = [*SECRET_FIELDS, "api_key_last4"] if self.key_rotated else []
        return [*super().owned_columns(), *rotated]

    def compared_columns(self) -> list[str]:
        # The stored key too: the checks were made with it, and an edit that keeps it must not restore it.
        return [*super().compared_columns(), *SECRET_FIELDS]

    def check_stored(self, stored) -> None:
        super().check_stored(stored)
        # An arm locks its account's row as well (actions._set_desired), so none can slip in before commit.
        if stored.enabled and not self.instance.enabled:
            refusal = disable_refusal(stored)
            if refusal:
                raise ValidationError({"enabled": refusal})

    def save_audited(self, *, user, ip) -> ExchangeAccount:
        """Save and write the audit rows in one transaction. Call after is_valid(), which did the network
        checks; nothing here talks to the exchange. Raises ValidationError (nothing written) when the stored
        account no longer allows the edit."""
        try:
            with transaction.atomic():
                account = self._write()
                for action, changes in self.audit_entries():
                    audit.record(action, user=user, ip=ip, account=account, changes=changes)
        except IntegrityError:
            # Another key admin took this label after our uniqueness check: say so, as clean() would.
            label = self.instance.label
            if not ExchangeAccount.objects.filter(label=label).exclude(pk=self.instance.pk).exists():
                raise
            raise ValidationError({"label": f"An account named {label} already exists."}) from None
        return account


def _covers_underlyings(account) -> bool:
    """Whether the account's switches each cover an underlying (Binance Options) rather than a symbol."""
    spec = venues.VENUES.get(getattr(account, "venue", None) or "")
    return spec is not None and spec.covers == venues.UNDERLYING


def account_choice(account) -> str:
    """An account as the policy form offers it: its label and its venue (Options' switches cover
    underlyings, futures' symbols, OKX's and Kraken Futures' the whole account)."""
    venue = VENUE_NAMES.get(account.venue, account.venue)
    spec = venues.VENUES.get(account.venue)
    whole = ", whole account" if spec is not None and spec.covers == venues.ACCOUNT else ""
    return f"{account.label} ({venue}{whole})"


def _bounds_help() -> str:
    """The venues' own countdown rules, for the countdown's help text."""
    said = [venue_bounds_text(v) for v in venues.VENUES.values() if v.family != "binance"]
    return "; ".join(s for s in said if s)


class PolicyForm(PlainNumbersMixin, LockedEditMixin, forms.ModelForm):
    """A countdown policy: which symbol (on an Options account, which underlying) of which account, how long
    the countdown, how often the heartbeat. Arming and disarming are not edits: they go through
    heartbeats.desk.actions."""

    class Meta:
        model = CountdownPolicy
        fields = ["account", "symbol", "countdown_ms", "interval_s"]
        labels = {
            "symbol": "Symbol / underlying",
            "countdown_ms": "Countdown (ms)",
            "interval_s": "Interval (s)",
        }
        help_texts = {
            "symbol": f"A futures symbol, e.g. {venues.USDM.symbol_example} or "
            f"{venues.COINM.symbol_example}. On an Options account, the underlying: "
            f"{venues.OPTIONS.symbol_example} covers every BTC option (not one option such as "
            "BTC-261225-100000-C). On an OKX or Kraken Futures account, leave it blank for the whole "
            "account; on OKX you may instead enter an order tag (1–16 letters or digits, e.g. "
            f"{venues.OKX.symbol_example}): the switch then covers only the orders placed with that tag.",
            "countdown_ms": "How long the exchange waits after the last heartbeat before cancelling every "
            "open order of the symbol (on Options, of every option on the underlying; on OKX and Kraken "
            "Futures, of the whole account or the tag). At least 3 × interval + 2 s, and at least "
            f"{venues.OPTIONS.countdown.min_ms} ms on Options. {_bounds_help()}. 120 s is 120000.",
        }
        # A negative number fails the column's own bound first; say the rule that matters, not "≥ 0".
        error_messages = {
            "countdown_ms": {"min_value": f"The countdown must be at least {MIN_COUNTDOWN_MS} ms."},
            "interval_s": {"min_value": f"The interval must be at least {MIN_INTERVAL_S} s."},
        }

    OWNED_FIELDS = Meta.fields

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "account" in self.fields:
            self.fields["account"].label_from_instance = account_choice

    def clean(self):
        data = super().clean()
        account, symbol = data.get("account"), data.get("symbol")
        if symbol is None and "symbol" not in self.errors:
            symbol = data["symbol"] = ""  # blank: the whole account, where the venue's switch covers it
        venue = account.venue if account is not None else None
        timing = timing_errors(data.get("countdown_ms"), data.get("interval_s"), venue=venue)
        for name, message in timing.items():
            self.add_error(name, message)
        if account is not None and symbol is not None and self._duplicate(account, symbol):
            # Said before the exchange is asked about the symbol; the constraint's own message is generic.
            self.add_error("symbol", _duplicate_message(account, symbol))
            return data
        if self.before is not None and account is not None and symbol is not None:
            moved = account.pk != self.before.account_id or symbol != self.before.symbol
            refusal = _move_refusal(self.before) if moved else None
            if refusal:
                self.add_error(None, refusal)
                return data
        if account is not None and symbol is not None and "symbol" not in self.errors:
            try:
                symbols.validate_symbol(account, symbol)
            except ValidationError as exc:
                self.add_error("symbol", exc)
        if not self.errors and account is not None:
            candidate = CountdownPolicy(
                pk=self.instance.pk,
                account=account,
                symbol=symbol,
                countdown_ms=data["countdown_ms"],
                interval_s=data["interval_s"],
            )
            try:
                budget.check_policy_fits(candidate)
            except ValidationError as exc:
                self.add_error(None, exc)
        return data

    def _duplicate(self, account, symbol) -> bool:
        others = CountdownPolicy.objects.filter(account=account, symbol=symbol)
        if self.instance.pk is not None:
            others = others.exclude(pk=self.instance.pk)
        return others.exists()

    def changes(self) -> dict:
        return policy_changes(self.before, self.instance)

    def audit_entries(self) -> list[tuple[str, dict]]:
        changes = self.changes()
        if self.before is None:
            return [(Action.POLICY_CREATE, changes)]
        return [(Action.POLICY_CHANGE, changes)] if changes else []

    def check_stored(self, stored) -> None:
        super().check_stored(stored)
        moved = self.instance.account_id != stored.account_id or self.instance.symbol != stored.symbol
        refusal = _move_refusal(stored) if moved else None
        if refusal:
            raise ValidationError(
                f"{stored} was armed or disarmed while this form was being checked. {refusal}"
            )

    def save_audited(self, *, user, ip) -> CountdownPolicy:
        """Save and write the audit row in one transaction (after is_valid(); no network here). Raises
        ValidationError (nothing written) when the stored policy no longer allows the edit."""
        try:
            with transaction.atomic():
                policy = self._write()
                for action, changes in self.audit_entries():
                    did = Effect.CREATED if action == Action.POLICY_CREATE else Effect.EDITED
                    audit.record(
                        action,
                        user=user,
                        ip=ip,
                        policy=policy,
                        changes=changes,
                        targets=[audit.target(policy, did)],
                    )
        except IntegrityError:
            # Another key admin added this symbol after our duplicate check: say so, as clean() would.
            account, symbol = self.instance.account, self.instance.symbol
            if not self._duplicate(account, symbol):
                raise
            raise ValidationError({"symbol": _duplicate_message(account, symbol)}) from None
        return policy


def _duplicate_message(account, symbol) -> str:
    what = CountdownPolicy(account=account, symbol=symbol).switch_name
    return f"{account} already has a policy for {what}: change that one instead."


def _move_refusal(policy) -> str | None:
    """Why `policy` may not change its symbol or account now, or None."""
    if policy.armed or policy.status().state != Status.DISARMED:
        return (
            f"Disarm {policy.switch_name} before changing its symbol or account: its countdown on the "
            "exchange would be left running."
        )
    return None
