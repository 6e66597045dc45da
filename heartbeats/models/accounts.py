"""Exchange accounts: where requests go (venue, environment, egress identity) and their API keys, encrypted at
rest and write-only."""

from django.db import models

from heartbeats import text
from heartbeats.crypto import EncryptedTextField
from heartbeats.exchange import venues

# The venues' own facts are in heartbeats.exchange.venues; these are their choices for a form.
Venue = models.TextChoices("Venue", [(v.key.upper(), (v.key, v.label)) for v in venues.VENUES.values()])


class Environment(models.TextChoices):
    PRODUCTION = "production", "Binance production"
    TESTNET = "testnet", "Binance testnet (demo)"
    CUSTOM = "custom", "Custom base URL"


class KeyType(models.TextChoices):
    HMAC = "hmac", "HMAC-SHA256"
    ED25519 = "ed25519", "Ed25519"
    RSA = "rsa", "RSA"


BASE_URLS = {
    (Environment(environment), Venue(v.key)): url
    for v in venues.VENUES.values()
    for environment, url in v.base_urls.items()
}


def environment_name(venue: str, environment: str) -> str:
    """An account's environment as people read it (ExchangeAccount.environment_name)."""
    spec = venues.VENUES.get(venue)
    if environment == Environment.CUSTOM or spec is None or spec.family == "binance":
        return Environment(environment).label if environment in Environment.values else environment
    url = spec.base_urls.get(environment, "")
    host = url.split("://", 1)[-1]
    word = "production" if environment == Environment.PRODUCTION else "testnet"
    return f"{spec.label} {word} ({host})" if host else f"{spec.label} {word} (none: refused)"


# The encrypted key fields of an account: written only by key admins, read only where a request is signed.
SECRET_FIELDS = ("api_key", "secret", "key_passphrase")


class AccountQuerySet(models.QuerySet):
    def without_secrets(self):
        """Accounts as pages show them: the key fields are not even read, let alone decrypted. (Reading one
        later fetches and decrypts it then: code that signs loads accounts whole.)"""
        return self.defer(*SECRET_FIELDS)


class ExchangeAccount(models.Model):
    label = models.CharField(max_length=100, unique=True, validators=[text.one_line])
    venue = models.CharField(max_length=16, choices=Venue.choices, default=Venue.USDM)
    environment = models.CharField(max_length=16, choices=Environment.choices, default=Environment.PRODUCTION)
    custom_base_url = models.URLField(
        blank=True, help_text="Only for the custom environment, e.g. the simulator: http://127.0.0.1:8800"
    )
    key_type = models.CharField(max_length=8, choices=KeyType.choices, default=KeyType.ED25519)
    # Write-only secrets: encrypted at rest, never rendered back. api_key_last4 is what people see.
    api_key = EncryptedTextField()
    secret = EncryptedTextField(help_text="HMAC secret, or the PEM private key for Ed25519 and RSA keys.")
    key_passphrase = EncryptedTextField(blank=True, default="")
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    # Request weight is counted per source IP: accounts sharing an egress identity share one budget and one
    # engine lease. Different identities are served by worker hosts with different egress addresses.
    egress = models.CharField(max_length=64, default="default", validators=[text.one_line])
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["label"]

    def __str__(self):
        return self.label

    def save(self, *args, **kwargs):
        if self.api_key:
            self.api_key_last4 = self.api_key[-4:]
        super().save(*args, **kwargs)

    @property
    def base_url(self) -> str:
        if self.environment == Environment.CUSTOM:
            return self.custom_base_url.rstrip("/")
        # "" where Binance runs no such environment for the venue (the account form refuses it).
        return BASE_URLS.get((self.environment, self.venue), "")

    @property
    def environment_name(self) -> str:
        """The environment as people read it, naming the venue's own host where it is not Binance's:
        "Binance production", "OKX production (www.okx.com)",
        "Kraken Futures testnet (demo-futures.kraken.com)"."""
        return environment_name(self.venue, self.environment)

    @property
    def limit_address(self) -> str:
        """Where the exchange counts this account's requests, as the shared limits (domain.ratelimits) and the
        engine's meters key them: its base URL for a venue that counts per source address (Binance), its own
        key for one that counts per account."""
        if venues.VENUES.get(self.venue, venues.USDM).limit_scope == "account":
            return f"{self.base_url}#account-{self.pk}"
        return self.base_url

    @property
    def masked_api_key(self) -> str:
        return f"…{self.api_key_last4}" if self.api_key_last4 else ""
