"""Recording what happened to pushed rows: one function, :func:`record`, for every outcome.

A push ends synced (or skipped: nothing to send), retried later (transient error), failed
(transient errors exhausted), needing attention (permanent error), blocked on a dependency, or
not sent (its lease ran short). Whatever the mix, a wave's outcomes are one transaction: host
``thredfi_id`` where it changed, the rows' release in one statement, their attempt rows in one
more. The release is a compare-and-set on the lease and the version, so:

- a row whose lease another worker holds now is left alone (its remote id kept at least);
- a save that arrived during the push keeps the row pending, whatever the outcome but a
  backoff or a block: that save may be the fix, and it was never pushed.

Each push gets a log line; signals and wake-ups follow the commit (``follow_up``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Subquery
from django.utils import timezone

from ..conf import thredfi_settings
from ..exceptions import ThredfiError, ThredfiLocalValidationError
from ..models import SyncAttempt, SyncState, SyncStatus
from ..redaction import redact
from ..sql import insert_rows, update_rows
from . import backoff, pauses
from .follow_up import follow_up, log_outcome
from .plan import UNSURE, Blocked, status_after
from .results import Push, Release, SyncResult

logger = logging.getLogger("thredfi_django.sync")


def record(pushes: list[Push], worker: str) -> list[SyncResult]:
    """Record the outcome of each push (see the module docstring). Returns their results."""
    if not pushes:
        return []
    now = timezone.now()
    releases = [_release_for(push, now) for push in pushes]
    with transaction.atomic(using=router.db_for_write(SyncState), savepoint=False):
        _store_remote_ids(pushes, releases)
        final = _release(pushes, releases, now)
        _insert_attempts(pushes, releases, now, worker)
        _trim_history([p.state for p, r in zip(pushes, releases, strict=True) if r.outcome])
        transaction.on_commit(lambda: follow_up(pushes, releases, final))
    for push, release in zip(pushes, releases, strict=True):
        log_outcome(push, release, final.get(push.state.pk))
    return [_result(p, r, final) for p, r in zip(pushes, releases, strict=True)]


def _release_for(push: Push, now: dt.datetime) -> Release:
    state = push.state
    if push.not_sent:
        # The lease ran short before the request went out: nothing happened; try again soon.
        return Release(
            SyncStatus.PENDING, None, reopen=False, attempts=state.attempts, result="deferred"
        )
    if push.blocked is not None:
        dependency = push.blocked.dependency
        return Release(
            SyncStatus.BLOCKED,
            SyncAttempt.Outcome.BLOCKED,
            reopen=True,  # a save during the push may have changed what it waits for
            attempts=state.attempts,
            blocked_on_id=dependency.pk if dependency is not None else None,
            error=_blocked_error(push.blocked),
            message=str(push.blocked),
            result="blocked",
        )
    if push.error is not None:
        err = _as_thredfi_error(push)
        scope = pauses.scope_of(err, state)
        if scope is not None:
            # Not this row's fault: it waits, pending, while its scope is paused.
            seconds = pauses.seconds_of(err)
            pauses.pause(scope, redact(str(err)), seconds)
            return Release(
                SyncStatus.PENDING,
                SyncAttempt.Outcome.TRANSIENT_ERROR,
                reopen=False,
                attempts=state.attempts,
                next_attempt_at=now + dt.timedelta(seconds=seconds) if seconds else None,
                countdown=seconds,
                error=err,
                message=redact(str(err) or type(err).__name__),
                result="paused",
            )
        return _failure(push, err, now)
    if push.call is not None and push.call.action == "cannot" and push.answer is None:
        err = ThredfiLocalValidationError(push.call.message, {})
        err.kind = "unsupported"
        return _failure(push, err, now)
    if push.answer is None:
        if push.call is None or push.call.action != "skip":
            raise RuntimeError(f"{state} is being recorded before its request has finished.")
        return Release(
            SyncStatus.SYNCED,
            SyncAttempt.Outcome.SKIPPED,
            synced=True,
            remote_id=str(state.remote_id) if state.remote_id else None,
            # A change Thredfi has no update for: synced, but Thredfi keeps the old data.
            stale=bool(push.call and push.call.remote_id and state.operation == "upsert"),
            message=push.call.message if push.call else "",
            result="skipped",
        )
    remote_id = push.answer.remote.get("id") or (str(state.remote_id) if state.remote_id else None)
    return Release(
        SyncStatus.SYNCED,
        SyncAttempt.Outcome.SUCCESS,
        synced=True,
        remote_id=remote_id,
        stale=False if push.call.action == "create" else None,
        remote_status=status_after(push.call),
        document_digest=push.call.document_digest,
    )


def _failure(push: Push, err: ThredfiError, now: dt.datetime) -> Release:
    attempts = push.state.attempts + 1
    release = Release(
        SyncStatus.NEEDS_ATTENTION,
        SyncAttempt.Outcome.PERMANENT_ERROR,
        attempts=attempts,
        remote_id=getattr(err, "adopted_remote_id", None),
        error=err,
        message=redact(str(err) or type(err).__name__),
        result="needs_attention",
    )
    if err.transient:
        release.outcome = SyncAttempt.Outcome.TRANSIENT_ERROR
        if push.call is not None and push.call.archived is not None:
            # An archive or unarchive may have happened without our hearing of it.
            release.remote_status = UNSURE
        if attempts < thredfi_settings.MAX_ATTEMPTS:
            delay = backoff.next_delay(attempts, getattr(err, "retry_after", None))
            release.status, release.result, release.reopen = SyncStatus.PENDING, "retry", False
            release.next_attempt_at = now + dt.timedelta(seconds=delay)
            if delay <= float(thredfi_settings.COUNTDOWN_LIMIT):
                release.countdown = delay
        else:
            release.status, release.result = SyncStatus.FAILED, "failed"
    return release


def _as_thredfi_error(push: Push) -> ThredfiError:
    err = push.error
    if isinstance(err, ThredfiError):
        return err
    # A bug in a host hook: logged with its traceback, recorded as an error to look at.
    state = push.state
    logger.error("Unexpected error syncing %s %s", state.resource, state.object_id, exc_info=err)
    wrapped = ThredfiError(f"{type(err).__name__}: {err}")
    wrapped.__cause__ = err
    return wrapped


def _blocked_error(blocked: Blocked) -> ThredfiError:
    err = ThredfiError(str(blocked))
    err.kind = "blocked"
    return err


# --------------------------------------------------------------------------------------------
# The writes
# --------------------------------------------------------------------------------------------


def _store_remote_ids(pushes: list[Push], releases: list[Release]) -> None:
    """Host ``thredfi_id`` where it is missing or different, one statement per model. Not
    save(): no signal, no new change recorded."""
    by_model: dict[type, list[tuple[Any, uuid.UUID]]] = defaultdict(list)
    for push, release in zip(pushes, releases, strict=True):
        instance = push.instance
        if instance is not None and release.remote_id:
            if str(instance.thredfi_id) != str(release.remote_id):
                by_model[type(instance)].append((instance, uuid.UUID(str(release.remote_id))))
    for model, rows in by_model.items():
        connection = connections[router.db_for_write(model) or "default"]
        column = model._meta.get_field("thredfi_id")
        pk = model._meta.pk
        update_rows(
            connection,
            model._meta.db_table,
            set_sql=f"{connection.ops.quote_name(column.column)} = v.remote_id",
            columns=[("pk", pk), ("remote_id", column)],
            match=[(pk.column, "pk")],
            rows=[(instance.pk, remote_id) for instance, remote_id in rows],
        )
        for instance, remote_id in rows:
            instance.thredfi_id = remote_id


_BOOL = models.BooleanField()
_FIELD = SyncState._meta.get_field


def _release(pushes: list[Push], releases: list[Release], now: dt.datetime) -> dict[int, str]:
    """Release every row we still hold, in one statement. Returns {id: status} of the rows
    released; a row missing from it lost its lease to another worker."""
    connection = connections[router.db_for_write(SyncState)]
    col = {f.name: connection.ops.quote_name(f.column) for f in SyncState._meta.concrete_fields}
    newer = f"t.{col['version']} <> v.version AND v.reopen"
    set_sql = (
        f"{col['status']} = CASE WHEN {newer} THEN 'pending' ELSE v.status END, "
        f"{col['synced_version']} = CASE WHEN v.synced THEN v.version "
        f"ELSE t.{col['synced_version']} END, "
        f"{col['attempts']} = CASE WHEN {newer} THEN 0 ELSE v.attempts END, "
        f"{col['next_attempt_at']} = CASE WHEN {newer} THEN NULL ELSE v.next_at END, "
        f"{col['remote_id']} = COALESCE(v.remote_id, t.{col['remote_id']}), "
        f"{col['business']} = COALESCE(t.{col['business']}, v.business_id), "
        f"{col['blocked_on']} = v.blocked_on_id, "
        f"{col['remote_stale']} = COALESCE(v.stale, t.{col['remote_stale']}), "
        f"{col['remote_status']} = COALESCE(v.remote_status, t.{col['remote_status']}), "
        f"{col['document_digest']} = COALESCE(v.document_digest, t.{col['document_digest']}), "
        f"{col['last_synced_at']} = CASE WHEN v.synced THEN v.stamp "
        f"ELSE t.{col['last_synced_at']} END, "
        f"{col['last_error_kind']} = v.error_kind, {col['last_error_status']} = v.error_status, "
        f"{col['last_error_code']} = v.error_code, "
        f"{col['last_error_message']} = v.error_message, "
        f"{col['last_error_fields']} = v.error_fields, {col['last_error_at']} = v.error_at, "
        f"{col['lease_until']} = NULL, {col['lease_owner']} = '', {col['updated_at']} = v.stamp"
    )
    rows = []
    for push, release in zip(pushes, releases, strict=True):
        state, err = push.state, release.error
        if push.not_sent:  # keep the last error as it was
            error = (
                state.last_error_kind,
                state.last_error_status,
                state.last_error_code,
                state.last_error_message,
                state.last_error_fields,
                state.last_error_at,
            )
        elif err is None:
            error = ("", None, "", "", {}, None)
        else:
            error = (
                (getattr(err, "kind", "") or "error")[:32],
                getattr(err, "status_code", None),
                (getattr(err, "error_code", None) or "")[:100],
                release.message[:2000],
                getattr(err, "field_errors", None) or {},
                now,
            )
        rows.append(
            (
                state.pk,
                push.token,
                state.version,
                release.status,
                release.reopen,
                release.synced,
                release.attempts,
                release.next_attempt_at,
                uuid.UUID(str(release.remote_id)) if release.remote_id else None,
                push.business_id,
                release.blocked_on_id,
                release.stale,
                release.remote_status,
                release.document_digest,
                *error,
                now,
            )
        )
    columns = [
        ("id", _FIELD("id")),
        ("token", _FIELD("lease_owner")),
        ("version", _FIELD("version")),
        ("status", _FIELD("status")),
        ("reopen", _BOOL),
        ("synced", _BOOL),
        ("attempts", _FIELD("attempts")),
        ("next_at", _FIELD("next_attempt_at")),
        ("remote_id", _FIELD("remote_id")),
        ("business_id", _FIELD("id")),
        ("blocked_on_id", _FIELD("id")),
        ("stale", _BOOL),
        ("remote_status", _FIELD("remote_status")),
        ("document_digest", _FIELD("document_digest")),
        ("error_kind", _FIELD("last_error_kind")),
        ("error_status", _FIELD("last_error_status")),
        ("error_code", _FIELD("last_error_code")),
        ("error_message", _FIELD("last_error_message")),
        ("error_fields", _FIELD("last_error_fields")),
        ("error_at", _FIELD("last_error_at")),
        ("stamp", _FIELD("updated_at")),
    ]
    returned = update_rows(
        connection,
        SyncState._meta.db_table,
        set_sql=set_sql,
        columns=columns,
        match=[("id", "id"), ("lease_owner", "token")],
        rows=rows,
        returning=f"t.{col['id']}, t.{col['status']}",
    )
    if returned is None:  # no RETURNING here: the rows that carry our stamp are ours
        ids = [push.state.pk for push in pushes]
        returned = SyncState.objects.filter(pk__in=ids, lease_owner="", updated_at=now)
        returned = list(returned.values_list("pk", "status"))
    final = dict(returned)
    for push, release in zip(pushes, releases, strict=True):
        if push.state.pk not in final:
            logger.warning("Lost the lease on %s while pushing it.", push.state)
            if release.remote_id:  # another worker has it now; it must not create it again
                SyncState.objects.filter(pk=push.state.pk, remote_id__isnull=True).update(
                    remote_id=release.remote_id
                )
    return final


def _insert_attempts(
    pushes: list[Push], releases: list[Release], now: dt.datetime, worker: str
) -> None:
    template = SyncAttempt(finished_at=now, worker=worker[:100])
    rows = []
    for push, release in zip(pushes, releases, strict=True):
        if release.outcome is None:
            continue
        err = release.error if release.outcome != SyncAttempt.Outcome.BLOCKED else None
        action = push.call.action if push.call is not None else "validate"
        rows.append(
            (
                push.state.pk,
                push.started,
                release.outcome,
                ("dependency" if push.blocked else action)[:20],
                push.state.version,
                getattr(err, "status_code", None),
                (getattr(err, "kind", "") or "")[:32] if err else "",
                (getattr(err, "error_code", None) or "")[:100] if err else "",
                release.message[:2000],
                (getattr(err, "field_errors", None) or {}) if err else {},
            )
        )
    attnames = ["state_id", "started_at", "outcome", "operation", "version", "http_status"]
    attnames += ["error_kind", "error_code", "message", "field_errors"]
    insert_rows(template, attnames, rows, using=router.db_for_write(SyncAttempt) or "default")


def _trim_history(states: list[SyncState]) -> None:
    """Keep the newest ATTEMPT_HISTORY attempt rows of each row whose new attempt takes it over
    the cap (``attempts_recorded``: the count its claim loaded; unknown: trim)."""
    cap = int(thredfi_settings.ATTEMPT_HISTORY)
    for state in states:
        recorded = getattr(state, "attempts_recorded", None)
        if recorded is not None and recorded + 1 <= cap:
            continue
        history = SyncAttempt.objects.filter(state_id=state.pk)
        keep = history.order_by("-started_at", "-id").values("pk")[:cap]
        history.exclude(pk__in=Subquery(keep)).delete()


def _result(push: Push, release: Release, final: dict[int, str]) -> SyncResult:
    state = push.state
    status = final.get(state.pk)
    outcome = release.result
    if status is None:
        outcome = "lost_lease"
    elif status == SyncStatus.PENDING and release.result in ("failed", "needs_attention"):
        outcome = "retry"  # a save arrived during the push: it is tried next
    requests = push.requests
    if push.answer is not None:
        requests += push.answer.requests
    elif push.error is not None and (
        getattr(push.error, "status_code", None) or getattr(push.error, "transient", False)
    ):
        requests += 1
    remote_id = release.remote_id or (str(state.remote_id) if state.remote_id else None)
    fields = getattr(release.error, "field_errors", None) or {}
    return SyncResult(
        state.pk,
        outcome,
        status,
        remote_id if release.result != "blocked" else None,
        release.message,
        requests=requests,
        field_errors=fields if release.error is not None and not push.blocked else {},
    )
