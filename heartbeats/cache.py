"""Django's database cache, healing a connection the database dropped (restart, fail-over, terminated
backend): the connection is replaced and the call tried once more.

django-q2's sentinel writes the cluster's status through this cache every half second and otherwise keeps a
dead connection until its scheduler's next pass, half a minute later, logging an error on every write.
"""

from django.core.cache.backends.db import DatabaseCache
from django.db import Error, connections, router


def _healing(name: str, write: bool):
    def method(self, *args, **kwargs):
        call = getattr(DatabaseCache, name)
        try:
            return call(self, *args, **kwargs)
        except Error:
            route = router.db_for_write if write else router.db_for_read
            connection = connections[route(self.cache_model_class)]
            if connection.in_atomic_block:
                raise  # the caller's transaction is lost with it: theirs to handle
            connection.close()
            return call(self, *args, **kwargs)

    method.__name__ = name
    return method


class HealingDatabaseCache(DatabaseCache):
    get_many = _healing("get_many", write=False)
    has_key = _healing("has_key", write=False)
    _base_set = _healing("_base_set", write=True)
    _base_delete_many = _healing("_base_delete_many", write=True)
    clear = _healing("clear", write=True)
