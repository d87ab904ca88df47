"""The outbox: the sync-state row of every synced object, and how changes get into it.

A synced object's *save* does not write here: it leaves a change marker on its own row
(``thredfi_dirty``, set by the mixin's ``save()`` in the same statement), and the drain moves
markers into this table in bulk (``inbox.absorb`` → :func:`record_many`). A line's save marks
its parent's row the same way (:func:`mark_parent_dirty`, one UPDATE per parent and
transaction). A *delete* has no row left to mark, so :func:`mark_dirty` records it here, in the
host's own transaction: one SQL statement on SQLite ≥ 3.35 and PostgreSQL
(``INSERT … ON CONFLICT … DO UPDATE … RETURNING``); other databases take a slower ORM path.
Either way a change is recorded exactly when it commits: no lost change if the process dies
after commit, no phantom push if the transaction rolls back.

After commit, :func:`enqueue` hands the row ids to Celery (or wakes a drain), once per
transaction however many changes it held. If the broker is down the save still succeeds: the
marker or row stays and ``sweep()`` (Celery beat or ``manage.py thredfi_sweep``) picks it up.

``queryset.update()`` and ``bulk_create()`` send no signals and set no marker, so nothing is
recorded for them; call :func:`mark_dirty_many` with the affected objects afterwards.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction
from django.db.models import Case, F, Model, Q, QuerySet, Value, When
from django.utils import timezone

from . import kick
from .models import SyncOperation, SyncState, SyncStatus

logger = logging.getLogger("thredfi_django.sync")

#: Statuses a person (or a new save) may put back to pending.
RETRYABLE_STATUSES = (
    SyncStatus.FAILED,
    SyncStatus.NEEDS_ATTENTION,
    SyncStatus.BLOCKED,
    SyncStatus.RESOLVED,
)


def _db_for(model: type[Model]) -> str:
    return router.db_for_write(SyncState) or router.db_for_write(model) or "default"


def _supports_upsert_returning(connection) -> bool:
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version_info >= (3, 35, 0)
    return False


def _prep(name: str, value: Any, connection) -> Any:
    return _field(name).get_db_prep_save(value, connection)


@cache
def _field(name: str):
    return SyncState._meta.get_field(name)


def _label(instance: Model) -> str:
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
    using = _db_for(type(instance))
    connection = connections[using]
    content_type = ContentType.objects.db_manager(using).get_for_model(instance)
    object_id = str(instance.pk)
    values = _values(instance, operation)
    business_key = _business_key(instance)
    if _supports_upsert_returning(connection):
        state, became_pending = _upsert_sql(
            connection, content_type.pk, object_id, values, business_key
        )
    else:
        state, became_pending = _upsert_orm(using, content_type, object_id, values, business_key)
    if schedule:
        key = (instance._meta.label_lower, object_id)
        _schedule_enqueue(using, state.pk, key, publish=became_pending)
    return state


def _values(instance: Model, operation: str) -> dict[str, Any]:
    """What a change of ``instance`` writes into its row, besides the bookkeeping."""
    return {
        "resource": getattr(instance, "thredfi_resource", "") or "",
        "external_id": instance.get_thredfi_external_id(),
        "remote_id": getattr(instance, "thredfi_id", None),
        "label": _label(instance),
        "operation": str(operation),
    }


#: Rows per statement in :func:`record_many` (≤ 11 parameters each: far below every limit).
RECORD_CHUNK = 1000


def record_many(objects: list[Model]) -> list[tuple[int, bool]]:
    """Record that ``objects`` (of one model) changed, as ``mark_dirty(obj, schedule=False)``
    would for each, but in one ``INSERT … VALUES (…), (…) … ON CONFLICT … RETURNING`` statement
    (per RECORD_CHUNK rows) where the database has it: this is the drain's path, once for
    every saved object. Returns (state id, whether it just became pending) per object, in
    order. Runs in the caller's transaction; schedules nothing."""
    if not objects:
        return []
    using = _db_for(type(objects[0]))
    connection = connections[using]
    if not _supports_upsert_returning(connection):
        return [_upsert_one_orm(using, obj) for obj in objects]
    content_type = ContentType.objects.db_manager(using).get_for_model(objects[0])
    table = connection.ops.quote_name(SyncState._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    found: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(objects), RECORD_CHUNK):
        tuples, params = [], []
        for obj in objects[start : start + RECORD_CHUNK]:
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
    from .mixins.base import new_dirty_token

    using = router.db_for_write(model) or "default"
    connection = connections[using]
    key = (model._meta.label_lower, str(pk))
    if connection.in_atomic_block:
        batch = _current_batch(using)
        if batch is not None and batch.already_marked(key, connection.savepoint_ids):
            return True
    marked = model._base_manager.using(using).filter(pk=pk).update(thredfi_dirty=new_dirty_token())
    if marked:
        _schedule_drain(using, key)
    return bool(marked)


