"""The outbox: record a change in the host's own transaction, enqueue its push after commit.

``mark_dirty(instance)`` is what the post_save/post_delete receivers call. It writes (or bumps)
the object's :class:`~thredfi_django.models.SyncState` row in the *same* transaction as the host
row, so a save is recorded exactly when it commits: no lost change if the process dies after
commit, no phantom push if the transaction rolls back. It is one SQL statement on SQLite ≥ 3.35
and PostgreSQL (``INSERT … ON CONFLICT … DO UPDATE … RETURNING``); other databases take a
slower ORM path.

After commit, :func:`enqueue` hands the row ids to Celery, once per transaction however many
saves it held. If the broker is down the save still succeeds: the row stays pending and
``sweep()`` (Celery beat or ``manage.py thredfi_sweep``) re-enqueues it later.

``queryset.update()`` and ``bulk_create()`` send no signals, so nothing is recorded for them;
call :func:`mark_dirty_many` with the affected objects afterwards.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone

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
    values = {
        "resource": getattr(instance, "thredfi_resource", "") or "",
        "external_id": instance.get_thredfi_external_id(),
        "remote_id": getattr(instance, "thredfi_id", None),
        "label": _label(instance),
        "operation": str(operation),
    }
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


def mark_dirty_by_pk(model: type[Model], pk: Any, load=None) -> int | None:
    """Bump the version of an already-tracked object by primary key (one UPDATE).

    Used by line items to mark their parent dirty without loading the parent. When the parent
    has no sync state yet, ``load()`` is called to fetch it and :func:`mark_dirty` records it.
    Returns the state id, or None when there is nothing to record.
    """
    if pk is None:
        return None
    using = _db_for(model)
    connection = connections[using]
    key = (model._meta.label_lower, str(pk))
    if connection.in_atomic_block:
        batch = _current_batch(using)
        marked = batch.already_marked(key, connection.savepoint_ids) if batch else None
        if marked is not None:
            return marked  # recorded earlier in this transaction: one bump is enough
    content_type = ContentType.objects.db_manager(using).get_for_model(model)
    now = timezone.now()
    if _supports_upsert_returning(connection):
        table = connection.ops.quote_name(SyncState._meta.db_table)
        # Only quoted identifiers from _meta are interpolated; every value is a bound parameter.
        sql = (
            f"UPDATE {table} SET version = version + 1, {_reopen_sql('', '%s')} "  # noqa: S608
            "WHERE content_type_id = %s AND object_id = %s AND operation = 'upsert' "
            "RETURNING id, updated_at"
        )
        now_param = _prep("updated_at", now, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [now_param, content_type.pk, str(pk)])
            row = cursor.fetchone()
        state_id = row[0] if row else None
        became_pending = bool(row) and _same_instant(row[1], now_param)
    else:
        qs = SyncState.objects.using(using).filter(
            content_type=content_type, object_id=str(pk), operation=SyncOperation.UPSERT
        )
        found = qs.values_list("pk", "status").first()
        state_id = found[0] if found else None
        became_pending = bool(found) and found[1] not in (
            SyncStatus.PENDING,
            SyncStatus.IN_PROGRESS,
        )
        if state_id is not None:
            _reopen(qs.filter(pk=state_id))
    if state_id is None:
        parent = load() if load else model._default_manager.using(using).filter(pk=pk).first()
        return mark_dirty(parent).pk if parent is not None else None
    _schedule_enqueue(using, state_id, key, publish=became_pending)
    return state_id


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


@lru_cache(maxsize=32)
def _upsert_statement(vendor: str, table: str, with_business: bool) -> str:
    """The INSERT … ON CONFLICT … RETURNING text (built once per database and shape)."""
    business_sql = (
        f"(SELECT b.id FROM {table} b WHERE b.content_type_id = %s AND b.object_id = %s)"  # noqa: S608
        if with_business
        else "NULL"
    )
    reopen = _reopen_sql(f"{table}.", "excluded.updated_at")
    # Only quoted identifiers from _meta are interpolated; every value is a bound parameter.
    return f"""
        INSERT INTO {table} (
            content_type_id, object_id, resource, business_id, external_id, remote_id, status,
            operation, version, synced_version, attempts, lease_owner, last_error_kind,
            last_error_code, last_error_message, last_error_fields, label, created_at, updated_at
        ) VALUES (
            %s, %s, %s, {business_sql}, %s, %s, 'pending',
            %s, 1, 0, 0, '', '', '', '', '{{}}', %s, %s, %s
        )
        ON CONFLICT (content_type_id, object_id) DO UPDATE SET
            version = {table}.version + 1,
            operation = excluded.operation,
            label = excluded.label,
            external_id = excluded.external_id,
            business_id = COALESCE({table}.business_id, excluded.business_id),
            remote_id = COALESCE({table}.remote_id, excluded.remote_id),
            {reopen}
        RETURNING id, version, status, operation, updated_at
    """  # noqa: S608


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
    remote_id = values["remote_id"]
    if remote_id is not None:
        remote_id = _prep("remote_id", remote_id, connection)
    sql = _upsert_statement(connection.vendor, table, business_key is not None)
    params = [content_type_id, object_id, values["resource"]]
    if business_key is not None:
        params += [business_key[0], str(business_key[1])]
    params += [values["external_id"], remote_id, values["operation"], values["label"], now, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    state = SyncState.from_db(connection.alias, _RETURNED, list(row[:4]))
    return state, _same_instant(row[4], now)


_RETURNED = ["id", "version", "status", "operation"]


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
    """The on_commit callback of one transaction: enqueues every state id it collected once.

    It also remembers which objects this transaction already recorded (``marked``), so that
    saving fifty lines of one invoice bumps the invoice's row once, not fifty times: the push
    compares committed versions, and one bump per transaction is all it needs to see.
    """

    def __init__(self, using: str):
        self.using = using
        self.ids: list[int] = []
        #: (model label, pk) -> (state id, savepoint ids active when it was recorded)
        self.marked: dict[tuple[str, str], tuple[int, tuple[str, ...]]] = {}
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        enqueue(self.ids)

    def already_marked(self, key: tuple[str, str], savepoint_ids: list[str]) -> int | None:
        """The state id if ``key`` was recorded in a savepoint that is still alive."""
        found = self.marked.get(key)
        if found is None:
            return None
        state_id, recorded_in = found
        # A rolled-back savepoint is gone from the connection's list: then the bump is too.
        if tuple(savepoint_ids[: len(recorded_in)]) != recorded_in:
            return None
        return state_id


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
    batch = _current_batch(using)
    if batch is None:
        batch = _Batch(using)
        transaction.on_commit(batch, using=using)
    if publish and state_id not in batch.ids:
        batch.ids.append(state_id)
    if key is not None:
        batch.marked[key] = (state_id, tuple(connection.savepoint_ids))


def enqueue(state_ids: Iterable[int], *, countdown: float | None = None) -> int:
    """Have the rows pushed: with DISPATCH "drain" (the default) wake a drain (coalesced, see
    kick.py); with "per_object" send one ``sync_object`` task per id. Never raises: a broker
    outage is logged and the sweep picks the rows up later. Returns how many ids were handed
    over."""
    ids = list(dict.fromkeys(state_ids))
    if not ids:
        return 0
    from .conf import thredfi_settings
    from .tasks import sync_object

    if _dispatch() == "drain":
        from . import kick

        kick.wake(countdown=countdown)
        return len(ids)

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
    with transaction.atomic():
        if reset_failures:
            qs.filter(status__in=RETRYABLE_STATUSES).update(
                status=SyncStatus.PENDING, attempts=0, blocked_on=None, **due
            )
        qs.filter(status=SyncStatus.SYNCED).update(
            status=SyncStatus.PENDING, version=F("version") + 1, **due
        )
        if not enqueue_tasks:
            return qs.filter(status=SyncStatus.PENDING).update(**due)
        qs.filter(status=SyncStatus.PENDING).update(**due)
        pending = list(qs.filter(status=SyncStatus.PENDING).values_list("pk", flat=True))
        transaction.on_commit(lambda: enqueue(pending))
    return len(pending)


def state_for(instance: Model) -> SyncState | None:
    """The SyncState row of a host object, or None if it was never recorded."""
    if instance.pk is None:
        return None
    content_type = ContentType.objects.get_for_model(instance)
    return SyncState.objects.filter(content_type=content_type, object_id=str(instance.pk)).first()


def mark_parent_dirty(child: Model) -> int | None:
    """A line item or allocation changed: record its parent (invoice, bill, payment) as dirty."""
    fk = child.get_thredfi_parent_field()
    return mark_dirty_by_pk(
        fk.related_model, getattr(child, fk.attname), load=lambda: getattr(child, fk.name)
    )
