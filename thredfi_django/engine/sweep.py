"""The safety net (Celery beat, or ``manage.py thredfi_sweep``): hands out work nobody is doing.

A lost wake-up (broker down), a worker killed mid-push, or a block whose dependency synced while
nobody looked leave rows that no drain is coming for. The sweep finds them and wakes a worker.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import thredfi_settings
from ..models import OWNER, SyncState, SyncStatus
from ..recording import wake
from ..sql import features
from . import absorb, pauses
from .drain import paused_content_type_ids
from .leases import expired_mark

logger = logging.getLogger("thredfi_django.sync")


def sweep(now: dt.datetime | None = None) -> int:
    """Re-enqueue rows nobody is working on: saves still only marked on their host row, due
    pending rows not picked up within SWEEP_STALE_SECONDS, rows whose lease expired (dead
    worker), and blocked rows whose dependency has synced since. At most SWEEP_LIMIT rows of
    each kind. Returns how many rows were enqueued."""
    if not thredfi_settings.SYNC_ENABLED:
        return 0
    pauses.probe()  # a paused scope lifts once Thredfi takes its credentials again
    limit = int(thredfi_settings.SWEEP_LIMIT)
    absorbed = [state_id for state_id, pending in absorb.absorb_states(limit) if pending]
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=thredfi_settings.SWEEP_STALE_SECONDS)
    paused = paused_content_type_ids()
    # Blocked rows whose dependency now exists remotely (or vanished): back to pending. The
    # status guard leaves alone a row that changed since we looked.
    woken = (
        SyncState.objects.filter(status=SyncStatus.BLOCKED)
        .filter(Q(blocked_on__isnull=True) | Q(blocked_on__remote_id__isnull=False))
        .exclude(content_type_id__in=paused)
        .values_list("pk", flat=True)
    )
    SyncState.objects.filter(pk__in=list(woken[:limit]), status=SyncStatus.BLOCKED).update(
        status=SyncStatus.PENDING, blocked_on=None, next_attempt_at=None, updated_at=stale
    )
    expired = Q(status=SyncStatus.IN_PROGRESS, lease_until__lt=now)
    due = Q(status=SyncStatus.PENDING, lease_until__isnull=True) & (
        Q(next_attempt_at__isnull=True, updated_at__lte=stale) | Q(next_attempt_at__lte=now)
    )
    candidates = SyncState.objects.filter(expired | due).exclude(content_type_id__in=paused)
    paused_businesses = pauses.paused_business_ids()
    if paused_businesses:  # their rows wait for the pause to lift, not in every sweep
        candidates = candidates.annotate(owner=OWNER).exclude(owner__in=paused_businesses)
    # Taking a row = making it "enqueued now": not due again for another SWEEP_STALE_SECONDS.
    touch = {
        "status": SyncStatus.PENDING,
        "next_attempt_at": None,
        "updated_at": now,
        "lease_until": None,
        "lease_owner": "",
        "last_error_kind": expired_mark(),
    }
    taken: list[int] = []
    if features(connections[router.db_for_write(SyncState)]).skip_locked:
        with transaction.atomic():
            ids = list(
                candidates.select_for_update(skip_locked=True)
                .order_by("next_attempt_at", "pk")
                .values_list("pk", flat=True)[:limit]
            )
            SyncState.objects.filter(pk__in=ids).update(**touch)
            taken = ids
    else:
        for pk in candidates.order_by("pk").values_list("pk", flat=True)[:limit]:
            # Compare-and-set: only one sweeper (or worker) wins each row.
            if SyncState.objects.filter(expired | due, pk=pk).update(**touch):
                taken.append(pk)
    seen = set(taken)
    taken = [state_id for state_id in absorbed if state_id not in seen] + taken
    if taken:
        logger.info("Sweep re-enqueued %d Thredfi sync row(s).", len(taken))
    wake.enqueue(taken)
    return len(taken)
