"""Who may push a sync-state row right now: a time-limited lease taken by compare-and-set.

``claim()`` is one UPDATE that only matches a row nobody holds (no lease, or an expired one) and
that is due; one row updated means the caller owns it until ``lease_until``. It works the same
on SQLite and PostgreSQL, needs no Redis lock, and a dead worker's lease simply runs out
(``sweep()`` then re-enqueues the row). Every claim gets its own owner token, so two threads of
one worker never mistake each other's lease for their own.

:func:`claim_and_load` (what ``sync_state`` uses) claims and loads the row in that same one
statement (``UPDATE … RETURNING``). :func:`bookkeeping` is the transaction the engine writes its
own records in (a push's outcome); see there for why PostgreSQL may commit those, and the claim,
without waiting for the disk.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from .conf import thredfi_settings
from .models import SyncAttempt, SyncState, SyncStatus

CLAIMABLE = (SyncStatus.PENDING, SyncStatus.IN_PROGRESS)


def claimable(now: dt.datetime) -> Q:
    """Rows a worker may take now: pending (or in progress with an expired lease) and due."""
    return (
        Q(status__in=CLAIMABLE)
        & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    )


@contextmanager
def bookkeeping() -> Iterator[None]:
    """One transaction of the engine's own records: a claim, or everything a push's outcome
    writes (host ``thredfi_id``, the row's release, the attempt and its history trim).

    On PostgreSQL, when this block *is* the transaction (a worker in autocommit), it commits
    with ``synchronous_commit`` off: the commit returns before its WAL reaches the disk, which
    saves an fsync per claim and per outcome. A PostgreSQL crash can then lose the last few
    hundred milliseconds of such commits, and that is harmless here:

    - nothing a host saved is at risk: the outbox row is written in the *host's* transaction,
      which keeps the server's durability (this never runs inside it, see below);
    - a lost claim or outcome leaves the row as it was before (pending, or in progress with a
      lease that runs out), so it is simply pushed again, and a repeated push is idempotent:
      creates are adopted by external_id (a 409 or lookup), payments resend the same
      Idempotency-Key, updates are PUT/PATCH of the same data, void/archive of a voided or
      archived record changes nothing. It is the state a worker killed between the HTTP
      response and its commit leaves, which the engine already has to handle;
    - WAL is flushed in order, so any later durable commit (a host save, a receiver's write)
      makes these earlier ones durable too: nothing durable can depend on a lost outcome.

    ``SET LOCAL`` ends with the transaction, so other work on the same connection (host code in
    the same worker) keeps the server's setting. Inside a caller's transaction (``atomic()``,
    or autocommit turned off) the writes just join it and nothing is SET: that transaction may
    hold host data, and it commits as its owner expects.
    """
    using = router.db_for_write(SyncState)
    connection = connections[using]
    ours = _engine_owns_transaction(connection)
    # savepoint=False: inside a caller's transaction these writes simply join it, as they did
    # before there was a block here (no extra SAVEPOINT round trips).
    with transaction.atomic(using=using, savepoint=False):
        if ours and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def claim(state_id: int, worker: str = "", now: dt.datetime | None = None) -> str | None:
    """Take the lease on a row. Returns the owner token, or None if someone else has it (or
    the row is not due, not pending, or gone)."""
    now = now or timezone.now()
    token = _new_token(worker)
    # Its own commit: the lease must be visible to other workers before the HTTP call.
    with bookkeeping():
        updated = SyncState.objects.filter(claimable(now), pk=state_id).update(
            status=SyncStatus.IN_PROGRESS,
            lease_until=now + dt.timedelta(seconds=thredfi_settings.LEASE_SECONDS),
            lease_owner=token,
            updated_at=now,
        )
    return token if updated == 1 else None


def claim_and_load(
    state_id: int, worker: str = "", now: dt.datetime | None = None
) -> tuple[str, SyncState] | None:
    """:func:`claim`, and the claimed row (with ``attempts_recorded``: how many attempt rows
    it has) in the same statement: ``UPDATE … RETURNING`` on PostgreSQL and SQLite ≥ 3.35,
    a claim and a SELECT elsewhere. None when the row was not claimed."""
    now = now or timezone.now()
    using = router.db_for_write(SyncState)
    connection = connections[using]
    if not _supports_returning(connection):
        token = claim(state_id, worker, now)
        if token is None:
            return None
        return token, SyncState.objects.annotate(attempts_recorded=_attempt_count()).get(
            pk=state_id
        )
    token = _new_token(worker)
    rows = _claim_returning(using, SyncState.objects.filter(pk=state_id), token, now)
    return (token, rows[0]) if rows else None


def claim_batch(
    worker: str = "",
    limit: int = 100,
    now: dt.datetime | None = None,
    *,
    exclude_content_types: list[int] | tuple[int, ...] = (),
) -> list[tuple[str, SyncState]]:
    """Claim up to ``limit`` due rows at once, oldest first, under one owner token: one
    ``UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING …``, so
    concurrent drains never wait on each other nor take the same row. Returns (token, row)
    pairs, the rows loaded with ``attempts_recorded``; elsewhere, one claim per row."""
    now = now or timezone.now()
    using = router.db_for_write(SyncState)
    connection = connections[using]
    token = _new_token(worker)
    if not _supports_returning(connection):
        candidates = SyncState.objects.filter(claimable(now)).exclude(
            content_type_id__in=exclude_content_types
        )
        ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:limit])
        tokens = {pk: claim(pk, worker, now) for pk in ids}
        mine = {pk: t for pk, t in tokens.items() if t is not None}
        states = SyncState.objects.annotate(attempts_recorded=_attempt_count()).filter(pk__in=mine)
        return [(mine[state.pk], state) for state in states.order_by("pk")]
    inner = (
        SyncState.objects.using(using)
        .filter(claimable(now))
        .exclude(content_type_id__in=exclude_content_types)
        .order_by("pk")
        .values("pk")
    )
    inner_sql, inner_params = inner[:limit].query.get_compiler(using).as_sql()
    if connection.vendor == "postgresql":
        inner_sql += " FOR UPDATE SKIP LOCKED"
    rows = _claim_returning(
        using, SyncState.objects.all(), token, now, extra=(inner_sql, inner_params)
    )
    return [(token, state) for state in rows]


def _new_token(worker: str) -> str:
    return f"{worker or 'local'}/{uuid.uuid4().hex[:8]}"[-100:]


def _claim_returning(using, queryset, token, now, extra=None) -> list[SyncState]:
    """UPDATE the claimable rows of ``queryset`` (and ``id IN (extra)``) to in progress under
    ``token``, RETURNING them with their attempt count."""
    connection = connections[using]
    query = queryset.using(using).filter(claimable(now)).query
    update = query.chain(UpdateQuery)
    update.add_update_values(
        {
            "status": SyncStatus.IN_PROGRESS,
            "lease_until": now + dt.timedelta(seconds=thredfi_settings.LEASE_SECONDS),
            "lease_owner": token,
            "updated_at": now,
        }
    )
    sql, params = update.get_compiler(using).as_sql()
    params = list(params)
    fields = SyncState._meta.concrete_fields
    qn = connection.ops.quote_name
    table = qn(SyncState._meta.db_table)
    if extra is not None:
        if connection.vendor == "postgresql":
            # = ANY(ARRAY(…)) runs the subquery exactly once; an IN (…) may be re-run by the
            # planner, and with SKIP LOCKED each run picks other rows (more than LIMIT).
            sql += f" AND {table}.{qn('id')} = ANY(ARRAY({extra[0]}))"
        else:
            sql += f" AND {table}.{qn('id')} IN ({extra[0]})"
        params += list(extra[1])
    attempts = qn(SyncAttempt._meta.db_table)
    state_column = qn(SyncAttempt._meta.get_field("state").column)
    returning = [f"{table}.{qn(f.column)}" for f in fields]
    # Only quoted identifiers from _meta are interpolated; every value is a bound parameter.
    returning.append(
        f"(SELECT COUNT(*) FROM {attempts} a WHERE a.{state_column} = {table}.{qn('id')})"  # noqa: S608
    )
    if connection.vendor == "postgresql" and _engine_owns_transaction(connection):
        # The claim is a transaction of its own (autocommit): is_local lasts exactly as long
        # as this statement, and saves the fsync of its commit (see bookkeeping()).
        returning.append("set_config('synchronous_commit', 'off', true)")
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {', '.join(returning)}", params)
        found = cursor.fetchall()
    states = []
    converters = [_converters(field, connection) for field in fields]  # once, not per row
    attnames = [f.attname for f in fields]
    for row in found:
        values = list(row[: len(fields)])
        for index, (col, functions) in enumerate(converters):
            for converter in functions:
                values[index] = converter(values[index], col, connection)
        state = SyncState.from_db(using, attnames, values)
        state.attempts_recorded = row[len(fields)]
        states.append(state)
    states.sort(key=lambda s: s.pk)
    return states


def _attempt_count():
    """How many attempt rows the row has (an annotation for a SyncState queryset)."""
    recorded = (
        SyncAttempt.objects.filter(state=OuterRef("pk"))
        .order_by()
        .values("state")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(recorded), 0)


def _supports_returning(connection) -> bool:
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35, 0)


def _converters(field, connection) -> tuple[Any, list]:
    """What turns a RETURNING value of ``field`` into what the ORM would have loaded (SQLite
    datetimes, UUIDs, JSON): (the column, its converter functions)."""
    col = field.cached_col
    return col, connection.ops.get_db_converters(col) + field.get_db_converters(connection)


def _engine_owns_transaction(connection) -> bool:
    return not connection.in_atomic_block and connection.get_autocommit()


def release(state_id: int, token: str, **changes) -> bool:
    """Apply ``changes`` and drop the lease, only if ``token`` still owns it."""
    changes.setdefault("updated_at", timezone.now())
    return bool(
        SyncState.objects.filter(pk=state_id, lease_owner=token).update(
            lease_until=None, lease_owner="", **changes
        )
    )


def release_if_version(state_id: int, token: str, version: int, **changes) -> bool:
    """Like :func:`release`, but only if no save bumped the version since the push read it."""
    changes.setdefault("updated_at", timezone.now())
    return bool(
        SyncState.objects.filter(pk=state_id, lease_owner=token, version=version).update(
            lease_until=None, lease_owner="", **changes
        )
    )


def renew(state_id: int, token: str, now: dt.datetime | None = None) -> bool:
    """Extend a lease we hold by another LEASE_SECONDS (after slow inline work)."""
    now = now or timezone.now()
    until = now + dt.timedelta(seconds=thredfi_settings.LEASE_SECONDS)
    return bool(SyncState.objects.filter(pk=state_id, lease_owner=token).update(lease_until=until))
