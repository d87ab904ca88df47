"""Asking for a push by hand: the admin's "Sync now" / "Retry", ``thredfi_sync`` and reconcile.

Nothing here talks HTTP: rows are put up (pending and due) and a worker is woken, as a save
would; the engine pushes them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from ..conf import thredfi_settings
from ..models import SyncLane, SyncState, SyncStatus
from . import wake

#: Statuses a person (or a new save) may put back to pending.
RETRYABLE_STATUSES = (
    SyncStatus.FAILED,
    SyncStatus.NEEDS_ATTENTION,
    SyncStatus.BLOCKED,
    SyncStatus.RESOLVED,
)


def request_sync(
    states: QuerySet | Iterable[SyncState | int],
    *,
    reset_failures: bool = True,
    enqueue_tasks: bool = True,
    backfill: bool = False,
) -> int:
    """Put the given rows up for a push; never does HTTP in the caller.

    Failed, needs-attention, blocked and resolved rows go back to pending with ``attempts=0``
    (with ``reset_failures``); synced rows get their version bumped so the current state is
    pushed again; pending rows waiting out a backoff become due now. Rows being pushed right
    now are left alone. Works in chunks of ``REQUEST_CHUNK`` rows, one transaction each (flat
    memory, and far below every database's limit on bound parameters).

    With ``enqueue_tasks`` (the default) each row gets a ``sync_object`` task after commit.
    ``enqueue_tasks=False`` only makes the rows due (``next_attempt_at = now``): for bulk
    re-queues, where a task per row would cost more than everything else and the sweep hands
    due rows to the workers in batches, and for callers that push inline right after.
    ``backfill`` puts the rows in the backfill lane: workers take them after live work (saves,
    a person's "Sync now"), so a bulk re-sync never delays another tenant's new invoice.
    Returns the number of rows put up (pending and due).
    """
    if isinstance(states, QuerySet):
        ids = list(states.values_list("pk", flat=True))
    else:
        ids = [s.pk if isinstance(s, SyncState) else int(s) for s in states]
    chunk = int(thredfi_settings.REQUEST_CHUNK)
    return sum(
        _request_chunk(ids[start : start + chunk], reset_failures, enqueue_tasks, backfill)
        for start in range(0, len(ids), chunk)
    )


def _request_chunk(
    ids: list[int], reset_failures: bool, enqueue_tasks: bool, backfill: bool
) -> int:
    qs = SyncState.objects.filter(pk__in=ids)
    now = timezone.now()
    # A task on its way: not due for the sweep until SWEEP_STALE_SECONDS have passed.
    # No task: due at once, for the sweep or the caller.
    due = {
        "lease_until": None,
        "lease_owner": "",
        "next_attempt_at": None if enqueue_tasks else now,
        "updated_at": now,
        "lane": SyncLane.BACKFILL if backfill else SyncLane.LIVE,
    }
    # One UPDATE: failed rows reset (with reset_failures), synced rows one version up, and
    # every one of them, like the rows already pending, pending and due as above.
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
        transaction.on_commit(lambda: wake.enqueue(pending))
    return len(pending)
