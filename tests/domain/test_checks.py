"""System checks: each stable ID fires on the configuration it guards against, and only then."""

import pytest

from heartbeats import checks
from heartbeats.models import AlertChannel, AuthenticatorApp

from .conftest import make_account, make_policy


def ids(messages):
    return sorted(m.id for m in messages)


ALL = [
    checks.check_encryption_keys,
    checks.check_debug,
    checks.check_policy_timing,
    checks.check_sqlite_in_production,
    checks.check_secrets_decrypt,
    checks.check_queue,
    checks.check_shared_cache,
]


@pytest.mark.django_db
def test_it_passes_the_shipped_configuration():
    make_policy(make_account())
    assert [m for check in ALL for m in check(databases=["default"])] == []


def test_it_registers_every_check():
    from django.core.checks import registry

    registered = registry.registry.get_checks(include_deployment_checks=True)
    assert set(ALL) <= set(registered)


def test_it_reports_a_missing_or_undecodable_encryption_key(settings):
    settings.ENCRYPTION_KEYS = []
    assert ids(checks.check_encryption_keys()) == ["countdown_guard.E001"]
    settings.ENCRYPTION_KEYS = ["short"]
    assert ids(checks.check_encryption_keys()) == ["countdown_guard.E001"]


def test_it_warns_about_debug_outside_the_embedded_setup(settings):
    settings.DEBUG, settings.DEV = True, False
    assert ids(checks.check_debug()) == ["countdown_guard.W002"]
    settings.DEV = True
    assert checks.check_debug() == []


@pytest.mark.django_db
def test_it_warns_about_stored_policies_with_a_tight_countdown():
    account = make_account()
    make_policy(account, "BTCUSDT", countdown_ms=120_000, interval_s=30)
    tight = make_policy(account, "ETHUSDT", countdown_ms=20_000, interval_s=10)
    found = checks.check_policy_timing(databases=["default"])
    assert ids(found) == ["countdown_guard.W003"]
    assert found[0].obj == tight
    assert "Raise the countdown to 32000 ms" in found[0].msg
    assert checks.check_policy_timing(databases=None) == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_it_warns_about_sqlite_outside_the_embedded_setup(settings):
    # The check reads only the engine name, so the suite can run this on PostgreSQL too.
    default = {**settings.DATABASES["default"], "ENGINE": "django.db.backends.sqlite3"}
    settings.DATABASES = {**settings.DATABASES, "default": default}
    settings.DEV = False
    assert ids(checks.check_sqlite_in_production()) == ["countdown_guard.W004"]
    settings.DEV = True
    assert checks.check_sqlite_in_production() == []


@pytest.mark.django_db
def test_it_reports_secrets_that_the_configured_keys_cannot_open(settings, key_a, key_b):
    settings.ENCRYPTION_KEYS = [key_a]
    account = make_account("locked-out")
    assert checks.check_secrets_decrypt(databases=["default"]) == []
    settings.ENCRYPTION_KEYS = [key_b]
    found = checks.check_secrets_decrypt(databases=["default"])
    assert ids(found) == ["countdown_guard.E005"]
    assert "locked-out" in found[0].msg
    assert account.secret not in found[0].msg


@pytest.mark.django_db
def test_it_reports_second_factor_keys_and_channel_urls_too(settings, key_a, key_b, django_user_model):
    settings.ENCRYPTION_KEYS = [key_a]
    AuthenticatorApp.objects.create(user=django_user_model.objects.create_user("olga"), name="phone")
    AlertChannel.objects.create(name="pager", url="json://hooks.example.com/x")
    settings.ENCRYPTION_KEYS = [key_b]
    (found,) = checks.check_secrets_decrypt(databases=["default"])
    assert found.id == "countdown_guard.E005" and found.msg.startswith("2 stored secret(s)")
    assert "authenticator app phone (olga)" in found.msg and "alert channel pager" in found.msg


def test_it_refuses_a_worker_that_would_run_schedules(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "scheduler": True}
    assert ids(checks.check_queue()) == ["countdown_guard.E006"]
    settings.Q_CLUSTER = {k: v for k, v in settings.Q_CLUSTER.items() if k != "scheduler"}
    assert ids(checks.check_queue()) == ["countdown_guard.E006"], "django-q2's default is on"


def test_it_warns_when_the_queue_would_retry_on_its_own(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "max_attempts": 0}
    assert ids(checks.check_queue()) == ["countdown_guard.W007"]


def test_it_warns_about_a_cache_private_to_each_process(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert ids(checks.check_shared_cache()) == ["countdown_guard.W008"]


def test_it_refuses_an_engine_that_would_arm_from_memory_after_the_web_took_over(settings):
    from heartbeats.checks import check_deaf_engine_bound

    assert check_deaf_engine_bound() == []
    settings.ENGINE_DESIRED_STALE_AFTER = 5.0
    assert [e.id for e in check_deaf_engine_bound()] == ["countdown_guard.E009"]
