"""Storing many new rows of one model in one statement."""

from django.db import DEFAULT_DB_ALIAS, connections


def insert_many(objects: list) -> None:
    """One executemany for `objects` (new instances of one model, primary keys left to the database): the
    ORM's bulk_create spends several times longer building its statement than the database spends storing
    the rows (values still go through each field's own conversion). Used where that matters: every beat
    stored, and the audit targets a Disarm all writes inside its transaction."""
    if not objects:
        return
    meta = objects[0]._meta
    db = connections[DEFAULT_DB_ALIAS]  # looked up once, not once per value
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    table = db.ops.quote_name(meta.db_table)
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    values = [[f.get_db_prep_save(getattr(obj, f.attname), db) for f in fields] for obj in objects]
    with db.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)  # noqa: S608
    for obj in objects:
        obj._state.adding = False
