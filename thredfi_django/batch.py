"""Pushing a claimed batch of rows together: what a drain does with each batch.

The rows go in waves by resource (businesses, then customers and vendors, then invoices and
bills, then money movements), so a dependency claimed in the same batch is pushed, and its
remote id stored, before the objects that need it are loaded. In each wave:

1. the wave's host objects are loaded in bulk (one ``get_thredfi_queryset()`` query per model,
   plus its prefetches);
2. a row whose push needs nothing else (an upsert whose business and dependencies already have
   remote ids, that validates locally and has a request to send) takes the **fast path**: its
   request goes out, up to DRAIN_HTTP_CONCURRENCY at once on the worker's threads, and every
   success of the wave is recorded together in one transaction: host ``thredfi_id`` (one
   UPDATE per model), the rows' release (one UPDATE), rows saved again meanwhile back to
   pending (one more), their attempts (one INSERT), and the rows blocked on them woken (after
   the commit). A failed request is recorded row by row exactly as a one-row push records it;
3. every other row (deletes, a dependency without a remote id, local validation errors,
   skips…) takes the one-row :class:`~thredfi_django.push.Push`, under the batch's lease.

Waves overlap (:class:`Pipeline`): while one wave's requests are in flight, the worker records
the wave before it and absorbs, claims, loads and plans the next, unless the next needs the
remote ids of the one in flight (a higher rank), when it waits for them first.

The outcome of a fast push is the same as the one-row push's: same statuses, same version check
(a save during the push leaves the row pending), same attempt rows, same signals.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone

from . import leases, operations, outbox
from .bulk_sql import insert_rows, update_rows
from .conf import thredfi_settings
from .models import SyncAttempt, SyncOperation, SyncState, SyncStatus
from .push import Push, SyncResult, _client, _model, _parent, _rid, trim_history, wake_blocked
from .signals import sync_succeeded

logger = logging.getLogger("thredfi_django.sync")

#: Resources pushed first: their dependents may be in the same batch.
_RANK = {
    "business": 0,
    "customer": 1,
    "vendor": 1,
    "invoice": 2,
    "bill": 2,
    "payment": 3,
    "bill_payment": 3,
    "refund": 3,
    "refund_payment": 4,
}


@dataclass
class _Fast:
    """A row on the fast path: its claim, host object, planned request and (once sent)
    outcome or error."""

    token: str
    state: SyncState
    instance: Any
    call: operations.RemoteCall
    started: Any
    outcome: operations.Outcome | None = None
    error: BaseException | None = None
    remote_id: str | None = None


@dataclass
class _InFlight:
    """A wave whose requests are being sent on the pipeline's threads."""

    rank: int
    items: list[_Fast]
    futures: list[Future]


