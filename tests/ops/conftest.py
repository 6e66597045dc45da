"""Helpers for the operations tests: run manage.py and servers in subprocesses with a chosen environment."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.ports import free_port  # noqa: F401  (the area's tests import it from here)

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra) -> dict[str, str]:
    """This process's environment without any Countdown Guard or Django setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CG_", "DJANGO_"))}
    env["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@pytest.fixture
def production_env(tmp_path):
    """What an operator sets in production (see README, Configuration), with a throwaway SQLite database."""
    return clean_env(
        CG_SECRET_KEY=secrets.token_urlsafe(50),
        CG_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        # Never connected to by `check`; tests that need a database set their own.
        CG_DATABASE_URL="postgres://countdown_guard:unused@127.0.0.1:1/countdown_guard",
        CG_ALLOWED_HOSTS="guard.example.com",
        CG_VAR_DIR=str(tmp_path / "var"),
        CG_STATIC_ROOT=str(tmp_path / "static"),
    )


def manage(*args, env, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