def mark_dirty_many(objects: Iterable[Model] | QuerySet) -> list[int]:
    """Record changes made behind the signals' back (``queryset.update()``, ``bulk_create()``).

    Call it after such a bulk write, in the same transaction, with the affected objects::

        with transaction.atomic():
            Invoice.objects.filter(customer=c).update(memo="…")
            outbox.mark_dirty_many(Invoice.objects.filter(customer=c))
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
    from django.db.models import Case, Value, When

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
            extra = {"operation": values["operation"], "label": values["label"]}
            if state.remote_id is None and values["remote_id"]:
                extra["remote_id"] = values["remote_id"]
            if state.business_id is None and business_id:
                extra["business_id"] = business_id
            qs.update(**extra)
            state.refresh_from_db(fields=["version", "status", "operation"])
    return state, became_pending


# --------------------------------------------------------------------------------------------
# Enqueueing after commit
# --------------------------------------------------------------------------------------------


class _Batch:
    """The on_commit callback of one transaction: enqueues every state id it collected once,
    and wakes a drain once if the transaction marked host rows (``drain``).

    It also remembers which objects this transaction already recorded or marked (``marked``),
    so that saving fifty lines of one invoice marks the invoice once, not fifty times: the
    push compares committed versions, and one change per transaction is all it needs to see.
    """

    def __init__(self, using: str):
        self.using = using
        self.ids: list[int] = []
        self.drain = False
        #: (model label, pk) -> savepoint ids active when it was recorded
        self.marked: dict[tuple[str, str], tuple[str, ...]] = {}
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        enqueue(self.ids)
        if self.drain:
            kick.wake()

    def already_marked(self, key: tuple[str, str], savepoint_ids: list[str]) -> bool:
        """Was ``key`` recorded in a savepoint that is still alive?"""
        recorded_in = self.marked.get(key)
        if recorded_in is None:
            return False
        # A rolled-back savepoint is gone from the connection's list: then the change is too.
        return tuple(savepoint_ids[: len(recorded_in)]) == recorded_in


def _current_batch(using: str) -> _Batch | None:
    """This transaction's batch, if its callback is still registered (a rolled-back savepoint
    drops the callback, and with it the batch)."""
    for _sids, func, *_rest in reversed(connections[using].run_on_commit):
        if isinstance(func, _Batch) and not func.sent:
            return func
    return None


def _schedule_enqueue(
    using: str, state_id: int, key: tuple[str, str] | None = None, *, publish: bool = True
) -> None:
    """After commit, publish a task for ``state_id`` (when ``publish``: the row just became
    pending; a row that was pending or in progress already has a task, countdown or sweep
    coming, and the push reads the latest version). ``key`` is remembered for the batch."""
    connection = connections[using]
    if not connection.in_atomic_block:
        if publish:
            enqueue([state_id])
        return
    batch = _batch(using)
    if publish and state_id not in batch.ids:
        batch.ids.append(state_id)
    if key is not None:
        batch.marked[key] = tuple(connection.savepoint_ids)


def _schedule_drain(using: str, key: tuple[str, str]) -> None:
    """After commit, wake a drain for a host row just marked; ``key`` is remembered."""
    connection = connections[using]
    if not connection.in_atomic_block:
        kick.request_drain(using=using)
        return
    batch = _batch(using)
    batch.drain = True
    batch.marked[key] = tuple(connection.savepoint_ids)


def _batch(using: str) -> _Batch:
    """This transaction's batch, registered on first use."""
    batch = _current_batch(using)
    if batch is None:
        batch = _Batch(using)
        transaction.on_commit(batch, using=using)
    return batch


def enqueue(state_ids: Iterable[int], *, countdown: float | None = None) -> int:
    """Have the rows pushed: with DISPATCH "drain" (the default) wake a drain (coalesced, see
    kick.py); with "per_object" send one ``sync_object`` task per id. Never raises: a broker
    outage is logged and the sweep picks the rows up later. Returns how many ids were handed
    over."""
    ids = list(dict.fromkeys(state_ids))
    if not ids:
        return 0
    if _dispatch() == "drain":
        from . import kick

        kick.wake(countdown=countdown)
        return len(ids)
    from .conf import thredfi_settings
    from .tasks import sync_object

    options: dict[str, Any] = {"retry": False}
    if thredfi_settings.CELERY_QUEUE:
        options["queue"] = thredfi_settings.CELERY_QUEUE
    if countdown:
        options["countdown"] = countdown
    sent = 0
    try:
        for state_id in ids:
            # retry=False: with the broker down, fail at once instead of blocking the request.
            sync_object.apply_async((state_id,), **options)
            sent += 1
    except Exception as err:  # broker down / misconfigured: the save must still succeed
        logger.warning(
            "Could not enqueue %d Thredfi sync task(s) (%s: %s); they stay pending and the "
            "sweep (thredfi_sweep / sweep_pending) will enqueue them.",
            len(ids) - sent,
            type(err).__name__,
            err,
        )
    return sent


