"""The engine's entry points in a worker: push one row, drain everything due, dry runs.

``drain`` is what a woken worker runs: take saves in (``absorb``), claim a batch (``leases``),
push it (``pipeline``), until nothing is due or DRAIN_TIME_LIMIT has passed; then it hands over
to a new drain task so one worker never hogs the queue. A drain that finds a full batch due asks
for one more drain at once, so one wake-up spreads a backlog over every idle process. "Nothing is
due" is decided after the last wave is recorded, so saves that commit while it is in flight need
no new task and wait for none. ``sync_state`` pushes one row the same way (a pipeline of one
row). Errors decide each row's next state (``outcomes``); nothing here raises for a failed push.
"""

from __future__ import annotations

import logging
import time

from django.apps import apps
from django.contrib.contenttypes.models import ContentType

from ..conf import thredfi_settings
from ..models import OWNER, SyncOperation, SyncState, host_model
from ..recording import wake
from . import absorb, leases, pauses
from .pipeline import Pipeline, push_one
from .plan import plan_delete, preview
from .results import SyncResult

logger = logging.getLogger("thredfi_django.sync")


def sync_state(state_id: int, *, worker: str = "", dry_run: bool = False) -> SyncResult:
    """Push one row. Never raises for a failed push; the result and the row say what happened.
    ``dry_run`` sends and changes nothing and returns the request."""
    if dry_run:
        state = SyncState.objects.filter(pk=state_id).first()
        if state is None:
            return SyncResult(state_id, "missing", message="No such sync state.")
        return _dry_run(state)
    if not thredfi_settings.SYNC_ENABLED:
        return SyncResult(state_id, "paused", message="THREDFI['SYNC_ENABLED'] is False.")
    paused = pauses.all_pauses()
    if pauses.CREDENTIALS in paused:
        reason = paused[pauses.CREDENTIALS]["reason"]
        return SyncResult(state_id, "paused", message=f"Paused: {reason}")
    businesses = pauses.paused_business_ids()
    if (
        businesses
        and SyncState.objects.filter(pk=state_id)
        .annotate(owner=OWNER)
        .filter(owner__in=businesses)
        .exists()
    ):
        return SyncResult(state_id, "paused", message="Its business is paused.")
    if thredfi_settings.PAUSED_MODELS:
        ct_id = SyncState.objects.filter(pk=state_id).values_list("content_type_id", flat=True)
        if ct_id and ct_id[0] in paused_content_type_ids():
            label = host_model(ct_id[0])._meta.label
            return SyncResult(state_id, "paused", message=f"{label} is paused.")
    return push_one(state_id, worker)


def drain(worker: str = "", *, batch: int | None = None, time_limit: float | None = None) -> int:
    """Push everything that is due, ``batch`` rows at a time (DRAIN_BATCH), until nothing is
    left or ``time_limit`` seconds (DRAIN_TIME_LIMIT) have passed. Returns rows handled."""
    if not thredfi_settings.SYNC_ENABLED:
        return 0
    batch = batch or int(thredfi_settings.DRAIN_BATCH)
    limit = thredfi_settings.DRAIN_TIME_LIMIT if time_limit is None else time_limit
    deadline = time.monotonic() + float(limit)
    paused_models = paused_content_type_ids()
    handled = 0
    helper_asked = False
    with Pipeline(worker) as pipeline:
        while True:
            paused = pauses.all_pauses()
            if pauses.CREDENTIALS in paused:
                # Every push would be refused the same way; the sweep probes the credentials
                # and wakes a drain once the pause lifts.
                break
            loaded: dict = {}  # the objects absorbed, so the push need not load them again
            absorb.absorb(batch, loaded=loaded)
            claimed = leases.claim(
                worker,
                batch,
                exclude_content_types=paused_models,
                exclude_businesses=pauses.business_ids(paused),
            )
            if not claimed:
                if not pipeline.in_flight:
                    break
                # Saves that commit while a wave is in flight are taken in by this drain,
                # once it is recorded, rather than by the next drain task.
                pipeline.settle()
                continue
            handled += len(claimed)
            if len(claimed) >= batch and not helper_asked:
                # A full batch was due, so maybe more is: one more drain, so an idle process
                # joins in. It asks for the next, and so on until every process is busy or the
                # rows run out.
                helper_asked = wake.send_task(wake.DRAIN_TASK)
            pipeline.push(claimed, loaded)
            if time.monotonic() >= deadline:
                # The next drain goes to the back of the queue, even with a helper asked for:
                # the helper may have ended before rows fell due without a wake (a lease ran
                # out, a pause lifted).
                wake.send_task(wake.DRAIN_TASK)
                break
    if handled:
        outcomes = ", ".join(f"{name} {n}" for name, n in sorted(pipeline.outcomes.items()))
        logger.info("Drain handled %d Thredfi row(s): %s.", handled, outcomes)
    return handled


def paused_content_type_ids() -> list[int]:
    """Content types of the models named in PAUSED_MODELS."""
    if not thredfi_settings.PAUSED_MODELS:
        return []
    models = [apps.get_model(label) for label in thredfi_settings.PAUSED_MODELS]
    return [ct.pk for ct in ContentType.objects.get_for_models(*models).values()]


def _dry_run(state: SyncState) -> SyncResult:
    model = host_model(state.content_type_id)
    instance = None
    if model is not None and state.operation == SyncOperation.UPSERT:
        instance = model.get_thredfi_queryset().filter(pk=state.object_id).first()
    if instance is None:
        business = state.business
        call = plan_delete(
            state.resource,
            str(state.remote_id) if state.remote_id else None,
            str(business.remote_id) if business and business.remote_id else None,
            state.external_id,
            state.remote_status,
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
