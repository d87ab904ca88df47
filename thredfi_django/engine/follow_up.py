"""What follows a recorded outcome: a log line at once; signals and wake-ups once it commits.

Nobody hears of an outcome that rolled back. Rows that were blocked on a row just synced wake
here; a row that blocked while its dependency was being pushed looks for the remote id only
after its own BLOCKED commit, so one of the two always sees the other.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from ..models import SyncAttempt, SyncState, SyncStatus, host_model
from ..recording import wake
from ..signals import sync_failed, sync_succeeded
from .results import Push, Release

logger = logging.getLogger("thredfi_django.sync")


def follow_up(pushes: list[Push], releases: list[Release], final: dict[int, str]) -> None:
    synced, due_now = [], []
    later: dict[float, list[int]] = defaultdict(list)
    for push, release in zip(pushes, releases, strict=True):
        pk = push.state.pk
        if pk not in final:
            continue
        if release.synced:
            synced.append(pk)
        if final[pk] == SyncStatus.PENDING:
            if release.countdown is not None and release.status == SyncStatus.PENDING:
                later[release.countdown].append(pk)  # a retry, or a pause that ends by itself
            elif release.result == "paused":
                pass  # woken by the sweep once its pause lifts, not now
            elif release.next_attempt_at is None or release.reopen:
                due_now.append(pk)
        _announce(push, release, final[pk])
    due_now += wake_blocked(synced)
    due_now += _unblock_if_ready([p for p in pushes if p.blocked and p.state.pk in final])
    wake.enqueue(due_now)
    for countdown, ids in sorted(later.items()):
        wake.enqueue(ids, countdown=countdown)


def wake_blocked(state_ids: list[int]) -> list[int]:
    """Rows blocked on any of ``state_ids`` (just synced) go back to pending; returns them. The
    status guard leaves a row another worker has claimed since as it is."""
    if not state_ids:
        return []
    waiting = list(
        SyncState.objects.filter(
            blocked_on_id__in=state_ids, status=SyncStatus.BLOCKED
        ).values_list("pk", flat=True)
    )
    if waiting:
        SyncState.objects.filter(pk__in=waiting, status=SyncStatus.BLOCKED).update(
            status=SyncStatus.PENDING, blocked_on=None, next_attempt_at=None
        )
    return waiting


def _unblock_if_ready(blocked: list[Push]) -> list[int]:
    """Blocked rows whose dependency got its remote id between our look and our commit."""
    woken = []
    for push in blocked:
        dependency = push.blocked.dependency
        if dependency is None or dependency.pk is None:
            continue
        if SyncState.objects.filter(pk=dependency.pk, remote_id__isnull=False).exists():
            if SyncState.objects.filter(
                pk=push.state.pk, status=SyncStatus.BLOCKED, blocked_on=dependency.pk
            ).update(status=SyncStatus.PENDING, blocked_on=None, next_attempt_at=None):
                woken.append(push.state.pk)
    return woken


def log_outcome(push: Push, release: Release, status: str | None) -> None:
    """One log line per push, as it is recorded (``status`` None: the lease was lost)."""
    state = push.state
    if status is None or release.outcome is None:
        return
    if release.outcome == SyncAttempt.Outcome.SKIPPED:
        logger.info("Thredfi %s %s skipped: %s", state.resource, state.object_id, release.message)
    elif release.outcome == SyncAttempt.Outcome.SUCCESS:
        action = push.call.action
        logger.info(
            "Thredfi %s %s %s (%s)", action, state.resource, release.remote_id, state.external_id
        )
    elif release.outcome == SyncAttempt.Outcome.BLOCKED:
        logger.info("Thredfi %s %s blocked: %s", state.resource, state.object_id, release.message)
    else:
        action = push.call.action if push.call is not None else "validate"
        log = logger.warning if status == SyncStatus.PENDING else logger.error
        log(
            "Thredfi %s of %s %s -> %s: %s",
            action,
            state.resource,
            state.object_id,
            status,
            release.message,
        )


def _announce(push: Push, release: Release, status: str) -> None:
    state = push.state
    sender = host_model(state.content_type_id)
    if release.outcome == SyncAttempt.Outcome.SUCCESS:
        sync_succeeded.send(
            sender=sender,
            instance=push.instance,
            state=state,
            remote=push.answer.remote,
            created=push.answer.created,
        )
    elif release.error is not None and release.outcome != SyncAttempt.Outcome.BLOCKED:
        sync_failed.send(
            sender=sender,
            instance=push.instance,
            state=state,
            error=release.error,
            will_retry=status == SyncStatus.PENDING,
        )
