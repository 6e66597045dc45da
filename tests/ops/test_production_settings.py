"""Production configuration: refuses to start without the dangerous settings (saying only which), passes
`check --deploy`."""

import subprocess
import sys

import pytest

from tests.ops.conftest import ROOT, manage


@pytest.mark.parametrize(
    "name", ["CG_SECRET_KEY", "CG_ENCRYPTION_KEYS", "CG_DATABASE_URL", "CG_ALLOWED_HOSTS"]
)
def test_it_refuses_to_start_without_a_required_setting(production_env, name):
    del production_env[name]
    result = manage("check", env=production_env)
    assert result.returncode == 1
    assert result.stderr == (
        f"Countdown Guard cannot start: {name} must be set in the environment (see README, Configuration).\n"
    )


def test_it_refuses_a_malformed_setting(production_env):
    production_env["CG_DEBUG"] = "maybe"
    result = manage("check", env=production_env)
    assert result.returncode == 1
    assert result.stderr == "Countdown Guard cannot start: CG_DEBUG must be true or false, not 'maybe'.\n"


def test_behind_a_proxy_it_refuses_to_start_until_the_proxy_is_named(production_env):
    env = production_env | {"CG_BEHIND_PROXY": "1", "CG_BIND": "127.0.0.1:8000"}
    result = manage("check", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("Countdown Guard cannot start: CG_BEHIND_PROXY=1 needs the proxy named")
    for named in ({"CG_FORWARDED_ALLOW_IPS": "10.0.0.5"}, {"CG_BIND": "unix:/run/countdown-guard/web.sock"}):
        assert manage("check", "--deploy", "--fail-level", "WARNING", env=env | named).returncode == 0, named


def test_gunicorn_refuses_to_start_without_a_required_setting_saying_only_which(production_env):
    del production_env["CG_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        cwd=ROOT,
        env=production_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "Countdown Guard cannot start: CG_SECRET_KEY must be set in the environment" in result.stderr


def test_the_worker_command_refuses_to_start_without_a_required_setting_saying_only_which(production_env):
    del production_env["CG_ENCRYPTION_KEYS"]
    result = manage("qcluster", env=production_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "CG_ENCRYPTION_KEYS must be set in the environment" in result.stderr


def test_it_passes_the_deploy_check_with_production_settings(production_env):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_warns_when_production_runs_with_debug(production_env):
    production_env["CG_DEBUG"] = "1"
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert result.returncode != 0
    assert "security.W018" in result.stderr


def test_the_deploy_check_stays_clean_with_a_second_hostname_and_an_exchange_allowlist(production_env):
    production_env["CG_ALLOWED_HOSTS"] = "guard.example.com,guard-b.example.com"
    production_env["CG_EXCHANGE_HOST_ALLOWLIST"] = "fapi.internal-proxy.example:8443"
    production_env["CG_2FA_FRESH_SECONDS"] = "120"
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_requires_the_second_factor_unless_turned_off(production_env):
    script = (
        "from django.conf import settings; print(settings.REQUIRE_2FA, settings.SECOND_FACTOR_FRESH_SECONDS)"
    )
    shell = [sys.executable, "manage.py", "shell", "-c", script]
    on = subprocess.run(shell, cwd=ROOT, env=production_env, capture_output=True, text=True, timeout=60)
    assert on.stdout.strip().splitlines()[-1] == "True 300", on.stderr
    production_env["CG_REQUIRE_2FA"] = "0"
    off = subprocess.run(shell, cwd=ROOT, env=production_env, capture_output=True, text=True, timeout=60)
    assert off.stdout.strip().splitlines()[-1] == "False 300", off.stderr
