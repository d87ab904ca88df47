"""Pushing claimed rows: plan, send, record, wave after wave, with one wave's requests in flight.

A push is half waiting (for Thredfi, for the database) and half Python; run one after the other,
a worker waits on one while it could do the other. So the requests of wave *k* go out on
DRAIN_HTTP_CONCURRENCY threads while the worker's own thread records wave *k-1* and plans wave
*k+1*; only that thread touches the database, and it renews the leases while it waits.

Rows go in waves by resource (businesses, then customers and vendors, then invoices and bills,
then money movements): before a wave of a higher rank is loaded, the wave in flight is recorded,
so the remote ids it brought are there to be read. A row whose business or dependency has no
remote id yet gets it pushed first, inline, as a push of one row (:func:`push_one`), one level
deeper. A push of one row is the same pipeline with one row in it: there is one way to push.
The charts of accounts a wave's plans need and no cache holds are read first, on the threads.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import prefetch_related_objects

from .. import ledger
from ..client import get_client
from ..conf import thredfi_settings
from ..exceptions import ThredfiLocalValidationError
from ..models import SyncOperation, SyncState, host_model
from ..recording.changes import mark_dirty
from . import leases, outcomes, send
from .absorb import state_for
from .plan import Blocked, plan_push
from .results import Push, SyncResult

logger = logging.getLogger("thredfi_django.sync")


class Deferred(Exception):
    """The row cannot be pushed now, through no fault of its own (a paused scope)."""


#: Resources pushed first: their dependents may be in the same batch.
RANK = {
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
class _InFlight:
    """A wave whose requests are being sent on the pipeline's threads."""

    rank: int
    pushes: list[Push]
    futures: list[Future]


