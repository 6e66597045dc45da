"""Queries the live pages run on every poll, compiled to SQL once per thread.

Building a queryset and compiling it cost Django more than the database takes to run these small queries
(0.05 to 0.2 ms each, several on every poll of every open board). A query whose SQL never changes -- no clock
reading or other per-poll value in it -- is compiled here once per thread: each thread has its own database
connection, and a compiler runs on the connection it was made with. Each run sends that SQL and gives back
the rows as the database returns them, with the compiler that converts them as the queryset would have.
"""

import threading

from django.db import connections

_compiled = threading.local()


def fetch(build) -> tuple[list[tuple], object]:
    """The rows of the query `build()` makes, unconverted (convert() them), and its compiler. The query is
    built and compiled the first time this thread runs it: `build` must make the same SQL every time."""
    known = _compiled.__dict__.setdefault("queries", {})
    entry = known.get(build)
    if entry is None or entry[0].connection is not connections[entry[0].using]:
        queryset = build()
        compiler = queryset.query.get_compiler(queryset.db)
        entry = known[build] = (compiler, *compiler.as_sql())
    compiler, sql, params = entry
    with compiler.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall(), compiler


def convert(rows: list[tuple], compiler) -> list[tuple]:
    """Django's own conversions of `rows` from fetch() (a date made time-zone aware, JSON decoded...), as
    values_list() applies them."""
    return list(compiler.results_iter(results=[rows], tuple_expected=True)) if rows else []


def rows(build) -> list[tuple]:
    """The rows of the query `build()` makes, converted (fetch() says when it is compiled)."""
    return convert(*fetch(build))
