"""Settings for the test suite: the embedded defaults, with state kept apart from the demo's var/."""

import os
from pathlib import Path

os.environ.setdefault("CG_DEV", "1")
os.environ.setdefault("CG_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from dashboard.settings import *  # noqa: E402,F403
from dashboard.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users for tests only

# CG_TEST_DATABASE_URL runs the suite against another server (CI: PostgreSQL).
_test_db = os.environ.get("CG_TEST_DATABASE_URL")
if _test_db:
    import dj_database_url

    DATABASES["default"] = dj_database_url.parse(_test_db)