class Pipeline:
    """Pushes claimed rows (see the module docstring). Use it as a context manager: leaving it,
    also on an error, records whatever is still in flight, so a request that went out is
    never left unrecorded by a clean exit."""

    def __init__(
        self,
        worker: str,
        *,
        keeper: leases.LeaseKeeper | None = None,
        depth: int = 0,
        keep_results: bool = False,
    ):
        self.worker = worker
        self.keeper = keeper or leases.LeaseKeeper()
        self.depth = depth
        self.threads = max(1, int(thredfi_settings.DRAIN_HTTP_CONCURRENCY))
        #: How the rows pushed so far ended, by outcome.
        self.outcomes: Counter[str] = Counter()
        #: {state id: SyncResult}, with ``keep_results`` (a drain keeps counts only).
        self.results: dict[int, SyncResult] = {}
        self._keep_results = keep_results
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
            # recorded run out and the rows are handed out again (looked up by external_id).
            logger.exception("Could not record the wave in flight after an earlier error.")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def push(self, claimed: list[tuple[str, SyncState]], loaded: dict | None = None) -> None:
        """Push claimed rows (the last wave may still be in flight on return). ``loaded``: host
        objects already loaded, keyed (content type id, str(pk)), as ``absorb`` fills it."""
        waves: dict[int, list[tuple[str, SyncState]]] = defaultdict(list)
        for token, state in claimed:
            self.keeper.hold(token, [state.pk])
            waves[RANK.get(state.resource, 9)].append((token, state))
        for index, rank in enumerate(sorted(waves)):
            # Objects loaded before this batch's first wave was pushed may lack the remote ids
            # it brings: only the first wave takes them as they are.
            self._push_wave(rank, waves[rank], (loaded or {}) if index == 0 else {})

    @property
    def in_flight(self) -> bool:
        """Whether a wave's requests are out, or its outcomes not yet recorded."""
        return self._in_flight is not None

    def settle(self) -> None:
        """Wait for the wave in flight and record its outcomes."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            self._finish(in_flight)

    def _finish(self, in_flight: _InFlight) -> None:
        """Wait for a wave's requests, then record them."""
        self._wait(in_flight.futures)
        self._record(in_flight.pushes)

    def _wait(self, futures: list[Future]) -> None:
        """Wait for ``futures``, renewing the leases meanwhile."""
        pending = set(futures)
        while pending:
            _done, pending = wait(pending, timeout=self.keeper.margin / 2)
            self.keeper.renew_if_due()

    def _read_charts(self, instances: Iterable[Any]) -> None:
        """Read the charts of accounts planning these objects needs and no cache holds, on the
        pipeline's threads: planning reads them one business at a time, and a wave over many
        businesses with cold charts (a drain's first, a backfill of many tenants) would keep
        every request waiting for that many round trips. The reads queue behind the wave in
        flight, so the threads idle only while this wave is planned. What fails here (a host
        hook, the cache, a read) the plan meets again and records on its row."""
        try:
            wanted = ledger.charts_to_read(instances)
        except Exception:
            logger.debug("Could not tell which charts of accounts to read.", exc_info=True)
            return
        futures = [self._threads().submit(ledger.chart, b) for b in wanted]
        self._wait(futures)
        for business_id, future in zip(wanted, futures, strict=True):
            if (error := future.exception()) is not None:
                logger.debug("Could not read the chart of accounts of %s.", business_id)
                ledger.read_failed(business_id, error)  # the plan then reads it once more

    def _push_wave(self, rank: int, wave: list[tuple[str, SyncState]], loaded: dict) -> None:
        if self._in_flight is not None and self._in_flight.rank < rank:
            self.settle()  # this wave may need the remote ids of the one in flight
            loaded = {}  # objects loaded before it was recorded may lack those ids
        self.keeper.renew_if_due()
        instances = _load((state for _token, state in wave), loaded)
        to_send: list[Push] = []
        decided: list[Push] = []
        with ledger.one_look_per_wave():
            self._read_charts(instances.values())
            for token, state in wave:
                push = Push(token, state, instances.get((state.content_type_id, state.object_id)))
                self.keeper.renew_if_due()  # planning may call out (a chart of accounts)
                self._plan(push)
                needs_request = push.call is not None and needs_request_for(push.call)
                (to_send if needs_request and push.error is None else decided).append(push)
        previous, self._in_flight = self._in_flight, self._start(rank, to_send)
        if previous is not None:
            self._finish(previous)  # while this wave's requests go out
        self._record(decided)

    def _plan(self, push: Push) -> None:
        try:
            if host_model(push.state.content_type_id) is None:
                raise ThredfiLocalValidationError(
                    "The model of this object is no longer installed.", {}
                )
            push.call = plan_push(push.state, push.instance, lambda obj: self._ensure(obj, push))
        except Blocked as blocked:
            push.blocked = blocked
        except Deferred:
            push.not_sent = True  # its dependency's scope is paused: it waits, pending
        except Exception as err:  # a bug in a host hook must not stop the others either
            push.error = err

    def _ensure(self, obj: Any, push: Push) -> str:
        """The remote id of ``push``'s business or dependency ``obj``, pushing it first (inline,
        one level deeper) when it has none."""
        if obj is None:
            raise ThredfiLocalValidationError(
                "This object belongs to no business; set its business before it can be sent.",
                {"business": ["This field is required."]},
            )
        if obj.thredfi_resource == "business" and push.state.business_id is None:
            # After a delete, the business on the row is how we know where the record lives.
            business_state = state_for(obj)
            push.business_id = business_state.pk if business_state is not None else None
        if obj.thredfi_id:
            return str(obj.thredfi_id)
        dependency = state_for(obj)
        if dependency is None:
            # Created before thredfi_django was installed, or by bulk_create: record it now.
            with transaction.atomic():
                recorded = mark_dirty(obj, schedule=False)
            dependency = SyncState.objects.get(pk=recorded.pk)
        label = f"{dependency.resource} {dependency.label or dependency.object_id}"
        if dependency.remote_id is None:
            if dependency.status not in leases.CLAIMABLE:
                raise Blocked(dependency, f"Waiting for {label}, which is {dependency.status}.")
            if self.depth >= int(thredfi_settings.MAX_DEPENDENCY_DEPTH):
                raise Blocked(dependency, f"Dependency chain too deep at {label}.")
            result = push_one(dependency.pk, self.worker, keeper=self.keeper, depth=self.depth + 1)
            push.requests += result.requests
            if result.outcome == "paused":
                raise Deferred(result.message)
            if not result.remote_id:
                why = result.message or result.outcome
                raise Blocked(dependency, f"Waiting for {label}: {why}")
            dependency.remote_id = result.remote_id
        obj.thredfi_id = uuid.UUID(str(dependency.remote_id))
        return str(dependency.remote_id)

    def _start(self, rank: int, pushes: list[Push]) -> _InFlight | None:
        if not pushes:
            return None
        client = get_client()
        futures = [self._threads().submit(_send, client, self.keeper, push) for push in pushes]
        return _InFlight(rank, pushes, futures)

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.threads, thread_name_prefix="thredfi-push"
            )
        return self._pool

    def _record(self, pushes: list[Push]) -> None:
        if not pushes:
            return
        self.keeper.renew_if_due()
        results = outcomes.record(pushes, self.worker)
        for push, result in zip(pushes, results, strict=True):
            self.keeper.drop(push.token, [push.state.pk])
            self.outcomes[result.outcome] += 1
            if self._keep_results:
                self.results[result.state_id] = result


def needs_request_for(call: Any) -> bool:
    """Skips and what cannot be sent need no request, unless we must look for the record."""
    return call.action != "skip" and (call.action != "cannot" or call.look_up_first)


def push_one(
    state_id: int, worker: str, *, keeper: leases.LeaseKeeper | None = None, depth: int = 0
) -> SyncResult:
    """Claim one row and push it (a pipeline of one row). Never raises for a failed push."""
    claimed = leases.claim(worker, 1, state_id=state_id)
    if not claimed:
        return SyncResult(state_id, "not_claimed", message="Not due, or another worker has it.")
    with Pipeline(worker, keeper=keeper, depth=depth, keep_results=True) as pipeline:
        pipeline.push(claimed)
    return pipeline.results[state_id]


def _send(client: Any, keeper: leases.LeaseKeeper, push: Push) -> None:
    """On a pipeline thread: send the row's request, if its lease still has long enough."""
    if not keeper.allows_sending(push.token):
        push.not_sent = True
        return
    try:
        push.answer = send.execute(client, push.call)
    except Exception as err:  # recorded per row
        push.error = err


def _load(states, preloaded: dict | None = None) -> dict[tuple[int, str], Any]:
    """The host objects of the upsert rows, one query (plus prefetches) per model; objects in
    ``preloaded`` (loaded by this drain's absorb) only get the prefetches."""
    wanted: dict[int, list[str]] = defaultdict(list)
    for state in states:
        if state.operation == SyncOperation.UPSERT:
            wanted[state.content_type_id].append(state.object_id)
    loaded = {}
    for content_type_id, object_ids in wanted.items():
        model = host_model(content_type_id)
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
