"""Production configuration: refuses to start without the dangerous settings, passes `check --deploy`."""

import pytest

from tests.ops.conftest import manage


@pytest.mark.parametrize(
    "name", ["CG_SECRET_KEY", "CG_ENCRYPTION_KEYS", "CG_DATABASE_URL", "CG_ALLOWED_HOSTS"]
)
def test_it_refuses_to_start_without_a_required_setting(production_env, name):
    del production_env[name]
    result = manage("check", env=production_env)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name} must be set in the environment" in result.stderr


def test_it_refuses_a_malformed_setting(production_env):
    production_env["CG_DEBUG"] = "maybe"
    result = manage("check", env=production_env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: CG_DEBUG must be true or false" in result.stderr


def test_it_passes_the_deploy_check_with_production_settings(production_env):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_warns_when_production_runs_with_debug(production_env):
    production_env["CG_DEBUG"] = "1"
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert result.returncode != 0
    assert "security.W018" in result.stderr
