"""Countdown Guard settings, read from the environment.

CG_DEV=1 selects the embedded defaults used by the demo and the tests (SQLite, keys generated into var/).
Without it the process refuses to start unless the dangerous settings are given explicitly.
"""

from pathlib import Path

import dj_database_url

from dashboard.env import env_bool, env_int, env_list, env_str

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

ALLOWED_HOSTS = env_list("CG_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEV else [])
CSRF_TRUSTED_ORIGINS = env_list("CG_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "auditlog",
    "axes",
    "heartbeats",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
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
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = dict(_SQLITE_OPTIONS)
    # A file, not :memory:, so a worker thread or process in the browser tests sees the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-q2 keeps cluster status in the cache, so it must be shared between processes: the database cache.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "countdown_guard_cache",
    }
}

# The engine runs in shifts (heartbeats.engine): each shift is one django-q2 task that ends well before
# `timeout`, and `retry` is longer than `timeout` so the ORM broker never hands a running shift to a second
# worker. The queue never retries on its own: a stale beat retried later could re-arm a disarmed policy.
ENGINE_SHIFT_SECONDS = env_int("CG_ENGINE_SHIFT_SECONDS", 60)
Q_CLUSTER = {
    "name": "countdown-guard",
    "orm": "default",
    "workers": env_int("CG_Q_WORKERS", 4),
    "recycle": 500,
    "timeout": ENGINE_SHIFT_SECONDS + 60,
    "retry": ENGINE_SHIFT_SECONDS + 120,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.2,
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
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("CG_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

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

# Security. Behind TLS in production; the demo runs on plain http://127.0.0.1.
SECURE = not DEV
SESSION_COOKIE_SECURE = env_bool("CG_SECURE_COOKIES", SECURE)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("CG_SESSION_SECONDS", 12 * 3600)
SECURE_SSL_REDIRECT = env_bool("CG_SSL_REDIRECT", SECURE)
SECURE_HSTS_SECONDS = env_int("CG_HSTS_SECONDS", 31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("CG_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

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

EMAIL_BACKEND = env_str("CG_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("CG_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("CG_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("CG_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("CG_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("CG_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env_str("CG_EMAIL_FROM", "countdown-guard@localhost")
ADMINS = [("Risk desk", a) for a in env_list("CG_ALERT_EMAILS")]

# How long beat records and finished queue tasks are kept before the pruning job deletes them.
BEAT_RETENTION_DAYS = env_int("CG_BEAT_RETENTION_DAYS", 7)

LOG_LEVEL = env_str("CG_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "heartbeats.exchange.redact.RedactingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
    },
}