def _dispatch() -> str:
    from .conf import thredfi_settings

    return thredfi_settings.DISPATCH


# --------------------------------------------------------------------------------------------
# Asking for a sync (admin "Sync now" / "Retry failed", thredfi_sync command)
# --------------------------------------------------------------------------------------------


#: Rows per transaction in :func:`request_sync`: flat memory, and far below every database's
#: limit on bound parameters (SQLite 32,766, PostgreSQL 65,535).
REQUEST_CHUNK = 2000


def request_sync(
    states: QuerySet | Iterable[SyncState | int],
    *,
    reset_failures: bool = True,
    enqueue_tasks: bool = True,
) -> int:
    """Put the given rows up for a push; never does HTTP in the caller.

    Failed, needs-attention, blocked and resolved rows go back to pending with ``attempts=0``
    (with ``reset_failures``); synced rows get their version bumped so the current state is
    pushed again; pending rows waiting out a backoff become due now. Rows being pushed right
    now are left alone. Works in chunks of REQUEST_CHUNK rows, one transaction each.

    With ``enqueue_tasks`` (the default) each row gets a ``sync_object`` task after commit.
    ``enqueue_tasks=False`` only makes the rows due (``next_attempt_at = now``): for bulk
    re-queues, where a task per row would cost more than everything else and the sweep hands
    due rows to the workers in batches, and for callers that push inline right after.
    Returns the number of rows put up (pending and due).
    """
    if isinstance(states, QuerySet):
        ids = list(states.values_list("pk", flat=True))
    else:
        ids = [s.pk if isinstance(s, SyncState) else int(s) for s in states]
    return sum(
        _request_chunk(ids[start : start + REQUEST_CHUNK], reset_failures, enqueue_tasks)
        for start in range(0, len(ids), REQUEST_CHUNK)
    )


def _request_chunk(ids: list[int], reset_failures: bool, enqueue_tasks: bool) -> int:
    qs = SyncState.objects.filter(pk__in=ids)
    now = timezone.now()
    # A task on its way: not due for the sweep until SWEEP_STALE_SECONDS have passed.
    # No task: due at once, for the sweep or the caller.
    due = {
        "lease_until": None,
        "lease_owner": "",
        "next_attempt_at": None if enqueue_tasks else now,
        "updated_at": now,
    }
    # One UPDATE: failed rows reset (with reset_failures), synced rows one version up, and
    # every one of them, like the rows already pending, pending and due as above. (Three
    # UPDATEs in a row wrote a synced row twice: 100,000 re-queued rows cost twice the WAL.)
    taken = [SyncStatus.SYNCED, SyncStatus.PENDING]
    changes = {
        "status": SyncStatus.PENDING,
        "version": Case(
            When(status=SyncStatus.SYNCED, then=F("version") + 1),
            default=F("version"),
            output_field=SyncState._meta.get_field("version"),
        ),
        **due,
    }
    if reset_failures:
        taken += list(RETRYABLE_STATUSES)
        failed = Q(status__in=RETRYABLE_STATUSES)
        changes["attempts"] = Case(
            When(failed, then=Value(0)),
            default=F("attempts"),
            output_field=SyncState._meta.get_field("attempts"),
        )
        changes["blocked_on"] = Case(When(failed, then=Value(None)), default=F("blocked_on"))
    with transaction.atomic():
        updated = qs.filter(status__in=taken).update(**changes)
        if not enqueue_tasks:
            return updated
        pending = list(qs.filter(status=SyncStatus.PENDING).values_list("pk", flat=True))
        transaction.on_commit(lambda: enqueue(pending))
    return len(pending)


def state_for(instance: Model) -> SyncState | None:
    """The SyncState row of a host object, or None if it was never recorded.

    A synced object whose save is only marked on its own row yet (the drain has not taken it
    in) is absorbed first, so the row returned is pending with that save counted. The marker
    is read from the database, not from ``instance``: what counts is what was committed."""
    if instance.pk is None:
        return None
    if hasattr(type(instance), "thredfi_dirty"):
        from . import inbox

        business_key = _business_key(instance)
        if business_key is not None:  # first, so that the object's row links to its business
            business = ContentType.objects.get_for_id(business_key[0]).model_class()
            inbox.absorb_object(business, business_key[1])
        inbox.absorb_object(type(instance), instance.pk)
    content_type = ContentType.objects.get_for_model(instance)
    return SyncState.objects.filter(content_type=content_type, object_id=str(instance.pk)).first()


def mark_parent_dirty(child: Model) -> bool:
    """A line item or allocation changed: mark its parent (invoice, bill, payment) dirty."""
    fk = child.get_thredfi_parent_field()
    return mark_dirty_by_pk(fk.related_model, getattr(child, fk.attname))
