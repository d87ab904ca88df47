"""Every statement the app writes by hand, and which database can run which (:func:`features`).

The ORM cannot say "update these 100 rows, each with values of its own", "claim rows and return
them" or "insert or bump, and tell me which": these helpers can, in one round trip. Each asks
:func:`features` once which form the connection takes, and each has a plain form that any
database Django supports runs with the same result:

- ``arrays`` (PostgreSQL): one array per column, ``unnest``-ed server-side. The text of the
  statement does not depend on the number of rows, so it is prepared and planned once.
- ``returning`` (PostgreSQL, SQLite >= 3.35): ``UPDATE``/``INSERT … RETURNING``.
- ``skip_locked`` (PostgreSQL, and what Django says of others): concurrent claims never wait
  on each other.

Only quoted identifiers from ``_meta`` and our own SQL are interpolated; every value is a bound
parameter. :func:`limited_to` lets a test run a story on a plainer path than its database
offers, so every branch runs in CI.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import BooleanField, F, Func, Min, Model, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.db.models.sql import UpdateQuery


@dataclass(frozen=True)
class Features:
    """What a connection can do beyond plain SQL (see the module docstring)."""

    returning: bool
    skip_locked: bool
    arrays: bool


PLAIN = Features(returning=False, skip_locked=False, arrays=False)
_limits: list[Features] = []


def features(connection: Any) -> Features:
    """The forms this connection takes: what it supports, less what a test turned off."""
    if connection.vendor == "postgresql":
        native = Features(returning=True, skip_locked=True, arrays=True)
    else:
        native = Features(
            returning=connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35),
            skip_locked=connection.features.has_select_for_update_skip_locked,
            arrays=False,
        )
    for limit in _limits:
        native = Features(
            returning=native.returning and limit.returning,
            skip_locked=native.skip_locked and limit.skip_locked,
            arrays=native.arrays and limit.arrays,
        )
    return native


@contextmanager
def limited_to(limit: Features) -> Iterator[None]:
    """Within the block, use only what ``limit`` allows (tests force each branch with it)."""
    _limits.append(limit)
    try:
        yield
    finally:
        _limits.remove(limit)


def _unnest(connection: Any, columns: list[tuple[str, Any]]) -> str:
    """``unnest(%s::type[], …) AS v(name, …)``; ``columns`` are (name, field giving the type)."""
    arrays = ", ".join(f"%s::{field.rel_db_type(connection)}[]" for _name, field in columns)
    return f"unnest({arrays}) AS v({', '.join(name for name, _field in columns)})"


def update_rows(
    connection: Any,
    table: str,
    *,
    set_sql: str,
    columns: list[tuple[str, Any]],
    match: list[tuple[str, str]],
    rows: list[tuple],
    returning: str | None = None,
) -> list[tuple] | None:
    """Update many rows of ``table``, each with values of its own.

    ``rows`` are tuples of ``columns`` (a name, and the model field that prepares the value); a
    row is matched where each ``(table column, name)`` of ``match`` is equal; ``set_sql`` reads
    the row's values as ``v.<name>`` and the table's columns as ``t.<quoted column>``.
    With arrays, ``returning`` (SQL over ``t.``) is returned for each row updated; elsewhere
    None (executemany returns no rows: the caller reads what it needs afterwards).
    """
    if not rows:
        return [] if returning else None
    qn = connection.ops.quote_name
    names = [name for name, _field in columns]
    prepared = [
        [field.get_db_prep_save(row[position], connection) for row in rows]
        for position, (_name, field) in enumerate(columns)
    ]
    can = features(connection)
    if can.arrays:
        where = " AND ".join(f"t.{qn(column)} = v.{name}" for column, name in match)
        sql = (
            f"UPDATE {qn(table)} AS t SET {set_sql} "  # noqa: S608
            f"FROM {_unnest(connection, columns)} WHERE {where}"
        )
        if returning and can.returning:
            sql += f" RETURNING {returning}"
        with connection.cursor() as cursor:
            cursor.execute(sql, prepared)
            return cursor.fetchall() if returning else None
    order: list[int] = []
    # PostgreSQL types a NULL parameter inside a CASE as text: say what each value is.
    typed = connection.vendor == "postgresql"

    def placeholder(found: re.Match) -> str:
        position = names.index(found.group(1))
        order.append(position)
        return f"%s::{columns[position][1].rel_db_type(connection)}" if typed else "%s"

    # Without an alias (not every database takes one in UPDATE): t.<col> is the column itself.
    row_sql = re.sub(r"\bt\.", "", re.sub(r"\bv\.(\w+)\b", placeholder, set_sql))
    where = " AND ".join(f"{qn(column)} = %s" for column, _name in match)
    order += [names.index(name) for _column, name in match]
    params = [[prepared[c][r] for c in order] for r in range(len(rows))]
    sql = f"UPDATE {qn(table)} SET {row_sql} WHERE {where}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)  # one round trip where the driver pipelines it
    return None


def insert_rows(
    template: Model,
    attnames: list[str],
    rows: list[tuple],
    *,
    using: str,
    ignore_conflicts: bool = False,
) -> None:
    """Insert one row per tuple: a copy of ``template`` (an unsaved instance) with the fields
    named by ``attnames`` set from the tuple, as ``bulk_create`` of those copies would write
    them (defaults, ``auto_now``, ``ignore_conflicts``). With arrays only the fields that vary
    are prepared per row."""
    if not rows:
        return
    model = type(template)
    connection = connections[using]
    if not features(connection).arrays:
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
        f"SELECT {selected} FROM {_unnest(connection, varying)}"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constant_values, *arrays])


def update_returning_sql(
    queryset: QuerySet,
    values: dict[str, Any],
    *,
    among: tuple[str, list] | None = None,
    extra_returning: list[str] = (),
) -> tuple[str, list]:
    """``queryset.update(**values)`` that returns the updated rows (every concrete column, then
    ``extra_returning``), for :func:`returned`. Needs ``features().returning``.

    ``among``: (SQL of a subquery of ids, its params) the rows must also be in. On PostgreSQL
    it is ``= ANY(ARRAY(…))``, which runs the subquery exactly once: an ``IN (…)`` may be re-run
    by the planner, and with SKIP LOCKED each run picks other rows."""
    model = queryset.model
    connection = connections[queryset.db]
    update = queryset.query.chain(UpdateQuery)
    update.add_update_values(values)
    sql, params = update.get_compiler(queryset.db).as_sql()
    params = list(params)
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    pk_column = f"{table}.{qn(model._meta.pk.column)}"
    if among is not None:
        if connection.vendor == "postgresql":
            sql += f" AND {pk_column} = ANY(ARRAY({among[0]}))"
        else:
            sql += f" AND {pk_column} IN ({among[0]})"
        params += list(among[1])
    returning = [f"{table}.{qn(f.column)}" for f in model._meta.concrete_fields]
    return f"{sql} RETURNING {', '.join(returning + list(extra_returning))}", params


def returned(model: type[Model], using: str, statement: tuple[str, list]) -> list[Model]:
    """Run :func:`update_returning_sql`'s statement; the rows as model instances, each with
    ``extra``: the values of its ``extra_returning``."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        found = cursor.fetchall()
    fields = model._meta.concrete_fields
    converters = [_converters(field, connection) for field in fields]  # once, not per row
    attnames = [f.attname for f in fields]
    instances = []
    for row in found:
        values_ = list(row[: len(fields)])
        for index, (col, functions) in enumerate(converters):
            for converter in functions:
                values_[index] = converter(values_[index], col, connection)
        instance = model.from_db(using, attnames, values_)
        instance.extra = row[len(fields) :]
        instances.append(instance)
    return instances


