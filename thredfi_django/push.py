"""One push of one sync-state row (the engine's inner loop; ``sync.sync_state`` drives it).

Dependencies are synced *inline*, in the same task, each under its own lease: an invoice whose
customer is new costs one task and two requests instead of a blocked row, a second task and a
wake-up. Errors decide the next state from the typed exception's ``transient`` flag.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from . import backoff, leases, operations, outbox
from .conf import thredfi_settings
from .exceptions import ThredfiError, ThredfiLocalValidationError
from .models import SyncAttempt, SyncOperation, SyncState, SyncStatus
from .redaction import redact
from .signals import sync_failed, sync_succeeded

logger = logging.getLogger("thredfi_django.sync")

#: Retries due within this many seconds get a Celery countdown task; later ones the sweep.
COUNTDOWN_LIMIT = 900
#: business → customer → invoice → payment is 3 levels; leave room for host-defined chains.
MAX_DEPENDENCY_DEPTH = 6


@dataclass
class SyncResult:
    """What one ``sync_state`` call did. ``outcome``: synced, skipped, dry_run, paused,
    not_claimed, missing, blocked, retry, failed, needs_attention."""

    state_id: int
    outcome: str
    status: str | None = None
    remote_id: str | None = None
    message: str = ""
    requests: int = 0
    request: dict[str, Any] | None = None
    field_errors: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in ("synced", "skipped", "dry_run")


class _Blocked(Exception):
    def __init__(self, dependency: SyncState | None, message: str):
        self.dependency = dependency
        super().__init__(message)


# --------------------------------------------------------------------------------------------
# One push
# --------------------------------------------------------------------------------------------


class Push:
    """Pushes one claimed row: plan, dependencies, request, outcome, bookkeeping."""

    def __init__(self, state: SyncState, token: str, worker: str, now, depth: int):
        self.state = state
        self.token = token
        self.worker = worker
        self.started = now
        self.depth = depth
        self.version = state.version
        self.model = _model(state.content_type_id)
        self.instance: Any = None
        self.business_state: SyncState | None = None
        self.requests = 0

    def run(self) -> SyncResult:
        state = self.state
        call = None
        try:
            if self.model is None:
                raise ThredfiLocalValidationError(
                    "The model of this object is no longer installed.", {}
                )
            if state.operation == SyncOperation.UPSERT:
                self.instance = self.model.get_thredfi_queryset().filter(pk=state.object_id).first()
            if self.instance is None:
                call = self._plan_delete()
            else:
                call = self._plan_upsert()
            if call.action in ("skip", "cannot"):
                return self._finish_without_request(call)
            outcome = operations.execute(_client(), call)
            self.requests += outcome.requests
        except _Blocked as blocked:
            return self._blocked(blocked)
        except Exception as err:  # a bug in a host hook must not kill the worker loop either
            return self.record_error(err, call)
        return self._succeeded(call, outcome)

    def record_error(self, err: BaseException, call) -> SyncResult:
        """Record a failed push: a typed Thredfi error as it says (transient or not); anything
        else (a bug in a host hook) logged with its traceback and recorded as an error."""
        if isinstance(err, ThredfiError):
            self.requests += 1 if getattr(err, "status_code", None) or err.transient else 0
            return self._failed(err, call)
        state = self.state
        logger.error(
            "Unexpected error syncing %s %s", state.resource, state.object_id, exc_info=err
        )
        wrapped = ThredfiError(f"{type(err).__name__}: {err}")
        wrapped.__cause__ = err
        return self._failed(wrapped, call)

    # -- planning ------------------------------------------------------------------------

    def _plan_upsert(self) -> operations.RemoteCall:
        instance = self.instance
        instance.validate_for_thredfi()
        business_id = None
        if instance.thredfi_resource != "business":
            business = instance.get_thredfi_business()
            business_id = self._ensure(business)
            if self.state.business_id is None:
                # Keep the business on the row: after a delete it is how we know where the
                # remote record lives (one query, only for rows recorded before their business).
                self.business_state = outbox.state_for(business)
        for dependency in instance.get_thredfi_dependencies():
            self._ensure(dependency)
        if self.requests:
            # Dependencies were pushed inline (each may take up to the HTTP timeout): make sure
            # our own lease outlives the request we are about to send.
            leases.renew(self.state.pk, self.token)
        parent_id = _rid(_parent(instance))
        # The sync state is the source of truth for the remote id: a host that saved a stale
        # copy of the object (thredfi_id None in memory) has wiped its column; _store_remote_id
        # writes it back.
        remote_id = str(self.state.remote_id) if self.state.remote_id else _rid(instance)
        return operations.plan_upsert(instance, remote_id, business_id, parent_id)

    def _store_remote_id(self, remote_id: str | None) -> None:
        """Write the remote id onto the host row when it is missing or different."""
        instance = self.instance
        if instance is None or not remote_id or str(instance.thredfi_id) == str(remote_id):
            return
        # update(), not save(): no signal, so no new outbox row.
        self.model._default_manager.filter(pk=instance.pk).update(thredfi_id=remote_id)
        instance.thredfi_id = uuid.UUID(str(remote_id))

    def _plan_delete(self) -> operations.RemoteCall:
        state = self.state
        business = state.business
        business_id = str(business.remote_id) if business and business.remote_id else None
        remote_id = str(state.remote_id) if state.remote_id else None
        call = operations.plan_delete(state.resource, remote_id, business_id, state.external_id)
        if call.action in ("void", "archive") and not business_id:
            call.action = "cannot"
            call.message = "The business of this deleted object is unknown; cannot remove it."
        return call

    def _ensure(self, dependency: Any) -> str:
        """The remote id of ``dependency``, syncing it first (inline) when it has none."""
        if dependency.thredfi_id:
            return str(dependency.thredfi_id)
        dep_state = outbox.state_for(dependency)
        if dep_state is None:
            # Created before thredfi_django was installed, or via bulk_create: record it now.
            with transaction.atomic():
                dep_state = outbox.mark_dirty(dependency, schedule=False)
            dep_state = SyncState.objects.get(pk=dep_state.pk)
        label = f"{dep_state.resource} {dep_state.label or dep_state.object_id}"
        if dep_state.remote_id is None:
            if dep_state.status not in leases.CLAIMABLE:
                raise _Blocked(dep_state, f"Waiting for {label}, which is {dep_state.status}.")
            if self.depth >= MAX_DEPENDENCY_DEPTH:
                raise _Blocked(dep_state, f"Dependency chain too deep at {label}.")
            from .sync import sync_state  # the same entry point a task uses, one level deeper

            result = sync_state(dep_state.pk, worker=self.worker, _depth=self.depth + 1)
            self.requests += result.requests
            if not result.remote_id:
                why = result.message or result.outcome
                raise _Blocked(dep_state, f"Waiting for {label}: {why}")
            dep_state.remote_id = result.remote_id
        dependency.thredfi_id = uuid.UUID(str(dep_state.remote_id))
        return str(dep_state.remote_id)

    # -- outcomes ------------------------------------------------------------------------

    def _succeeded(self, call, outcome: operations.Outcome) -> SyncResult:
        state, now = self.state, timezone.now()
        remote_id = outcome.remote.get("id") or (str(state.remote_id) if state.remote_id else None)
        changes = _cleared_error(
            synced_version=self.version,
            remote_id=remote_id,
            attempts=0,
            next_attempt_at=None,
            blocked_on=None,
            last_synced_at=now,
        )
        if self.business_state is not None:
            changes["business"] = self.business_state
        status = SyncStatus.SYNCED
        # The outcome is one commit. A crash before it leaves the row in progress under a lease
        # that runs out; the next push adopts the remote record by external_id.
        with leases.bookkeeping():
            self._store_remote_id(remote_id)
            if not leases.release_if_version(
                state.pk, self.token, self.version, status=status, **changes
            ):
                # Saved again during the push: still dirty, push once more.
                status = SyncStatus.PENDING
                if leases.release(state.pk, self.token, status=status, **changes):
                    transaction.on_commit(lambda: outbox.enqueue([state.pk]))
                else:
                    logger.warning("Lost the lease on %s while pushing it.", state)
                    SyncState.objects.filter(pk=state.pk, remote_id__isnull=True).update(
                        remote_id=remote_id
                    )
            self._attempt(SyncAttempt.Outcome.SUCCESS, call.action)
        # After the commit, not in it: a row that blocked on this one commits BLOCKED and then
        # looks whether we have a remote id; looking for it here, once ours is committed, means
        # one of the two always sees the other (no waiter is left for the sweep).
        self._wake_blocked()
        logger.info(
            "Thredfi %s %s %s (%s)", call.action, state.resource, remote_id, state.external_id
        )
        sync_succeeded.send(
            sender=self.model,
            instance=self.instance,
            state=state,
            remote=outcome.remote,
            created=outcome.created,
        )
        return SyncResult(state.pk, "synced", status, remote_id, requests=self.requests)

    def _finish_without_request(self, call) -> SyncResult:
        state = self.state
        if call.action == "cannot":
            err = ThredfiLocalValidationError(call.message, {})
            err.kind = "unsupported"
            return self._failed(err, call)
        changes = dict(synced_version=self.version, attempts=0, next_attempt_at=None)
        with leases.bookkeeping():
            self._store_remote_id(str(state.remote_id) if state.remote_id else None)
            if not leases.release_if_version(
                state.pk, self.token, self.version, status=SyncStatus.SYNCED, **changes
            ):
                leases.release(state.pk, self.token, status=SyncStatus.PENDING, **changes)
                transaction.on_commit(lambda: outbox.enqueue([state.pk]))
            self._attempt(SyncAttempt.Outcome.SKIPPED, call.action, message=call.message)
        logger.info("Thredfi %s %s skipped: %s", state.resource, state.object_id, call.message)
        remote = str(state.remote_id) if state.remote_id else None
        return SyncResult(state.pk, "skipped", SyncStatus.SYNCED, remote, call.message)

    def _blocked(self, blocked: _Blocked) -> SyncResult:
        state, message = self.state, str(blocked)
        dependency = blocked.dependency
        with leases.bookkeeping():
            leases.release(
                state.pk,
                self.token,
                status=SyncStatus.BLOCKED,
                blocked_on=dependency,
                last_error_kind="blocked",
                last_error_status=None,
                last_error_code="",
                last_error_message=message[:2000],
                last_error_fields={},
                last_error_at=timezone.now(),
            )
            self._attempt(SyncAttempt.Outcome.BLOCKED, "dependency", message=message)
        logger.info("Thredfi %s %s blocked: %s", state.resource, state.object_id, message)
        if dependency is not None and dependency.pk:
            # The dependency may have synced (and woken its waiters) between our look at it
            # and our BLOCKED write; then nobody would wake us before the next sweep. Looked at
            # only after BLOCKED is committed (the dependency's push looks for waiters only
            # after its remote id is committed), so one of the two sees the other.
            if SyncState.objects.filter(pk=dependency.pk, remote_id__isnull=False).exists():
                woken = SyncState.objects.filter(pk=state.pk, status=SyncStatus.BLOCKED).update(
                    status=SyncStatus.PENDING, blocked_on=None, next_attempt_at=None
                )
                if woken:
                    transaction.on_commit(lambda: outbox.enqueue([state.pk]))
        return SyncResult(state.pk, "blocked", SyncStatus.BLOCKED, message=message)

    def _failed(self, err: BaseException, call) -> SyncResult:
        state, now = self.state, timezone.now()
        attempts = state.attempts + 1
        message = redact(str(err) or type(err).__name__)
        fields = getattr(err, "field_errors", None) or {}
        kind = getattr(err, "kind", "error")
        changes = dict(
            attempts=attempts,
            last_error_kind=kind[:32],
            last_error_status=getattr(err, "status_code", None),
            last_error_code=(getattr(err, "error_code", None) or "")[:100],
            last_error_message=message[:2000],
            last_error_fields=fields,
            last_error_at=now,
        )
        adopted = getattr(err, "adopted_remote_id", None)
        if adopted and not state.remote_id:
            # A create adopted an existing record, then its update failed: keep the id so the
            # next attempt updates that record instead of creating (and adopting) it again.
            changes["remote_id"] = adopted
        will_retry = bool(getattr(err, "transient", False))
        outcome = SyncAttempt.Outcome.TRANSIENT_ERROR
        countdown = None
        action = call.action if call is not None else "validate"
        with leases.bookkeeping():
            if "remote_id" in changes:
                self._store_remote_id(str(adopted))
            if will_retry and attempts < thredfi_settings.MAX_ATTEMPTS:
                delay = backoff.next_delay(attempts, getattr(err, "retry_after", None))
                status, result = SyncStatus.PENDING, "retry"
                changes["next_attempt_at"] = now + dt.timedelta(seconds=delay)
                countdown = delay if delay <= COUNTDOWN_LIMIT else None
                released = leases.release(state.pk, self.token, status=status, **changes)
            elif will_retry:
                will_retry = False
                status, result = SyncStatus.FAILED, "failed"
                released = leases.release(state.pk, self.token, status=status, **changes)
            else:
                outcome = SyncAttempt.Outcome.PERMANENT_ERROR
                status, result = SyncStatus.NEEDS_ATTENTION, "needs_attention"
                released = leases.release_if_version(
                    state.pk, self.token, self.version, status=status, **changes
                )
                if not released:
                    # A save arrived during the push and may have fixed the problem: try it.
                    status, result, will_retry, countdown = SyncStatus.PENDING, "retry", True, 0
                    changes.update(attempts=0, next_attempt_at=None)
                    released = leases.release(state.pk, self.token, status=status, **changes)
            if released and countdown is not None:
                transaction.on_commit(lambda: outbox.enqueue([state.pk], countdown=countdown))
            self._attempt(outcome, action, error=err, message=message)
        log = logger.warning if will_retry else logger.error
        log(
            "Thredfi %s of %s %s -> %s: %s",
            action,
            state.resource,
            state.object_id,
            status,
            message,
        )
        sync_failed.send(
            sender=self.model, instance=self.instance, state=state, error=err, will_retry=will_retry
        )
        return SyncResult(
            state.pk, result, status, message=message, requests=self.requests, field_errors=fields
        )

    # -- bookkeeping ---------------------------------------------------------------------

    def _attempt(self, outcome: str, action: str, *, error=None, message: str = "") -> None:
        state = self.state
        SyncAttempt.objects.create(
            state_id=state.pk,
            started_at=self.started,
            finished_at=timezone.now(),
            outcome=outcome,
            operation=action[:20],
            version=self.version,
            http_status=getattr(error, "status_code", None),
            error_kind=(getattr(error, "kind", "") or "")[:32] if error else "",
            error_code=(getattr(error, "error_code", None) or "")[:100] if error else "",
            message=message[:2000],
            field_errors=(getattr(error, "field_errors", None) or {}) if error else {},
            worker=self.worker[:100],
        )
        # sync_state() loads how many attempts the row had; with this one, is it over the cap?
        # (Unknown: trim anyway.) A push that lost its lease also writes its attempt, so the
        # count can be one short; the next push of the row trims what that left.
        trim_history(state)

    def _wake_blocked(self) -> None:
        wake_blocked([self.state.pk])


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def wake_blocked(state_ids: list[int]) -> None:
    """Rows blocked on any of ``state_ids`` (just synced) go back to pending and are enqueued
    after commit."""
    waiting = list(
        SyncState.objects.filter(
            blocked_on_id__in=state_ids, status=SyncStatus.BLOCKED
        ).values_list("pk", flat=True)
    )
    if waiting:
        SyncState.objects.filter(pk__in=waiting, status=SyncStatus.BLOCKED).update(
            status=SyncStatus.PENDING, blocked_on=None, next_attempt_at=None
        )
        transaction.on_commit(lambda: outbox.enqueue(waiting))


def trim_history(state: SyncState) -> None:
    """Keep the newest ATTEMPT_HISTORY attempt rows of ``state``, once its new attempt (just
    written) takes it over the cap. ``state.attempts_recorded`` is the count the claim loaded;
    unknown: trim anyway."""
    recorded = getattr(state, "attempts_recorded", None)
    if recorded is not None and recorded + 1 <= thredfi_settings.ATTEMPT_HISTORY:
        return
    keep = SyncAttempt.objects.filter(state_id=state.pk).order_by("-started_at", "-id")
    keep = keep.values("pk")[: thredfi_settings.ATTEMPT_HISTORY]
    SyncAttempt.objects.filter(state_id=state.pk).exclude(pk__in=Subquery(keep)).delete()


def _client():
    from .client import get_client

    return get_client()


def _model(content_type_id: int | None):
    if content_type_id is None:
        return None
    return ContentType.objects.get_for_id(content_type_id).model_class()


def _rid(obj: Any) -> str | None:
    return str(obj.thredfi_id) if obj is not None and obj.thredfi_id else None


def _parent(instance: Any) -> Any:
    """The object whose remote id goes into the path (a refund payment's refund)."""
    parent = operations.PARENT_RESOURCE.get(instance.thredfi_resource)
    if parent is None:
        return None
    fk = instance._thredfi_fk_to(parent)
    return getattr(instance, fk.name) if fk is not None else None


def _cleared_error(**changes: Any) -> dict[str, Any]:
    return {
        "last_error_kind": "",
        "last_error_status": None,
        "last_error_code": "",
        "last_error_message": "",
        "last_error_fields": {},
        "last_error_at": None,
        **changes,
    }
