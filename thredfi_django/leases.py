"""Who may push a sync-state row right now: a time-limited lease taken by compare-and-set.

``claim()`` is one UPDATE that only matches a row nobody holds (no lease, or an expired one) and
that is due; one row updated means the caller owns it until ``lease_until``. It works the same
on SQLite and PostgreSQL, needs no Redis lock, and a dead worker's lease simply runs out
(``sweep()`` then re-enqueues the row). Every claim gets its own owner token, so two threads of
one worker never mistake each other's lease for their own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from .conf import thredfi_settings
from .models import SyncState, SyncStatus

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
    """One transaction of the engine's own records: everything a push's outcome writes (host
    ``thredfi_id``, the row's release, the attempt and its history trim) commits at once."""
    # savepoint=False: inside a caller's transaction these writes simply join it, as they did
    # before there was a block here (no extra SAVEPOINT round trips).
    with transaction.atomic(using=router.db_for_write(SyncState), savepoint=False):
        yield


def claim(state_id: int, worker: str = "", now: dt.datetime | None = None) -> str | None:
    """Take the lease on a row. Returns the owner token, or None if someone else has it (or
    the row is not due, not pending, or gone)."""
    now = now or timezone.now()
    token = f"{worker or 'local'}/{uuid.uuid4().hex[:8]}"[-100:]
    updated = SyncState.objects.filter(claimable(now), pk=state_id).update(
        status=SyncStatus.IN_PROGRESS,
        lease_until=now + dt.timedelta(seconds=thredfi_settings.LEASE_SECONDS),
        lease_owner=token,
        updated_at=now,
    )
    return token if updated == 1 else None


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