class Pipeline:
    """Pushes claimed batches wave after wave, keeping one wave's requests in flight while the
    worker records the wave before it and absorbs, claims, loads and plans the next one.

    A push is half waiting (for Thredfi, for the database) and half Python; run one after the
    other, a worker waits on one while it could do the other. Here the requests of wave *k* go
    out on DRAIN_HTTP_CONCURRENCY threads while the worker's own thread records wave *k-1* and
    prepares wave *k+1*, and only that thread touches the database. Ordering is kept where it
    matters: before a wave of a higher rank is loaded (invoices after their customers), the
    wave in flight is finished and recorded, so its remote ids are there to be read, exactly
    as when the waves ran one after the other. Waves of one rank never need each other.

    Use it as a context manager: leaving it (also on an error) finishes and records whatever
    is still in flight, so a request that went out is never left unrecorded by a clean exit.
    """

    def __init__(self, worker: str):
        self.worker = worker
        self.threads = max(1, int(thredfi_settings.DRAIN_HTTP_CONCURRENCY))
        #: How the rows pushed so far ended, by outcome (counts only: a drain can run for
        #: DRAIN_TIME_LIMIT seconds, and nothing needs each row's result afterwards).
        self.outcomes: Counter[str] = Counter()
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: _InFlight | None = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.settle()
        except Exception:
            if exc is None:
                raise
            # The original error is what the caller must see; the leases of what could not be
            # recorded expire and the sweep hands those rows out again (adopted by external_id).
            logger.exception("Could not record the wave in flight after an earlier error.")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def push(self, claimed: list[tuple[str, SyncState]], loaded: dict | None = None) -> None:
        """Push one claimed batch (its last wave may still be in flight on return).
        ``loaded``: host objects already loaded, as ``inbox.absorb(loaded=…)`` fills it."""
        waves: dict[int, list[tuple[str, SyncState]]] = defaultdict(list)
        for token, state in claimed:
            waves[_RANK.get(state.resource, 9)].append((token, state))
        for index, rank in enumerate(sorted(waves)):
            # Objects loaded before this batch's first wave was pushed may lack the remote ids
            # it brings: only the first wave takes them as they are.
            self._push_wave(rank, waves[rank], (loaded or {}) if index == 0 else {})

    def settle(self) -> None:
        """Wait for the wave in flight and record its outcomes."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            self._record(in_flight)

    def _push_wave(self, rank: int, wave: list[tuple[str, SyncState]], loaded: dict) -> None:
        if self._in_flight is not None and self._in_flight.rank < rank:
            self.settle()  # this wave may need the remote ids of the one in flight
            # Objects loaded before it was recorded may lack those ids: load them anew.
            loaded = {}
        instances = _load((state for _token, state in wave), loaded)
        fast: list[_Fast] = []
        slow: list[tuple[str, SyncState]] = []
        for token, state in wave:
            instance = instances.get((state.content_type_id, state.object_id))
            call = _fast_plan(state, instance)
            if call is None:
                slow.append((token, state))
            else:
                fast.append(_Fast(token, state, instance, call, timezone.now()))
        previous, self._in_flight = self._in_flight, self._start(rank, fast) if fast else None
        if previous is not None:
            self._record(previous)  # while this wave's requests go out
        for token, state in slow:
            self.outcomes[Push(state, token, self.worker, timezone.now(), 0).run().outcome] += 1

    def _start(self, rank: int, fast: list[_Fast]) -> _InFlight:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.threads, thread_name_prefix="thredfi-push"
            )
        client = _client()
        return _InFlight(rank, fast, [self._pool.submit(_send_one, client, item) for item in fast])

    def _record(self, in_flight: _InFlight) -> None:
        wait(in_flight.futures)
        done = [item for item in in_flight.items if item.error is None]
        if done:
            self.outcomes.update(r.outcome for r in _record_successes(done, self.worker))
        for item in in_flight.items:
            if item.error is not None:
                self.outcomes[_record_failure(item, self.worker).outcome] += 1


def _load(states, preloaded: dict | None = None) -> dict[tuple[int, str], Any]:
    """The host objects of the upsert rows, one query (plus prefetches) per model; objects in
    ``preloaded`` (loaded by this drain's absorb) only get the prefetches."""
    wanted: dict[int, list[str]] = defaultdict(list)
    for state in states:
        if state.operation == SyncOperation.UPSERT:
            wanted[state.content_type_id].append(state.object_id)
    loaded = {}
    for content_type_id, object_ids in wanted.items():
        model = _model(content_type_id)
        if model is None:
            continue
        queryset = model.get_thredfi_queryset()
        reused = []
        if preloaded:
            reused = [
                preloaded[key] for i in object_ids if (key := (content_type_id, i)) in preloaded
            ]
            object_ids = [i for i in object_ids if (content_type_id, i) not in preloaded]
            if reused:
                prefetch_related_objects(reused, *queryset._prefetch_related_lookups)
        fetched = list(queryset.filter(pk__in=object_ids)) if object_ids else []
        for instance in reused + fetched:
            loaded[(content_type_id, str(instance.pk))] = instance
    return loaded


def _fast_plan(state: SyncState, instance: Any) -> operations.RemoteCall | None:
    """The request for a row that needs nothing but that request, else None (slow path)."""
    if instance is None:
        return None  # a delete, or the object is gone: the one-row push knows what to do
    business_id = None
    if instance.thredfi_resource != "business":
        if state.business_id is None:
            return None  # the one-row push records the business on the row first
        business = instance.get_thredfi_business()
        if business is None or not business.thredfi_id:
            return None
        business_id = str(business.thredfi_id)
    if any(not dependency.thredfi_id for dependency in instance.get_thredfi_dependencies()):
        return None
    try:
        instance.validate_for_thredfi()
    except Exception:
        return None  # recorded with its field errors by the one-row push
    remote_id = str(state.remote_id) if state.remote_id else _rid(instance)
    call = operations.plan_upsert(instance, remote_id, business_id, _rid(_parent(instance)))
    return None if call.action in ("skip", "cannot") else call


# --------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------


def _send_one(client: Any, item: _Fast) -> None:
    try:
        item.outcome = operations.execute(client, item.call)
    except Exception as err:  # recorded per row, like the one-row push
        item.error = err


def _record_failure(item: _Fast, worker: str) -> SyncResult:
    """A failed request: recorded exactly as the one-row push records it."""
    push = Push(item.state, item.token, worker, item.started, 0)
    push.instance = item.instance
    return push.record_error(item.error, item.call)


# --------------------------------------------------------------------------------------------
# Recording the successes of a wave in one transaction
# --------------------------------------------------------------------------------------------


def _record_successes(done: list[_Fast], worker: str) -> list[SyncResult]:
    now = timezone.now()
    for item in done:
        state = item.state
        item.remote_id = item.outcome.remote.get("id") or (
            str(state.remote_id) if state.remote_id else None
        )
    again: list[int] = []
    with leases.bookkeeping():
        _store_remote_ids(done)
        released = _release(done, now)
        if released:
            # Saved again during the push: still dirty, push once more.
            again = list(
                SyncState.objects.filter(pk__in=released, status=SyncStatus.SYNCED)
                .exclude(version=F("synced_version"))
                .values_list("pk", flat=True)
            )
            if again:
                SyncState.objects.filter(pk__in=again).update(status=SyncStatus.PENDING)
                transaction.on_commit(lambda: outbox.enqueue(again))
        _insert_successes(done, now, worker)
        for item in done:
            trim_history(item.state)
    # After the commit, as the one-row push does (see Push._succeeded).
    wake_blocked([item.state.pk for item in done])
    pending = set(again)
    results = []
    for item in done:
        state = item.state
        logger.info(
            "Thredfi %s %s %s (%s)",
            item.call.action,
            state.resource,
            item.remote_id,
            state.external_id,
        )
        sync_succeeded.send(
            sender=type(item.instance),
            instance=item.instance,
            state=state,
            remote=item.outcome.remote,
            created=item.outcome.created,
        )
        status = SyncStatus.PENDING if state.pk in pending else SyncStatus.SYNCED
        results.append(
            SyncResult(state.pk, "synced", status, item.remote_id, requests=item.outcome.requests)
        )
    return results


def _store_remote_ids(done: list[_Fast]) -> None:
    """Host ``thredfi_id`` where it is missing or different, in one statement per model (see
    :func:`bulk_sql.update_rows`). Not save(): no signal, no new change recorded."""
    by_model: dict[type, list[_Fast]] = defaultdict(list)
    for item in done:
        if item.remote_id and str(item.instance.thredfi_id) != str(item.remote_id):
            by_model[type(item.instance)].append(item)
    for model, items in by_model.items():
        connection = connections[router.db_for_write(model) or "default"]
        qn = connection.ops.quote_name
        field = model._meta.get_field("thredfi_id")
        pk = model._meta.pk
        update_rows(
            connection,
            model._meta.db_table,
            set_sql=f"{qn(field.column)} = v.remote_id",
            columns=[("pk", pk), ("remote_id", field)],
            match=[(pk.column, "pk")],
            rows=[(item.instance.pk, uuid.UUID(item.remote_id)) for item in items],
        )
        for item in items:
            item.instance.thredfi_id = uuid.UUID(item.remote_id)


def _release(done: list[_Fast], now) -> list[int]:
    """Mark the rows synced and drop their leases, only where our lease still holds, in one
    statement. Returns the ids released; a row whose lease was lost keeps its remote id at
    least."""
    connection = connections[router.db_for_write(SyncState)]
    qn = connection.ops.quote_name
    column = {f.name: qn(f.column) for f in SyncState._meta.concrete_fields}
    field = SyncState._meta.get_field
    set_sql = (
        f"{column['status']} = 'synced', {column['synced_version']} = v.version, "
        f"{column['remote_id']} = COALESCE(v.remote_id, t.{column['remote_id']}), "
        f"{column['attempts']} = 0, {column['next_attempt_at']} = NULL, "
        f"{column['blocked_on']} = NULL, {column['last_synced_at']} = v.stamp, "
        f"{column['lease_until']} = NULL, {column['lease_owner']} = '', "
        f"{column['updated_at']} = v.stamp, {column['last_error_kind']} = '', "
        f"{column['last_error_status']} = NULL, {column['last_error_code']} = '', "
        f"{column['last_error_message']} = '', {column['last_error_fields']} = '{{}}', "
        f"{column['last_error_at']} = NULL"
    )
    released = update_rows(
        connection,
        SyncState._meta.db_table,
        set_sql=set_sql,
        columns=[
            ("id", field("id")),
            ("token", field("lease_owner")),
            ("version", field("version")),
            ("remote_id", field("remote_id")),
            ("stamp", field("last_synced_at")),
        ],
        match=[("id", "id"), ("lease_owner", "token")],
        rows=[
            (
                item.state.pk,
                item.token,
                item.state.version,
                uuid.UUID(item.remote_id) if item.remote_id else None,
                now,
            )
            for item in done
        ],
        returning="id",
    )
    ids = [item.state.pk for item in done]
    if released is None:  # some leases were lost (or no RETURNING): whose carry our stamp?
        released = set(
            SyncState.objects.filter(pk__in=ids, lease_owner="", last_synced_at=now).values_list(
                "pk", flat=True
            )
        )
    for item in done:
        if item.state.pk not in released:
            logger.warning("Lost the lease on %s while pushing it.", item.state)
            SyncState.objects.filter(pk=item.state.pk, remote_id__isnull=True).update(
                remote_id=item.remote_id
            )
    return [pk for pk in ids if pk in released]


def _insert_successes(done: list[_Fast], now, worker: str) -> None:
    """The wave's success attempt rows, in one statement (see bulk_sql.insert_rows)."""
    template = SyncAttempt(
        finished_at=now, outcome=SyncAttempt.Outcome.SUCCESS, worker=worker[:100]
    )
    insert_rows(
        template,
        ["state_id", "started_at", "operation", "version"],
        [(item.state.pk, item.started, item.call.action[:20], item.state.version) for item in done],
        using=router.db_for_write(SyncAttempt) or "default",
    )
