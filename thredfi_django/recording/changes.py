"""Recording a change: the sync-state row of every synced object, written in the host's
transaction.

A synced object's *save* does not write here: it leaves a change marker on its own row
(``thredfi_dirty``, set by the mixin's ``save()`` in the same statement), and the engine moves
markers into this table in bulk (``engine.absorb`` → :func:`record_many`). A line's save marks
its parent's row the same way (:func:`mark_parent_dirty`, one UPDATE per parent and
transaction). A *delete* has no row left to mark, so :func:`mark_dirty` records it here, in the
host's own transaction. Either way a change is recorded exactly when it commits: no lost change
if the process dies after commit, no phantom push if the transaction rolls back.

``queryset.update()`` and ``bulk_create()`` send no signals and set no marker; call
:func:`mark_dirty_many` with the affected objects afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction
from django.db.models import Case, F, Model, Q, QuerySet, Value, When
from django.utils import timezone

from ..conf import thredfi_settings
from ..mixins.base import new_dirty_token
from ..models import SyncOperation, SyncState, SyncStatus, state_db_for
from ..sql import features
from .after_commit import schedule_drain, schedule_enqueue, transaction_changes


def _prep(name: str, value: Any, connection) -> Any:
    return _field(name).get_db_prep_save(value, connection)


@cache
def _field(name: str):
    return SyncState._meta.get_field(name)


def label_of(instance: Model) -> str:
    """The object's label as the sync-state row keeps it (a failing ``__str__`` never breaks
    the save)."""
    try:
        return str(instance)[:200]
    except Exception:  # a host __str__ that fails must never break the save
        return f"{instance._meta.label} {instance.pk}"[:200]


def _business_key(instance: Model) -> tuple[int, str] | None:
    """(content type id, pk) of the business the instance belongs to, without a query."""
    getter = getattr(instance, "get_thredfi_business_key", None)
    return getter() if getter else None


# --------------------------------------------------------------------------------------------
# Recording a change
# --------------------------------------------------------------------------------------------


def mark_dirty(
    instance: Model, operation: str = SyncOperation.UPSERT, *, schedule: bool = True
) -> SyncState:
    """Record that ``instance`` changed (or was deleted) and schedule its push after commit.

    Creates the object's SyncState row or bumps its version, in the caller's transaction.
    A failed or needs-attention row goes back to pending (a new save may have fixed it); a row
    being pushed right now stays in progress and is pushed once more when that push ends.
    Returns the row with ``id``, ``version``, ``status`` and ``operation`` loaded.
    ``schedule=False`` records without enqueueing (the engine, syncing a dependency inline).
    """
    using = state_db_for(type(instance))
    connection = connections[using]
    content_type = ContentType.objects.db_manager(using).get_for_model(instance)
    object_id = str(instance.pk)
    values = _values(instance, operation)
    business_key = _business_key(instance)
    if features(connection).returning:
        state, became_pending = _upsert_sql(
            connection, content_type.pk, object_id, values, business_key
        )
    else:
        state, became_pending = _upsert_orm(using, content_type, object_id, values, business_key)
    if schedule:
        key = (instance._meta.label_lower, object_id)
        schedule_enqueue(using, state.pk, key, publish=became_pending)
    return state


def _values(instance: Model, operation: str) -> dict[str, Any]:
    """What a change of ``instance`` writes into its row, besides the bookkeeping."""
    return {
        "resource": getattr(instance, "thredfi_resource", "") or "",
        "external_id": instance.get_thredfi_external_id(),
        "remote_id": getattr(instance, "thredfi_id", None),
        "label": label_of(instance),
        "operation": str(operation),
    }


def record_many(objects: list[Model]) -> list[tuple[int, bool]]:
    """Record that ``objects`` (of one model) changed, as ``mark_dirty(obj, schedule=False)``
    would for each, but in one ``INSERT … VALUES (…), (…) … ON CONFLICT … RETURNING`` statement
    (per RECORD_CHUNK rows, ≤ 11 parameters each) where the database has it: the engine's
    path, once for every saved object. Returns (state id, whether it just became pending) per
    object, in order. Runs in the caller's transaction; schedules nothing."""
    if not objects:
        return []
    using = state_db_for(type(objects[0]))
    connection = connections[using]
    if not features(connection).returning:
        return [_upsert_one_orm(using, obj) for obj in objects]
    chunk = int(thredfi_settings.RECORD_CHUNK)
    content_type = ContentType.objects.db_manager(using).get_for_model(objects[0])
    table = connection.ops.quote_name(SyncState._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    found: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(objects), chunk):
        tuples, params = [], []
        for obj in objects[start : start + chunk]:
            business_key = _business_key(obj)
            tuples.append(_values_sql(table, business_key is not None))
            values = _values(obj, SyncOperation.UPSERT)
            params += _row_params(
                connection, content_type.pk, str(obj.pk), values, business_key, now
            )
        # Only quoted identifiers from _meta are interpolated; every value is a bound parameter.
        sql = (
            f"INSERT INTO {table} ({_INSERT_COLUMNS}) VALUES {', '.join(tuples)}"  # noqa: S608
            f"{_on_conflict_sql(table)} RETURNING object_id, id, updated_at"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for object_id, state_id, updated_at in cursor.fetchall():
                found[object_id] = (state_id, _same_instant(updated_at, now))
    return [found[str(obj.pk)] for obj in objects]


def _upsert_one_orm(using: str, instance: Model) -> tuple[int, bool]:
    content_type = ContentType.objects.db_manager(using).get_for_model(instance)
    values = _values(instance, SyncOperation.UPSERT)
    state, became_pending = _upsert_orm(
        using, content_type, str(instance.pk), values, _business_key(instance)
    )
    return state.pk, became_pending


def mark_dirty_by_pk(model: type[Model], pk: Any) -> bool:
    """Mark an object changed by primary key, without loading it: set its change marker (one
    UPDATE of the host row), and have a drain look after commit.

    Used by line items to mark their parent: once per parent and transaction (fifty lines of
    one invoice are one UPDATE), since one marker is all the drain needs to see. Returns
    whether the object is marked (False: no such row).
    """
    if pk is None:
        return False
    using = router.db_for_write(model) or "default"
    connection = connections[using]
    key = (model._meta.label_lower, str(pk))
    if connection.in_atomic_block:
        changes = transaction_changes(using)
        if changes is not None and changes.already_marked(key, connection.savepoint_ids):
            return True
    marked = model._base_manager.using(using).filter(pk=pk).update(thredfi_dirty=new_dirty_token())
    if marked:
        schedule_drain(using, key)
    return bool(marked)


def mark_dirty_many(objects: Iterable[Model] | QuerySet) -> list[int]:
    """Record changes made behind the signals' back (``queryset.update()``, ``bulk_create()``).

    Call it after such a bulk write, in the same transaction, with the affected objects::

        with transaction.atomic():
            Invoice.objects.filter(customer=c).update(memo="…")
            mark_dirty_many(Invoice.objects.filter(customer=c))
    """
    return [mark_dirty(obj).pk for obj in objects]


def _reopen_sql(t: str = "", now: str = "%s") -> str:
    """SET clauses for a row a new save reopens: failed/attention/blocked/resolved/synced become
    pending, a row being pushed stays in progress (it is pushed once more when that push ends),
    a row waiting out a backoff keeps its schedule. ``updated_at`` changes only when the row
    becomes pending, so it reads "pending since" — what the sweep measures staleness by, and
    how the caller learns whether a task must be published (a pending or in-progress row
    already has one coming). ``t`` qualifies columns (``"table".``); ``now`` is the SQL for
    the current time. Every right-hand side sees the row as it was before the update."""
    waiting = f"{t}status IN ('pending', 'in_progress')"
    return (
        f"status = CASE WHEN {t}status = 'in_progress' THEN {t}status ELSE 'pending' END, "
        f"attempts = CASE WHEN {waiting} THEN {t}attempts ELSE 0 END, "
        f"next_attempt_at = CASE WHEN {waiting} THEN {t}next_attempt_at ELSE NULL END, "
        f"blocked_on_id = CASE WHEN {t}status = 'blocked' THEN NULL ELSE {t}blocked_on_id END, "
        f"updated_at = CASE WHEN {waiting} THEN {t}updated_at ELSE {now} END"
    )


#: The columns of a new row, and the SQL of one VALUES tuple (business: its lookup or NULL).
_INSERT_COLUMNS = (
    "content_type_id, object_id, resource, business_id, external_id, remote_id, status, "
    "operation, version, synced_version, attempts, lease_owner, last_error_kind, "
    "last_error_code, last_error_message, last_error_fields, label, created_at, updated_at"
)


def _values_sql(table: str, with_business: bool) -> str:
    business_sql = (
        f"(SELECT b.id FROM {table} b WHERE b.content_type_id = %s AND b.object_id = %s)"  # noqa: S608
        if with_business
        else "NULL"
    )
    return (
        f"(%s, %s, %s, {business_sql}, %s, %s, 'pending', "
        "%s, 1, 0, 0, '', '', '', '', '{}', %s, %s, %s)"
    )


def _on_conflict_sql(table: str) -> str:
    """What a new save does to an existing row: version + 1, reopened (see _reopen_sql)."""
    reopen = _reopen_sql(f"{table}.", "excluded.updated_at")
    return f"""
        ON CONFLICT (content_type_id, object_id) DO UPDATE SET
            version = {table}.version + 1,
            lane = 0,
            operation = excluded.operation,
            label = excluded.label,
            external_id = excluded.external_id,
            business_id = COALESCE({table}.business_id, excluded.business_id),
            remote_id = COALESCE({table}.remote_id, excluded.remote_id),
            {reopen}
    """


@lru_cache(maxsize=32)
def _upsert_statement(vendor: str, table: str, with_business: bool) -> str:
    """The INSERT … ON CONFLICT … RETURNING text (built once per database and shape)."""
    # Only quoted identifiers from _meta are interpolated; every value is a bound parameter.
    return (
        f"INSERT INTO {table} ({_INSERT_COLUMNS}) VALUES {_values_sql(table, with_business)}"  # noqa: S608
        f"{_on_conflict_sql(table)} RETURNING id, version, status, operation, updated_at"
    )


def _same_instant(returned: Any, sent: Any) -> bool:
    """Did the row keep the timestamp we just sent? (SQLite hands a string parameter back as a
    naive datetime; PostgreSQL returns what it was given.)"""
    if isinstance(sent, str) and not isinstance(returned, str):
        return str(returned) == sent
    return returned == sent


def _upsert_sql(
    connection, content_type_id, object_id, values, business_key
) -> tuple[SyncState, bool]:
    """Insert or bump the row; returns it and whether it just became pending (new row, or a
    synced/failed/... one reopened), i.e. whether a task must be published for it."""
    table = connection.ops.quote_name(SyncState._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = _upsert_statement(connection.vendor, table, business_key is not None)
    params = _row_params(connection, content_type_id, object_id, values, business_key, now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    state = SyncState.from_db(connection.alias, _RETURNED, list(row[:4]))
    return state, _same_instant(row[4], now)


_RETURNED = ["id", "version", "status", "operation"]


def _row_params(connection, content_type_id, object_id, values, business_key, now) -> list:
    """The bound parameters of one _values_sql() tuple."""
    remote_id = values["remote_id"]
    if remote_id is not None:
        remote_id = _prep("remote_id", remote_id, connection)
    params = [content_type_id, object_id, values["resource"]]
    if business_key is not None:
        params += [business_key[0], str(business_key[1])]
    params += [values["external_id"], remote_id, values["operation"], values["label"], now, now]
    return params


def _reopen(qs: QuerySet) -> None:
    """ORM form of _reopen_sql() (for databases without upsert … returning)."""

    def case(condition: Q, then, default, field: str) -> Case:
        return Case(When(condition, then=then), default=default, output_field=_field(field))

    reopened = ~Q(status__in=[SyncStatus.PENDING, SyncStatus.IN_PROGRESS])
    qs.update(
        version=F("version") + 1,
        updated_at=case(reopened, Value(timezone.now()), F("updated_at"), "updated_at"),
        status=case(
            Q(status=SyncStatus.IN_PROGRESS),
            Value(SyncStatus.IN_PROGRESS),
            Value(SyncStatus.PENDING),
            "status",
        ),
        attempts=case(reopened, Value(0), F("attempts"), "attempts"),
        next_attempt_at=case(reopened, Value(None), F("next_attempt_at"), "next_attempt_at"),
        blocked_on_id=case(
            Q(status=SyncStatus.BLOCKED), Value(None), F("blocked_on_id"), "blocked_on_id"
        ),
    )


def _upsert_orm(using, content_type, object_id, values, business_key) -> tuple[SyncState, bool]:
    business_id = None
    if business_key:
        business_id = (
            SyncState.objects.using(using)
            .filter(content_type_id=business_key[0], object_id=str(business_key[1]))
            .values_list("pk", flat=True)
            .first()
        )
    with transaction.atomic(using=using):
        state, created = SyncState.objects.using(using).get_or_create(
            content_type=content_type,
            object_id=object_id,
            defaults={**values, "business_id": business_id},
        )
        became_pending = created or state.status not in (
            SyncStatus.PENDING,
            SyncStatus.IN_PROGRESS,
        )
        if not created:
            qs = SyncState.objects.using(using).filter(pk=state.pk)
            _reopen(qs)
            extra = {"operation": values["operation"], "label": values["label"], "lane": 0}
            if state.remote_id is None and values["remote_id"]:
                extra["remote_id"] = values["remote_id"]
            if state.business_id is None and business_id:
                extra["business_id"] = business_id
            qs.update(**extra)
            state.refresh_from_db(fields=["version", "status", "operation"])
    return state, became_pending


def mark_parent_dirty(child: Model) -> bool:
    """A line item or allocation changed: mark its parent (invoice, bill, payment) dirty."""
    fk = child.get_thredfi_parent_field()
    return mark_dirty_by_pk(fk.related_model, getattr(child, fk.attname))
