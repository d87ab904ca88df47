"""Sending a planned request through the client, idempotently across lost answers.

A create whose answer was lost may or may not have happened. Every create carries the row's
stable ``external_id`` (payments also an ``Idempotency-Key``), and a create that follows a
failed attempt first looks the record up by ``external_id`` and adopts it: the docs promise
"200, already exists" only for some resources, so we never count on it. A create answered
"already exists" (200, or 409 and a look-up) adopts the record too. An adopted record is
updated only where it differs from what we would send.

Archiving and unarchiving are repeated as they are after a lost answer; Thredfi may refuse to
do what is already done ("only archived customers can be unarchived"), so a 400 or 409 is
checked against the record itself and counts as done when the record is as we wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from ..exceptions import (
    ThredfiConflictError,
    ThredfiError,
    ThredfiLocalValidationError,
    ThredfiValidationError,
)
from ..payloads import NOT_UPDATABLE
from .plan import CLIENT_ATTR, REMOVALS, UPDATES, RemoteCall, document_upload


@dataclass
class Answer:
    """What Thredfi answered: the record, whether we created it, whether we adopted an existing
    one, and how many requests it took."""

    remote: dict[str, Any]
    created: bool
    adopted: bool = False
    requests: int = 0


def unwrap(response: Any) -> dict[str, Any]:
    """The record in a response (payment create wraps it: ``{"payment": {...}}``)."""
    if isinstance(response, dict) and "id" not in response and len(response) == 1:
        (inner,) = response.values()
        if isinstance(inner, dict):
            return inner
    return response if isinstance(response, dict) else {}


def execute(client: Any, call: RemoteCall) -> Answer:
    """Send ``call``; raises the client's typed errors."""
    endpoint = _endpoint(client, call)
    if call.action == "create":
        answer = _create(endpoint, call)
        # An adopted record is brought up to date, unless the create itself was the upsert.
        updates = call.resource in UPDATES and UPDATES[call.resource][1] != "upsert"
        if answer.adopted and updates and answer.remote.get("id"):
            _update_adopted(endpoint, call, answer)
        if call.archived is not None and answer.remote.get("id"):
            _archive_created(endpoint, call, answer)
        return answer
    if call.action == "unarchive":
        return _set_archived(endpoint, call)
    if call.action == "update":
        return _update(endpoint, call)
    if call.action in REMOVALS or (call.action == "cannot" and call.look_up_first):
        return _remove(endpoint, call)
    raise ValueError(f"Nothing to send for action {call.action!r}")


def _update(endpoint: Any, call: RemoteCall) -> Answer:
    """Update the record; one looked up first (see ``RemoteCall.look_up_first``) is not sent a
    document it already holds."""
    payload, looked = call.payload, 0
    if call.look_up_first:
        looked = 1
        if holds_document(unwrap(endpoint.get(call.remote_id)), payload):
            payload = {k: v for k, v in (payload or {}).items() if k != "document"}
    response = getattr(endpoint, UPDATES[call.resource][1])(call.remote_id, payload)
    return Answer(unwrap(response) or {"id": call.remote_id}, created=False, requests=looked + 1)


def holds_document(record: dict[str, Any], payload: dict[str, Any] | None) -> bool:
    """Does ``record`` already list the file ``payload``'s ``document`` would attach (same
    name and size)? Thredfi appends every document it is sent, so one sent twice is kept
    twice."""
    upload = document_upload(payload)
    if upload is None:
        return False
    return any(
        isinstance(listed, dict)
        and listed.get("file_name") == upload.file_name
        and listed.get("file_size") == upload.size
        for listed in record.get("documents") or ()
    )


def _remove(endpoint: Any, call: RemoteCall) -> Answer:
    """Void, archive or cancel the record; one whose id we never heard of is looked up first
    (nothing found: nothing to remove)."""
    looked = 0
    if not call.remote_id:
        looked = 1
        existing = endpoint.find_by_external_id(call.external_id)
        if not existing:
            return Answer({}, created=False, requests=1)
        call.remote_id = str(unwrap(existing).get("id"))
        if call.action == "cannot":
            err = ThredfiLocalValidationError(
                f"This deleted object exists in Thredfi ({call.remote_id}) and Thredfi has no "
                f"delete for {call.resource.replace('_', ' ')}s. Remove or reverse it in "
                "Thredfi, then mark this resolved.",
                {},
            )
            err.kind = "unsupported"
            err.adopted_remote_id = call.remote_id
            raise err
    if call.action == "archive":
        answer = _set_archived(endpoint, call)
        answer.requests += looked
        return answer
    response = getattr(endpoint, call.action)(call.remote_id)
    return Answer(unwrap(response) or {"id": call.remote_id}, created=False, requests=looked + 1)


