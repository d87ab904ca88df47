"""The sync engine's public API: push one row, preview a push, sweep for forgotten work.

``sync_state(id)``: claim the row's lease → load the host object → validate it locally → make
sure its business and dependencies exist remotely (syncing them first, inline) → build the
request → call the client → adopt the remote id → release the lease (synced, or pending again
if a save arrived meanwhile) → record an attempt → send a signal.

Dependencies are synced *inline*, in the same task, each under its own lease: an invoice whose
customer is new costs one task and two requests instead of a blocked row, a second task and a
wake-up. A dependency that cannot be synced now (failed, needs attention, another worker holds
it, waiting out a backoff) makes the object BLOCKED on it; a dependency's successful sync wakes
every row blocked on it, and ``sweep()`` wakes any that slipped through.

Errors decide the next state from the typed exception's ``transient`` flag: transient → pending
with exponential backoff (Retry-After wins; a countdown task is sent for delays up to
``COUNTDOWN_LIMIT`` and the sweep covers longer ones) until MAX_ATTEMPTS → failed; permanent (and
local validation) → needs attention at once, with the field errors stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import inbox, kick, leases, operations, outbox
from .batch import Pipeline
from .conf import thredfi_settings
from .exceptions import ThredfiLocalValidationError
from .models import SyncOperation, SyncState, SyncStatus
from .push import Push, SyncResult, _model, _parent, _rid
from .redaction import redact

__all__ = ["SyncResult", "drain", "preview", "redact", "sweep", "sync_state"]

logger = logging.getLogger("thredfi_django.sync")

#: Rows one sweep takes at most (per synced model for markers, in all for stale rows).
SWEEP_LIMIT = 5000

# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def sync_state(
    state_id: int, *, worker: str = "", dry_run: bool = False, _depth: int = 0
) -> SyncResult:
    """Push one row (see module docstring). Never raises for a failed push; the result and the
    row say what happened. ``dry_run`` sends and changes nothing and returns the request."""
    if dry_run:
        state = SyncState.objects.filter(pk=state_id).first()
        if state is None:
            return SyncResult(state_id, "missing", message="No such sync state.")
        return _dry_run(state)
    if not thredfi_settings.SYNC_ENABLED:
        return SyncResult(state_id, "paused", message="THREDFI['SYNC_ENABLED'] is False.")
    if thredfi_settings.PAUSED_MODELS:
        ct_id = SyncState.objects.filter(pk=state_id).values_list("content_type_id", flat=True)
        model = _model(ct_id.first()) if ct_id else None
        if model is not None and _is_paused(model):
            return SyncResult(state_id, "paused", message=f"{model._meta.label} is paused.")
    now = timezone.now()
    # One statement claims the lease and loads the row, with how many attempts it has on
    # record (the push trims the history only when this attempt takes it over the cap).
    claimed = leases.claim_and_load(state_id, worker, now)
    if claimed is None:
        return SyncResult(state_id, "not_claimed", message="Not due, or another worker has it.")
    token, state = claimed
    return Push(state, token, worker, now, _depth).run()


def drain(worker: str = "", *, batch: int | None = None, time_limit: float | None = None) -> int:
    """Push everything that is due, ``batch`` rows at a time (DRAIN_BATCH), until nothing is
    left or ``time_limit`` seconds (DRAIN_TIME_LIMIT) have passed; then hand over to a new
    drain task so one worker never hogs the queue. Each batch is claimed in one statement and
    pushed together (``batch.Pipeline``). Returns how many rows were handled."""
    if not thredfi_settings.SYNC_ENABLED:
        return 0
    batch = batch or int(thredfi_settings.DRAIN_BATCH)
    limit = thredfi_settings.DRAIN_TIME_LIMIT if time_limit is None else time_limit
    deadline = time.monotonic() + float(limit)
    paused = _paused_content_type_ids()
    handled = 0
    # While one batch's requests are in flight, the next batch is absorbed, claimed, loaded
    # and planned (batch.Pipeline); leaving the block records whatever is still in flight.
    with Pipeline(worker) as pipeline:
        while True:
            loaded: dict = {}  # the objects absorbed, so the push need not load them again
            inbox.absorb(batch, loaded=loaded)  # saves marked on their rows become pending rows
            claimed = leases.claim_batch(worker, batch, exclude_content_types=paused)
            if not claimed:
                break
            handled += len(claimed)
            pipeline.push(claimed, loaded)
            if time.monotonic() >= deadline:
                kick.publish()  # more may be due: the next drain goes to the back of the queue
                break
    if handled:
        outcomes = ", ".join(f"{name} {n}" for name, n in sorted(pipeline.outcomes.items()))
        logger.info("Drain handled %d Thredfi row(s): %s.", handled, outcomes)
    return handled


def preview(instance: Any) -> dict[str, Any]:
    """What the next push of ``instance`` would send (method, path, payload), without sending
    or changing anything. Includes ``errors`` (local validation) when it would not be sent."""
    business = instance.get_thredfi_business()
    business_id = _rid(business) if instance.thredfi_resource != "business" else None
    parent_id = _rid(_parent(instance))
    call = operations.plan_upsert(instance, _rid(instance), business_id, parent_id)
    result = call.describe()
    try:
        instance.validate_for_thredfi()
        result["errors"] = {}
    except ThredfiLocalValidationError as err:
        result["errors"] = err.field_errors
    return result


def sweep(now: dt.datetime | None = None) -> int:
    """Re-enqueue rows nobody is working on: saves still only marked on their host row (their
    drain kick was lost), due pending rows not picked up within SWEEP_STALE_SECONDS, rows whose
    lease expired (dead worker), and blocked rows whose dependency has synced since. Returns
    how many rows were enqueued."""
    if not thredfi_settings.SYNC_ENABLED:
        return 0
    absorbed = [
        state_id for state_id, became_pending in inbox.absorb_states(SWEEP_LIMIT) if became_pending
    ]
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=thredfi_settings.SWEEP_STALE_SECONDS)
    paused = _paused_content_type_ids()
    # Blocked rows whose dependency now exists remotely (or vanished): back to pending.
    woken = (
        SyncState.objects.filter(status=SyncStatus.BLOCKED)
        .filter(Q(blocked_on__isnull=True) | Q(blocked_on__remote_id__isnull=False))
        .exclude(content_type_id__in=paused)
        .values_list("pk", flat=True)
    )
    SyncState.objects.filter(pk__in=list(woken)).update(
        status=SyncStatus.PENDING, blocked_on=None, next_attempt_at=None, updated_at=stale
    )
    expired = Q(status=SyncStatus.IN_PROGRESS, lease_until__lt=now)
    due = Q(status=SyncStatus.PENDING, lease_until__isnull=True) & (
        Q(next_attempt_at__isnull=True, updated_at__lte=stale) | Q(next_attempt_at__lte=now)
    )
    candidates = SyncState.objects.filter(expired | due).exclude(content_type_id__in=paused)
    # Taking a row = making it "enqueued now": not due again for another SWEEP_STALE_SECONDS.
    touch = {"status": SyncStatus.PENDING, "next_attempt_at": None, "updated_at": now}
    touch.update(lease_until=None, lease_owner="")
    taken: list[int] = []
    if _is_postgres():
        with transaction.atomic():
            ids = list(
                candidates.select_for_update(skip_locked=True)
                .order_by("next_attempt_at", "pk")
                .values_list("pk", flat=True)[:SWEEP_LIMIT]
            )
            SyncState.objects.filter(pk__in=ids).update(**touch)
            taken = ids
    else:
        for pk in candidates.order_by("pk").values_list("pk", flat=True)[:SWEEP_LIMIT]:
            # Compare-and-set: only one sweeper (or worker) wins each row.
            if SyncState.objects.filter(expired | due, pk=pk).update(**touch):
                taken.append(pk)
    taken = [state_id for state_id in absorbed if state_id not in set(taken)] + taken
    if taken:
        logger.info("Sweep re-enqueued %d Thredfi sync row(s).", len(taken))
    outbox.enqueue(taken)
    return len(taken)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _dry_run(state: SyncState) -> SyncResult:
    model = _model(state.content_type_id)
    instance = None
    if model is not None and state.operation == SyncOperation.UPSERT:
        instance = model.get_thredfi_queryset().filter(pk=state.object_id).first()
    if instance is None:
        business = state.business
        call = operations.plan_delete(
            state.resource,
            str(state.remote_id) if state.remote_id else None,
            str(business.remote_id) if business and business.remote_id else None,
            state.external_id,
        )
        request = call.describe()
    else:
        request = preview(instance)
    return SyncResult(
        state.pk,
        "dry_run",
        state.status,
        str(state.remote_id) if state.remote_id else None,
        request=request,
        field_errors=request.get("errors") or {},
    )


def _is_paused(model) -> bool:
    labels = {str(label).lower() for label in thredfi_settings.PAUSED_MODELS}
    return model._meta.label_lower in labels


def _paused_content_type_ids() -> list[int]:
    if not thredfi_settings.PAUSED_MODELS:
        return []
    from django.apps import apps

    models = [apps.get_model(label) for label in thredfi_settings.PAUSED_MODELS]
    return [ct.pk for ct in ContentType.objects.get_for_models(*models).values()]


def _is_postgres() -> bool:
    from django.db import connections

    return connections[SyncState.objects.db].vendor == "postgresql"
