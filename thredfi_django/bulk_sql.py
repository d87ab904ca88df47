"""Writing many rows in one statement, each row with values of its own.

Django's ``bulk_update`` builds a CASE per column and ``bulk_create`` prepares every field of
every object; on the engine's hot paths (a drain's wave, ``thredfi_sync`` over 100,000 objects)
that per-row Python is most of the cost. On PostgreSQL these helpers send one array per column
that varies and unnest them server-side::

    UPDATE t SET … FROM unnest(%s::bigint[], %s::uuid[]) AS v(id, remote_id) WHERE t.id = v.id
    INSERT INTO t (…) SELECT %s, %s, v.a, v.b FROM unnest(%s::text[], %s::text[]) AS v(a, b)

The text of such a statement does not depend on the number of rows, so psycopg prepares it once
and the server plans it once. Elsewhere (SQLite, …) they fall back to ``executemany`` and
``bulk_create``, with the same result. Only quoted identifiers from ``_meta`` and our own SQL
are ever interpolated; every value is a bound parameter.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from django.db import connections
from django.db.models import Model


def unnest(connection, columns: list[tuple[str, Any]]) -> str:
    """``unnest(%s::type[], …) AS v(name, …)``: PostgreSQL rows from one array per column;
    ``columns`` are (name, model field giving the type)."""
    arrays = ", ".join(f"%s::{field.rel_db_type(connection)}[]" for _name, field in columns)
    return f"unnest({arrays}) AS v({', '.join(name for name, _field in columns)})"


def update_rows(
    connection,
    table: str,
    *,
    set_sql: str,
    columns: list[tuple[str, Any]],
    match: list[tuple[str, str]],
    rows: list[tuple],
    returning: str | None = None,
) -> set | None:
    """Update many rows of ``table``, each with values of its own. ``rows`` are tuples of
    ``columns`` (a name, and the model field that prepares the value); a row is matched where
    each ``(table column, name)`` of ``match`` is equal; ``set_sql`` reads the row's values as
    ``v.<name>`` and the table's columns as ``t.<quoted column>``.

    PostgreSQL: one ``UPDATE … FROM unnest(…)``; elsewhere one UPDATE per row through
    ``executemany``. Returns the ``returning`` column's values of the rows updated, or None
    where they are not known: elsewhere they are known only when every row matched and
    ``returning`` is one of the ``match`` columns.
    """
    qn = connection.ops.quote_name
    names = [name for name, _field in columns]
    prepared = [
        [field.get_db_prep_save(row[position], connection) for row in rows]
        for position, (_name, field) in enumerate(columns)
    ]
    if connection.vendor == "postgresql":
        where = " AND ".join(f"t.{qn(column)} = v.{name}" for column, name in match)
        sql = (
            f"UPDATE {qn(table)} AS t SET {set_sql} "  # noqa: S608
            f"FROM {unnest(connection, columns)} WHERE {where}"
        )
        if returning:
            sql += f" RETURNING t.{qn(returning)}"
        with connection.cursor() as cursor:
            cursor.execute(sql, prepared)
            return {row[0] for row in cursor.fetchall()} if returning else None
    order: list[int] = []

    def placeholder(found: re.Match) -> str:
        order.append(names.index(found.group(1)))
        return "%s"

    row_sql = re.sub(r"\bt\.", "", re.sub(r"\bv\.(\w+)\b", placeholder, set_sql))
    where = " AND ".join(f"{qn(column)} = %s" for column, _name in match)
    order += [names.index(name) for _column, name in match]
    sql = f"UPDATE {qn(table)} SET {row_sql} WHERE {where}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[prepared[c][r] for c in order] for r in range(len(rows))])
        updated = cursor.rowcount
    matched = dict(match).get(returning) if returning else None
    if matched is None or updated != len(rows):
        return None
    return {row[names.index(matched)] for row in rows}


def insert_rows(
    template: Model,
    attnames: list[str],
    rows: list[tuple],
    *,
    using: str,
    ignore_conflicts: bool = False,
) -> None:
    """Insert one row per tuple of ``rows``: a copy of ``template`` (an unsaved instance) with
    the fields named by ``attnames`` set from the tuple. What ``bulk_create`` of those copies
    writes (defaults, ``auto_now``), with ``ignore_conflicts`` as there.

    PostgreSQL: one ``INSERT … SELECT <template's values>, v.* FROM unnest(…)``, which
    prepares only the fields that vary; elsewhere ``bulk_create``.
    """
    model = type(template)
    connection = connections[using]
    if connection.vendor != "postgresql":
        objects = []
        for row in rows:
            obj = copy.copy(template)
            for attname, value in zip(attnames, row, strict=True):
                setattr(obj, attname, value)
            objects.append(obj)
        model._base_manager.using(using).bulk_create(objects, ignore_conflicts=ignore_conflicts)
        return
    fields = {f.attname: f for f in model._meta.concrete_fields}
    varying = [(attname, fields[attname]) for attname in attnames]
    constant = [
        field
        for field in model._meta.concrete_fields
        if field.attname not in attnames and not field.primary_key
    ]
    template = copy.copy(template)
    constant_values = [
        field.get_db_prep_save(field.pre_save(template, True), connection) for field in constant
    ]
    arrays = [
        [field.get_db_prep_save(row[position], connection) for row in rows]
        for position, (_attname, field) in enumerate(varying)
    ]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in constant + [field for _a, field in varying])
    selected = ", ".join(
        [f"%s::{field.rel_db_type(connection)}" for field in constant]
        + [f"v.{attname}" for attname, _field in varying]
    )
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT {selected} FROM {unnest(connection, varying)}"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constant_values, *arrays])
