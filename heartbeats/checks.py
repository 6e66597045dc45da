"""System checks with stable IDs for dangerous configuration.

countdown_guard.E001  ENCRYPTION_KEYS is empty or holds a value that is not a Fernet key.
countdown_guard.W002  DEBUG is on outside the embedded (CG_DEV) setup: error pages would show data.
countdown_guard.W003  A stored policy's countdown is too tight for its interval, or out of bounds (database).
countdown_guard.W004  SQLite outside the embedded setup: one host, one writer; use PostgreSQL in production.
countdown_guard.E005  A stored secret (exchange key, channel URL, authenticator app key) cannot be
                      decrypted with ENCRYPTION_KEYS (database).
countdown_guard.E006  Q_CLUSTER's scheduler is on: a Schedule row would run its code on the worker, which
                      runs duties (heartbeats.duties), no task or schedule of its own.
countdown_guard.W007  Q_CLUSTER retries or keeps failed tasks on its own (max_attempts 1, ack_failures True).
countdown_guard.W008  The cache is not shared between processes, so worker status cannot be read.
countdown_guard.E009  ENGINE_DESIRED_STALE_AFTER is not below EngineLiveness.DEAF_AFTER: an engine that
                      cannot read the database could still arm from memory after the web took over disarms.
countdown_guard.W010  A stored account's base URL is not an allowed exchange host (database): saved before
                      the host rules, or the host was dropped from CG_EXCHANGE_HOST_ALLOWLIST.
countdown_guard.E011  CG_HEALTHCHECK_URL names a loopback, private, link-local or local host while
                      CG_ALLOW_PRIVATE_ALERT_HOSTS is off (the worker would refuse every ping).

Checks marked (database) read stored rows, so they run only when databases are checked:
`manage.py check --database default` (and `migrate`). They skip quietly when the tables do not exist yet.
"""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from heartbeats.crypto import SecretDecryptionError, encrypted_fields, fernet
from heartbeats.domain import outbound
from heartbeats.domain.validation import exchange_url_refusal, timing_errors
from heartbeats.engine.config import EngineConfig
from heartbeats.models import CountdownPolicy, EngineLiveness, Environment, ExchangeAccount

ID = "countdown_guard."


@register(Tags.security)
def check_encryption_keys(app_configs=None, **kwargs):

    keys = getattr(settings, "ENCRYPTION_KEYS", None)
    if not keys:
        return [
            Error(
                "No encryption key: secrets cannot be stored or read.",
                hint="Set CG_ENCRYPTION_KEYS to one or more Fernet keys, newest first (python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())').",
                id=ID + "E001",
            )
        ]
    try:
        fernet()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="Each key is 32 url-safe base64-encoded bytes.", id=ID + "E001")]
    return []


@register(Tags.security)
def check_debug(app_configs=None, **kwargs):
    if settings.DEBUG and not getattr(settings, "DEV", False):
        return [
            Warning(
                "DEBUG is on outside the embedded setup: error pages would show settings and request data.",
                hint="Unset CG_DEBUG in production.",
                id=ID + "W002",
            )
        ]
    return []


@register(Tags.database)
def check_policy_timing(app_configs=None, databases=None, **kwargs):
    if not databases:
        return []

    problems = []
    try:
        rows = list(CountdownPolicy.objects.with_account().order_by("pk"))
    except DatabaseError:
        return []
    for policy in rows:
        for message in timing_errors(
            policy.countdown_ms, policy.interval_s, venue=policy.account.venue
        ).values():
            problems.append(
                Warning(f"Policy {policy} (id {policy.pk}): {message}", obj=policy, id=ID + "W003")
            )
    return problems


@register()
def check_sqlite_in_production(app_configs=None, **kwargs):
    engine = settings.DATABASES.get("default", {}).get("ENGINE", "")
    if engine.endswith("sqlite3") and not getattr(settings, "DEV", False):
        return [
            Warning(
                "SQLite is the database outside the embedded setup.",
                hint="SQLite serialises every write and cannot serve several hosts; set CG_DATABASE_URL to a "
                "PostgreSQL database for production.",
                id=ID + "W004",
            )
        ]
    return []


