"""The shared cache (django-q2's cluster status, symbol lists) survives a connection the database dropped."""

import pytest
from django.core.cache import cache
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_replaces_a_dropped_connection_and_keeps_working():
    cache.set("before", 1)
    connection.connection.close()  # the database went away underneath Django
    cache.set("after", 2)
    assert cache.get_many(["before", "after"]) == {"before": 1, "after": 2}
    connection.connection.close()
    assert cache.get("after") == 2
    connection.connection.close()
    cache.delete("after")
    assert not cache.has_key("after")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend")
def test_it_survives_its_backend_being_terminated():
    cache.set("k", "v")
    with connection.cursor() as cursor:
        pid = cursor.connection.info.backend_pid
    from django.db import connections

    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    other.close()
    assert cache.get("k") == "v"
