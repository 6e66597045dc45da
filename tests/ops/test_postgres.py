"""CI runs the database-dependent areas a second time on PostgreSQL: make sure that run really uses it."""

import os

import dj_database_url
import pytest
from django.db import connection

TEST_DATABASE_URL = os.environ.get("CG_TEST_DATABASE_URL")


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL, reason="CG_TEST_DATABASE_URL is not set")
@pytest.mark.django_db
def test_it_runs_on_the_database_named_by_cg_test_database_url():
    wanted = dj_database_url.parse(TEST_DATABASE_URL)
    assert connection.settings_dict["ENGINE"] == wanted["ENGINE"]
    assert connection.settings_dict["HOST"] == wanted["HOST"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version_num')::int")
            assert cursor.fetchone()[0] >= 130000