def _converters(field: Any, connection: Any) -> tuple[Any, list]:
    """What turns a RETURNING value of ``field`` into what the ORM would have loaded (SQLite
    datetimes, UUIDs, JSON): (the column, its converter functions)."""
    col = field.cached_col
    return col, connection.ops.get_db_converters(col) + field.get_db_converters(connection)


def subquery_sql(queryset: QuerySet, *, skip_locked: bool = False) -> tuple[str, tuple]:
    """The SQL of ``queryset`` to use as :func:`update_returning_sql`'s ``among``; with
    ``skip_locked`` (where the database has it) rows another transaction holds are skipped."""
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    if skip_locked and features(connections[queryset.db]).skip_locked:
        sql += " FOR UPDATE SKIP LOCKED"
    return sql, params


class RowAfter(Func):
    """``(a, b) > (x, y)``: a row comparison, which an index on (a, b) answers as one range."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        compiled = [compiler.compile(e) for e in self.get_source_expressions()]
        (a, b, x, y), params = zip(*compiled, strict=True)
        return f"({a}, {b}) > ({x}, {y})", [p for ps in params for p in ps]


def group_heads(
    scan: QuerySet, rows: QuerySet, order: str, group: str, limit: int
) -> tuple[str, list]:
    """The SQL of the (``order``, ``group``) pairs that ``rows`` holds (``group`` is an
    annotation of both querysets), by ``order`` then each pair's first row (lowest pk); at most
    ``limit``. Each row of its result starts with the pair.

    With arrays (PostgreSQL) a skip scan finds the pairs: each step reads the next pair of
    ``scan`` (a superset of ``rows`` that an index on (order, group, pk) holds), so the cost
    follows the number of pairs, not of rows. Elsewhere, a GROUP BY of ``rows``."""
    connection = connections[rows.db]
    if not features(connection).arrays:
        heads = rows.values(order, group).annotate(first=Min("pk")).order_by(order, "first")
        sql, params = heads[:limit].query.get_compiler(rows.db).as_sql()
        return sql, list(params)
    here = [RawSQL("g.a", ()), RawSQL("g.b", ())]
    start = scan.order_by(order, group).values(order, group)[:1]
    step = scan.filter(RowAfter(F(order), F(group), *here)).order_by(order, group)
    step = step.values(order, group)[:1]
    first = rows.filter(**{order: here[0], group: here[1]}).order_by("pk").values("pk")[:1]
    (start_sql, start_params), (step_sql, step_params), (first_sql, first_params) = (
        q.query.get_compiler(rows.db).as_sql() for q in (start, step, first)
    )
    sql = (
        f"WITH RECURSIVE g(a, b) AS (({start_sql}) UNION ALL "  # noqa: S608
        f"SELECT n.* FROM g CROSS JOIN LATERAL ({step_sql}) n) "
        f"SELECT g.a, g.b FROM g CROSS JOIN LATERAL ({first_sql}) AS f(pk) "
        "ORDER BY g.a, f.pk LIMIT %s"
    )
    return sql, [*start_params, *step_params, *first_params, limit]


def take_turns(rows: QuerySet, group: str, groups: list, per: int, limit: int) -> tuple[str, list]:
    """The SQL of the pks of up to ``limit`` rows of ``rows``, taken in turns over ``groups``
    (values of the annotation ``group``, in that order): each group's first row (lowest pk),
    then each one's second, and so on, at most ``per`` of each. For :func:`update_returning_sql`'s
    ``among``.

    With arrays and skip_locked (PostgreSQL), each group's rows are taken ``FOR UPDATE SKIP
    LOCKED`` in a ``LATERAL`` subquery (a window function cannot share a level with ``FOR
    UPDATE``), so concurrent claims take different rows. Elsewhere one query numbers each
    group's rows with a window function; a group's place is its first row, as in ``groups``."""
    connection = connections[rows.db]
    can = features(connection)
    if not (can.arrays and can.skip_locked):
        by_group = {"partition_by": [F(group)]}
        turns = rows.filter(**{f"{group}__in": groups}).annotate(
            turn=Window(RowNumber(), order_by=F("pk").asc(), **by_group),
            place=Window(Min("pk"), **by_group),
        )
        turns = turns.filter(turn__lte=per).order_by("turn", "place").values("pk")[:limit]
        return subquery_sql(turns)
    pk_type = rows.model._meta.pk.rel_db_type(connection)
    own = rows.filter(**{group: RawSQL("o.g", ())}).order_by("pk").values("pk")
    own_sql, own_params = own.query.get_compiler(rows.db).as_sql()
    own_sql += " LIMIT %s FOR UPDATE SKIP LOCKED"  # a parameter: one text for every share
    sql = (
        f"SELECT r.pk FROM unnest(%s::{pk_type}[]) WITH ORDINALITY AS o(g, place) "  # noqa: S608
        f"CROSS JOIN LATERAL ({own_sql}) AS r(pk) "
        "ORDER BY row_number() OVER (PARTITION BY o.g ORDER BY r.pk), o.place LIMIT %s"
    )
    return sql, [list(groups), *own_params, per, limit]


def estimated_count(queryset: QuerySet) -> int | None:
    """The planner's estimate of how many rows ``queryset`` matches (PostgreSQL: one
    ``EXPLAIN``, read from the table's statistics, whatever the table's size), or None where
    the database gives no such estimate and only counting tells."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)  # psycopg 2 hands it back as text
    return int(plan[0]["Plan"]["Plan Rows"])
