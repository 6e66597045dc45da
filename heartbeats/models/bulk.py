"""Statements the guard runs many times a second or for many rows at once, built once and reused.

Building a statement through the ORM (model metadata, expressions, quoting) costs several times longer than
the database takes to run one of these small ones: an engine renews its lease and writes its liveness record
every second, and a desk of processes renews its duties' leases every few seconds. Values still go through
each field's own conversion, so what is stored is what the ORM would have stored, on either database.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connections


def insert_many(objects: list, *, ignore_conflicts: bool = False) -> None:
    """One executemany for `objects` (new instances of one model, primary keys left to the database): every
    beat stored, and the audit targets a Disarm all writes inside its transaction. `ignore_conflicts`: rows
    that would break a unique constraint are left out (ON CONFLICT DO NOTHING, on SQLite and PostgreSQL)."""
    if not objects:
        return
    meta = objects[0]._meta
    db = connections[DEFAULT_DB_ALIAS]  # looked up once, not once per value
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    table = db.ops.quote_name(meta.db_table)
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    values = [[f.get_db_prep_save(getattr(obj, f.attname), db) for f in fields] for obj in objects]
    unless = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with db.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}){unless}", values)  # noqa: S608
    for obj in objects:
        obj._state.adding = False


@functools.cache
def _update_statement(model, names: tuple[str, ...], vendor: str) -> tuple[str, list]:
    ops = connections[DEFAULT_DB_ALIAS].ops
    fields = [model._meta.get_field(n) for n in names]
    assignments = ", ".join(f"{ops.quote_name(f.column)} = %s" for f in fields)
    pk = ops.quote_name(model._meta.pk.column)
    return f"UPDATE {ops.quote_name(model._meta.db_table)} SET {assignments} WHERE {pk} = %s", fields  # noqa: S608


def update_row(model, pk, **values) -> int:
    """`model.objects.filter(pk=pk).update(**values)` (plain values, no expressions) through a statement
    built once per model and set of fields. Returns how many rows it changed (0 or 1)."""
    db = connections[DEFAULT_DB_ALIAS]
    statement, fields = _update_statement(model, tuple(values), db.vendor)
    params = [f.get_db_prep_save(v, db) for f, v in zip(fields, values.values(), strict=True)]
    params.append(model._meta.pk.get_db_prep_value(pk, db))
    with db.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount
