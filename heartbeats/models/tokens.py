"""API tokens: who a runbook or bot is, what it may do (viewer or operator) and from where.

Only the SHA-256 of a token is stored. A token is 256 random bits, so an unsalted hash cannot be reversed or
guessed, and looking a presented token up by its hash needs no comparison that could leak timing.
"""

import hashlib
import ipaddress
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from heartbeats import text

PREFIX = "cg_"
# Longer than any token issue() makes; anything longer is not hashed at all.
MAX_TOKEN_LENGTH = 100


class TokenRole(models.TextChoices):
    # The same names as the people's roles (heartbeats.domain.roles).
    VIEWER = "viewer", "Viewer (reads status and results)"
    OPERATOR = "operator", "Operator (also arms, disarms and disarms all)"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[text.one_line])
    role = models.CharField(max_length=16, choices=TokenRole.choices, default=TokenRole.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # What people see to tell tokens apart ("cg_…x7Qz"); the rest is never stored.
    last4 = models.CharField(max_length=4, editable=False)
    # Networks ("10.1.2.0/24", "192.0.2.7/32") requests may come from; empty: any address.
    allowed_addresses = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_by_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # last_used_at is written at most this often per token: a bot polling status every second costs reads.
    TOUCH_EVERY = timedelta(seconds=10)

    class Meta:
        verbose_name = "API token"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @classmethod
    def issue(
        cls, *, name: str, role: str, allowed_addresses: list[str], created_by
    ) -> tuple["ApiToken", str]:
        """Create a token; returns it with its value, which exists only in this return value from now on."""
        raw = PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            name=name,
            role=role,
            token_hash=hash_token(raw),
            last4=raw[-4:],
            allowed_addresses=list(allowed_addresses),
            created_by=created_by,
            created_by_name=created_by.get_username() if created_by else "",
        )
        return token, raw

    @classmethod
    def find(cls, raw: str) -> "ApiToken | None":
        """The token this value is, revoked or not; None for anything else."""
        if not raw.startswith(PREFIX) or len(raw) > MAX_TOKEN_LENGTH:
            return None
        return cls.objects.filter(token_hash=hash_token(raw)).first()

    @property
    def masked(self) -> str:
        return f"{PREFIX}…{self.last4}"

    @property
    def username(self) -> str:
        """Who the audit trail says acted (Operation.username): never mistaken for a person's name."""
        return f"api:{self.name}"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, address: str | None) -> bool:
        if not self.allowed_addresses:
            return True
        if not address:
            return False
        ip = ipaddress.ip_address(address)
        ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:10.0.0.1 from a dual-stack listener
        return any(ip in ipaddress.ip_network(net) for net in self.allowed_addresses)

    def touch(self, ip: str | None, now: datetime | None = None) -> None:
        """Record a use: one UPDATE, and none while the last recorded use is recent. The condition is in the
        UPDATE too, so concurrent requests write it once."""
        now = now or timezone.now()
        due = now - self.TOUCH_EVERY
        if self.last_used_at is not None and self.last_used_at > due:
            return
        ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=due), pk=self.pk).update(
            last_used_at=now, last_used_ip=ip
        )
        self.last_used_at, self.last_used_ip = now, ip

    def revoke(self, now: datetime | None = None) -> bool:
        """Revoke now; False if it already was (a second click, or someone else first)."""
        now = now or timezone.now()
        done = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now)
        if done:
            self.revoked_at = now
        return bool(done)