@register(Tags.database)
def check_secrets_decrypt(app_configs=None, databases=None, **kwargs):
    """Every encrypted column of every model: exchange keys, alert channel URLs, authenticator app keys."""
    if not databases:
        return []
    broken = []
    try:
        for model, fields in encrypted_fields():
            for pk in model.objects.values_list("pk", flat=True):
                try:
                    model.objects.only("pk", *fields).get(pk=pk)
                except SecretDecryptionError:
                    broken.append(f"{model._meta.verbose_name} {model.objects.defer(*fields).get(pk=pk)}")
    except (DatabaseError, ImproperlyConfigured):
        return []
    if broken:
        return [
            Error(
                f"{len(broken)} stored secret(s) cannot be decrypted with ENCRYPTION_KEYS: "
                f"{', '.join(broken[:20])}.",
                hint="Put back the key they were written with (after the new one), then run "
                "`manage.py reencrypt_secrets`; or enter the keys again.",
                id=ID + "E005",
            )
        ]
    return []


@register()
def check_queue(app_configs=None, **kwargs):
    """The worker runs no task of its own (heartbeats.duties.worker): a scheduler or retries would only run
    what someone else put in the queue's tables, on the processes that hold the encryption keys."""
    q = getattr(settings, "Q_CLUSTER", {}) or {}
    problems = []
    if q.get("scheduler", True) is not False:
        problems.append(
            Error(
                "Q_CLUSTER's scheduler is on: a row of the Schedule table would run its code on the worker.",
                hint="Set Q_CLUSTER['scheduler'] = False; the worker's jobs are duties (heartbeats.duties).",
                id=ID + "E006",
            )
        )
    if q.get("max_attempts") != 1 or q.get("ack_failures") is not True:
        problems.append(
            Warning(
                "Q_CLUSTER may retry failed tasks on its own: a stale heartbeat retried later could re-arm a "
                "disarmed policy.",
                hint="Set max_attempts=1 and ack_failures=True; the engine decides about retries.",
                id=ID + "W007",
            )
        )
    return problems


@register(Tags.caches)
def check_shared_cache(app_configs=None, **kwargs):
    q = getattr(settings, "Q_CLUSTER", {}) or {}
    alias = q.get("cache", "default")
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    if backend.endswith(("locmem.LocMemCache", "dummy.DummyCache")):
        return [
            Warning(
                f"The cache '{alias}' ({backend.rsplit('.', 1)[-1]}) is private to each process: the pages "
                "cannot see the worker cluster's status, and each process fetches the symbol lists itself.",
                hint="Use the database cache (or Redis) shared by web and worker processes.",
                id=ID + "W008",
            )
        ]
    return []


@register()
def check_deaf_engine_bound(app_configs=None, **kwargs):

    stale_after = EngineConfig.from_settings().desired_stale_after
    deaf_after = EngineLiveness.DEAF_AFTER.total_seconds()
    if stale_after < deaf_after:
        return []
    return [
        Error(
            f"ENGINE_DESIRED_STALE_AFTER={stale_after} s is not below the {deaf_after:g} s after which the "
            "web sends disarms itself: an engine that cannot read the database could arm from memory after "
            "the web's zero.",
            hint=f"Keep ENGINE_DESIRED_STALE_AFTER below {deaf_after:g} s.",
            id=ID + "E009",
        )
    ]


@register(Tags.database)
def check_exchange_hosts(app_configs=None, databases=None, **kwargs):
    if not databases:
        return []

    try:
        rows = list(
            ExchangeAccount.objects.filter(environment=Environment.CUSTOM).values_list(
                "label", "custom_base_url"
            )
        )
    except DatabaseError:
        return []
    refused = [label for label, url in rows if exchange_url_refusal(url)]
    if refused:
        return [
            Warning(
                f"The base URL of {len(refused)} account(s) is not an allowed exchange host: "
                f"{', '.join(refused)}. Their key checks and symbol lists are refused.",
                hint="Point them at a Binance host, or list their host in CG_EXCHANGE_HOST_ALLOWLIST.",
                id=ID + "W010",
            )
        ]
    return []


@register(Tags.security)
def check_healthcheck_url(app_configs=None, **kwargs):
    why = outbound.url_refusal(getattr(settings, "HEALTHCHECK_URL", "") or "")
    if why:
        return [
            Error(
                f"CG_HEALTHCHECK_URL: {why}",
                hint="Use the outside monitor's public ping URL (e.g. https://hc-ping.com/…).",
                id=ID + "E011",
            )
        ]
    return []