def _set_archived(endpoint: Any, call: RemoteCall) -> Answer:
    """Archive or unarchive ``call.remote_id``; a refusal (400, 409) is looked up and is done
    if the record is archived (or active) as we wanted (see the module docstring)."""
    try:
        response = getattr(endpoint, call.action)(call.remote_id)
    except (ThredfiValidationError, ThredfiConflictError):
        record = unwrap(endpoint.get(call.remote_id))
        if is_archived(record) != (call.action == "archive"):
            raise
        return Answer(record, created=False, requests=2)
    return Answer(unwrap(response) or {"id": call.remote_id}, created=False, requests=1)


def _archive_created(endpoint: Any, call: RemoteCall, answer: Answer) -> None:
    """Archive (or restore) a created or adopted record the host has archived (or not)."""
    if is_archived(answer.remote) == call.archived:
        return
    change = "archive" if call.archived else "unarchive"
    remote_id = str(answer.remote["id"])
    try:
        done = _set_archived(endpoint, replace(call, action=change, remote_id=remote_id))
    except ThredfiError as err:
        # The record exists: whatever happens next, the retry must not create it again.
        err.adopted_remote_id = remote_id
        raise
    answer.requests += done.requests


def is_archived(record: dict[str, Any]) -> bool:
    """Does Thredfi say ``record`` is archived? Customers say ``is_archived``; vendors may say
    only ``status`` ("ARCHIVED")."""
    if isinstance(record.get("is_archived"), bool):
        return record["is_archived"]
    return str(record.get("status") or "").lower() == "archived"


def _create(endpoint: Any, call: RemoteCall) -> Answer:
    looked = 0
    if call.look_up_first:
        looked = 1
        existing = endpoint.find_by_external_id(call.external_id)
        if existing:
            return Answer(unwrap(existing), created=False, adopted=True, requests=1)
    kwargs = {"idempotency_key": call.idempotency_key} if call.idempotency_key else {}
    try:
        response = endpoint.create(call.payload, **kwargs)
    except ThredfiConflictError:
        existing = endpoint.find_by_external_id(call.external_id)
        if not existing:
            raise
        return Answer(unwrap(existing), created=False, adopted=True, requests=looked + 2)
    adopted = getattr(response, "http_status", 201) == 200
    return Answer(unwrap(response), created=not adopted, adopted=adopted, requests=looked + 1)


def _update_adopted(endpoint: Any, call: RemoteCall, answer: Answer) -> None:
    """Bring an adopted record up to date, if what we would send differs from it (the host
    object may have changed since the attempt whose answer was lost)."""
    refused = NOT_UPDATABLE.get(call.resource, ())
    if holds_document(answer.remote, call.payload):
        refused = (*refused, "document")  # the lost create carried it: not sent twice
    payload = {k: v for k, v in (call.payload or {}).items() if k not in refused}
    # A field the host emptied that Thredfi still holds: sending the payload changes it too.
    cleared = [key for key in call.cleared if answer.remote.get(key) not in EMPTY]
    if not cleared and not differs(payload, answer.remote):
        return
    try:
        getattr(endpoint, UPDATES[call.resource][1])(answer.remote["id"], payload)
    except ThredfiError as err:
        # The record exists: whatever happens next, the retry must be an update of it.
        err.adopted_remote_id = answer.remote["id"]
        raise
    answer.requests += 1


#: What an answer holds for a field that is not set.
EMPTY = (None, "", [], {})
#: Request keys every answer names otherwise: the guide's line price, in the same cents.
ECHOED_AS = {"unit_price_cents": "unit_price"}


def differs(sent: Any, remote: Any) -> bool:
    """Would sending ``sent`` change ``remote``? Every key we send must be there with the same
    value (lists item by item); keys only the remote has do not count."""
    if isinstance(sent, dict):
        if not isinstance(remote, dict):
            return True
        for key, value in sent.items():
            echoed = key if key in remote else ECHOED_AS.get(key)
            if echoed not in remote or differs(value, remote[echoed]):
                return True
        return False
    if isinstance(sent, list):
        if not isinstance(remote, list) or len(sent) != len(remote):
            return True
        return any(differs(a, b) for a, b in zip(sent, remote, strict=True))
    if sent == remote:
        return False
    # A number we sent (a quantity, 2) may come back as text ("2.00"); text we sent is text.
    if isinstance(sent, (int, float, Decimal)) and not isinstance(sent, bool):
        return _number(remote) != Decimal(str(sent))
    return True


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _endpoint(client: Any, call: RemoteCall) -> Any:
    if call.resource == "business":
        return client.businesses
    scoped = client.business(call.business_id)
    if call.resource == "refund_payment":
        return scoped.refund_payments(call.parent_id)
    return getattr(scoped, CLIENT_ATTR[call.resource])
