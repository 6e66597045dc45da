"""Countdown Guard settings, read from the environment.

CG_DEV=1 selects the embedded defaults used by the demo and the tests (SQLite, keys generated into var/).
Without it the process refuses to start unless the dangerous settings are given explicitly.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url

from dashboard.env import SettingsError, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CG_VAR_DIR", str(BASE_DIR / "var")))

DEV = env_bool("CG_DEV", False)
DEBUG = env_bool("CG_DEBUG", False)


def _local_secret(filename, make):
    """A secret kept in an ignored file under var/, created on first use (embedded defaults only)."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / filename
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _new_secret_key():
    import secrets

    return secrets.token_urlsafe(50)


def _new_fernet_key():
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


if DEV:
    SECRET_KEY = env_str("CG_SECRET_KEY") or _local_secret("secret.key", _new_secret_key)
    # First key encrypts, every key decrypts (rotation: put the new key first, then run reencrypt_secrets).
    ENCRYPTION_KEYS = env_list("CG_ENCRYPTION_KEYS") or [_local_secret("encryption.key", _new_fernet_key)]
else:
    SECRET_KEY = env_str("CG_SECRET_KEY", required=True)
    env_str("CG_ENCRYPTION_KEYS", required=True)
    ENCRYPTION_KEYS = env_list("CG_ENCRYPTION_KEYS")

if DEV:
    ALLOWED_HOSTS = env_list("CG_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
else:
    env_str("CG_ALLOWED_HOSTS", required=True)
    ALLOWED_HOSTS = env_list("CG_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("CG_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin with the dashboard's own sign-in and second factor (heartbeats.admin_site).
    "heartbeats.apps.GuardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "axes",
    # The second factor: authenticator apps (TOTP), recovery codes (static tokens), passkeys (WebAuthn).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "heartbeats",
]

MIDDLEWARE = [
    # Forwarded headers from anyone but the configured proxy are dropped before anything reads them.
    "heartbeats.middleware.ForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages show live state: no browser or proxy may keep one (static files are served above, cached).
    "heartbeats.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A signed-in user who owes a second factor sees nothing else until it is given (heartbeats.twofactor).
    "heartbeats.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "heartbeats.context_processors.page_flags",
            ],
        },
    },
]

# SQLite is the embedded default: WAL so readers never block the engine's writes, IMMEDIATE transactions so
# writers queue on the busy timeout instead of failing with "database is locked" on upgrade.
_SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DEV:
    _database_url = env_str("CG_DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
else:
    _database_url = env_str("CG_DATABASE_URL", required=True)
# Persistent connections, checked before reuse, so a restarted database server costs one failed check.
DATABASES = {
    "default": dj_database_url.parse(
        _database_url, conn_max_age=env_int("CG_DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = dict(_SQLITE_OPTIONS)
    # A file, not :memory:, so a worker thread or process in the browser tests sees the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-q2 keeps cluster status in the cache, so it must be shared between processes: the database cache.
CACHES = {
    "default": {
        "BACKEND": "heartbeats.cache.HealingDatabaseCache",
        "LOCATION": "countdown_guard_cache",
    }
}

# The egress identity this host's engine serves (one source IP: one weight budget, one lease) and the local
# address its requests leave from (empty: the default route).
ENGINE_EGRESS = env_str("CG_ENGINE_EGRESS", "default")
ENGINE_SOURCE_ADDRESS = env_str("CG_ENGINE_SOURCE_ADDRESS") or None
ENGINE_RECV_WINDOW_MS = env_int("CG_ENGINE_RECV_WINDOW_MS", 5000)
ENGINE_POOL_SIZE = env_int("CG_ENGINE_POOL_SIZE", 16)
# The worker (`manage.py qcluster`): django-q2 runs its processes and starts again any that dies; each runs
# the worker's duties (heartbeats.duties.worker), the engine among them. It runs no task and no schedule:
# the scheduler is off, so no row of the Schedule table can run code where the encryption keys are, and the
# queue never retries on its own (a stale beat retried later could re-arm a disarmed policy).
Q_CLUSTER = {
    "name": "countdown-guard",
    # One cluster name per egress identity, so the clusters of two identities are told apart.
    **({"cluster_name": f"countdown-guard-{ENGINE_EGRESS}"} if ENGINE_EGRESS != "default" else {}),
    "orm": "default",
    # Each process stands by for the engine's lease: with two, one sends and the other takes over within the
    # lease's few seconds if it dies; django-q2 starts a new one meanwhile.
    "workers": env_int("CG_Q_WORKERS", 2),
    "scheduler": False,
    "recycle": 500,
    "timeout": 300,
    "retry": 360,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    # An idle cluster costs little: the broker is read every 5 s, and the guard loop, which looks after the
    # processes and stores the cluster's status in the database cache (a commit, which wakes whoever waits
    # for news of the database), every 5 s. A process that died is replaced within that; its engine's lease
    # is taken over by the standby sooner (EngineConfig.lease_ttl).
    "poll": 5.0,
    "guard_cycle": 5.0,
    "cache": "default",
    "label": "Task queue",
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "board"
LOGOUT_REDIRECT_URL = "login"

# Login lockout (django-axes): 5 failures lock that username from that address for 15 minutes.
AXES_FAILURE_LIMIT = env_int("CG_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Failures are forgotten when a sign-in is complete -- after the second factor where one is owed, not at the
# password (heartbeats.twofactor), so signing in again cannot wipe out failed second-factor guesses.
AXES_RESET_ON_SUCCESS = False
AXES_SENSITIVE_PARAMETERS = ["token"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# The second factor (heartbeats.twofactor). Required for operators, key admins and superusers unless turned
# off (the embedded setup leaves it optional unless CG_REQUIRE_2FA=1); anyone may enrol. Disarm all, key
# changes, device changes and recovery codes ask for it again when the last one is older than
# SECOND_FACTOR_FRESH_SECONDS.
REQUIRE_2FA = env_bool("CG_REQUIRE_2FA", not DEV)
SECOND_FACTOR_FRESH_SECONDS = env_int("CG_2FA_FRESH_SECONDS", 300)
OTP_TOTP_ISSUER = "Countdown Guard"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Passkeys are a second factor only (after the password), scoped to the host name the dashboard is opened
# at; each ceremony is checked against the page's own origin (heartbeats.passkeys).
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_NAME = "Countdown Guard"
OTP_WEBAUTHN_RP_ID_CALLABLE = "heartbeats.passkeys.relying_party_id"
OTP_WEBAUTHN_HELPER_CLASS = "heartbeats.passkeys.PasskeyHelper"
# A failed passkey is written to the audit trail and logged in one line (heartbeats.twofactor), not as a
# traceback per attempt.
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = ""
OTP_WEBAUTHN_ALLOWED_ORIGINS = (
    ["http://localhost"]
    if DEV
    else [f"https://{h.lstrip('.')}" for h in ALLOWED_HOSTS if h != "*" and not h.startswith(".")]
)

# Exchange hosts the server may call: Binance's production, testnet and demo hosts
# (heartbeats.domain.validation), plus these host names (or host:port). The embedded setup also allows
# loopback, where the simulator runs.
EXCHANGE_HOST_ALLOWLIST = env_list("CG_EXCHANGE_HOST_ALLOWLIST")
EXCHANGE_LOOPBACK_ALLOWED = DEV

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("CG_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Times to the second, dates as YYYY-MM-DD, in the admin and the audit trail.
FORMAT_MODULE_PATH = ["heartbeats.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("CG_STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEV
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEV
if DEV:
    # The embedded setup serves static files straight from the apps (finders) and needs no collectstatic;
    # whitenoise only wants STATIC_ROOT to exist.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Security. Behind TLS in production; the demo runs on plain http://127.0.0.1.
SECURE = not DEV
SESSION_COOKIE_SECURE = env_bool("CG_SECURE_COOKIES", SECURE)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if SESSION_COOKIE_SECURE:
    # The __Host- prefix makes browsers refuse these cookies unless set over https for this exact host.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("CG_SESSION_SECONDS", 12 * 3600)
SECURE_SSL_REDIRECT = env_bool("CG_SSL_REDIRECT", SECURE)
SECURE_HSTS_SECONDS = env_int("CG_HSTS_SECONDS", 31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Only behind a proxy of ours that sets X-Forwarded-Proto itself (overwriting what the client sent).
BEHIND_PROXY = env_bool("CG_BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Whose forwarded headers (X-Forwarded-Proto, X-Forwarded-For) count: the proxy's addresses or networks, or
# -- the proxy on this host -- a unix socket that only it can open (CG_BIND=unix:…). From anyone else, a
# local process included, they are dropped before any code reads them (heartbeats.middleware); gunicorn
# reads the same variable (deploy/gunicorn.conf.py).
try:
    FORWARDED_ALLOW_IPS = [
        str(ipaddress.ip_network(a, strict=False)) for a in env_list("CG_FORWARDED_ALLOW_IPS")
    ]
except ValueError as exc:
    raise SettingsError(f"CG_FORWARDED_ALLOW_IPS must list addresses or networks: {exc}.") from None
if BEHIND_PROXY and not FORWARDED_ALLOW_IPS and not env_str("CG_BIND", "").startswith("unix:"):
    raise SettingsError(
        "CG_BEHIND_PROXY=1 needs the proxy named: CG_FORWARDED_ALLOW_IPS=<its address>, or "
        "CG_BIND=unix:<path> for a proxy on this host (see README, Deployment)."
    )
# How many proxies of ours append to X-Forwarded-For: the audit trail (audit.client_ip) and the login lockout
# take the client address from there; 0 trusts REMOTE_ADDR alone.
TRUSTED_PROXY_COUNT = env_int("CG_TRUSTED_PROXY_COUNT", 1 if BEHIND_PROXY else 0)
if TRUSTED_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
X_FRAME_OPTIONS = "DENY"
# Says which check failed (a form sent from another site, a missing cookie, a stale token).
CSRF_FAILURE_VIEW = "heartbeats.views.errors.csrf_failure"

from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
}

# E-mail (alerts, error reports) goes to an SMTP server: by default a relay on this host. The embedded setup
# prints mail to the log instead, unless CG_EMAIL_HOST is given.
if DEV and not env_str("CG_EMAIL_HOST"):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("CG_EMAIL_HOST", "localhost"),
                "port": env_int("CG_EMAIL_PORT", 25),
                "username": env_str("CG_EMAIL_USER", ""),
                "password": env_str("CG_EMAIL_PASSWORD", ""),
                "use_tls": env_bool("CG_EMAIL_TLS", False),
                "timeout": 10,
            },
        }
    }
DEFAULT_FROM_EMAIL = env_str("CG_EMAIL_FROM", "countdown-guard@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Risk desk", a) for a in env_list("CG_ALERT_EMAILS")]

# How long beat records and finished queue tasks are kept before the `prune` duty deletes them.
BEAT_RETENTION_DAYS = env_int("CG_BEAT_RETENTION_DAYS", 7)

# Alerts (heartbeats.desk.alerts, the `alerts` duty): a late or unknown heartbeat is told once it lasted
# CG_ALERT_HOLD_SECONDS; failures and expiries at once; no live engine once CG_ALERT_ENGINE_DOWN_SECONDS
# passed since one was last seen.
ALERT_HOLD_SECONDS = env_int("CG_ALERT_HOLD_SECONDS", 5)
ALERT_ENGINE_DOWN_SECONDS = env_int("CG_ALERT_ENGINE_DOWN_SECONDS", 30)
# Problems with one cause (policies failing with the same error on one account, late on one engine) are one
# message: it waits this long after the first of them is due, so the rest of a burst joins it.
ALERT_GROUP_WAIT_SECONDS = env_int("CG_ALERT_GROUP_WAIT_SECONDS", 5)
# A notification a channel could not take is retried with backoff for this long, then marked failed.
ALERT_GIVE_UP_HOURS = env_int("CG_ALERT_GIVE_UP_HOURS", 24)
# An outside monitor's ping URL (healthchecks.io and the like), hit only while the guard is healthy.
HEALTHCHECK_URL = env_str("CG_HEALTHCHECK_URL", "")
HEALTHCHECK_EVERY = env_int("CG_HEALTHCHECK_EVERY", 60)
# Alert channels and the healthcheck reach public addresses only: loopback, link-local (cloud metadata),
# private and other non-public addresses are refused when saved and when resolved at each send
# (heartbeats.domain.outbound). The embedded setup allows them: its channels and monitors run on this machine.
ALLOW_PRIVATE_ALERT_HOSTS = env_bool("CG_ALLOW_PRIVATE_ALERT_HOSTS", DEV)
# The worker reads each armed policy's open orders from the exchange (within the weight budget) so the board
# shows what a lapse would cancel (heartbeats.desk.killswitch.stake).
STAKE_READING = env_bool("CG_ORDERS_AT_STAKE", True)

LOG_LEVEL = env_str("CG_LOG_LEVEL", "INFO")
# "json": one JSON object per line, for a log collector (heartbeats.logs.JsonFormatter).
LOG_FORMAT = env_str("CG_LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise SettingsError(f"CG_LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")

# /metrics answers a scraper that sends this bearer token or comes from one of these addresses or networks;
# with neither it is off (the embedded setup lets loopback in). See heartbeats.views.metrics.
METRICS_TOKEN = env_str("CG_METRICS_TOKEN", "")
try:
    METRICS_ALLOW = [str(ipaddress.ip_network(a, strict=False)) for a in env_list("CG_METRICS_ALLOW")]
except ValueError as exc:
    raise SettingsError(f"CG_METRICS_ALLOW must list addresses or networks: {exc}.") from None
# The engine's and the web's event counters meet in files in this directory, which /metrics reads
# (prometheus-client's multiprocess mode, heartbeats.domain.metrics). prometheus_client picks that
# mode when first imported -- django-q2 imports it while the apps load -- so the variable is set here, or
# removed when the directory cannot be written (counters then stay in each process and /metrics shows the
# state alone).
# Disarms pressed while another process held the database's locks wait here until it can take them
# (heartbeats.domain.disarm_journal): written by the web, read by the engine before every arm, so on one host
# a path both the web and the worker can write.
DISARM_JOURNAL_DIR = Path(env_str("CG_DISARM_JOURNAL_DIR", str(VAR_DIR / "disarm-journal")))
# How long a disarm waits for the database's locks before it goes around whoever holds them (seconds).
DISARM_LOCK_WAIT = 0.3
METRICS_DIR = Path(env_str("CG_METRICS_DIR", str(VAR_DIR / "metrics")))
try:
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    _metrics_dir_writable = os.access(METRICS_DIR, os.W_OK)
except OSError:
    _metrics_dir_writable = False
if _metrics_dir_writable:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
else:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

# Django logs each request it refuses as suspicious on "django.security.<exception class>", at ERROR.
BAD_REQUEST_LOGGERS = [
    f"django.security.{name}"
    for name in (
        "SuspiciousOperation",
        "DisallowedHost",
        "DisallowedRedirect",
        "RequestDataTooBig",
        "TooManyFieldsSent",
        "TooManyFilesSent",
        "SuspiciousMultipartForm",
        "SuspiciousFileOperation",
        "SuspiciousSession",
    )
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "heartbeats.exchange.redact.RedactingFilter"},
        "bad_request": {"()": "heartbeats.logs.BadRequestFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "heartbeats.logs.JsonFormatter"},
    },
    "handlers": {
        # The filter runs before the formatter: either format prints the redacted record.
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact"]},
        # Swallows apprise's records once delivery.py has captured them for the notification's record.
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        # 403s and 404s get clear pages (and are audited where they matter); a traceback each is noise.
        "django.request": {"level": "ERROR"},
        # Its start-up banner would open the output of every command.
        "axes.apps": {"level": "WARNING"},
        # apprise logs its own view of a send, which may name a channel's URL; heartbeats.desk.alerts.delivery
        # records each outcome itself, scrubbed.
        "apprise": {"handlers": ["null"], "propagate": False, "level": "WARNING"},
        # Requests refused with 400 (a bad Host, an oversized body): one warning line each, no traceback.
        **{name: {"filters": ["bad_request"]} for name in BAD_REQUEST_LOGGERS},
        # django-q2 adds a handler of its own unless its logger has one: it gets the redacted console.
        "django-q": {"handlers": ["console"], "propagate": False, "level": LOG_LEVEL},
    },
}
