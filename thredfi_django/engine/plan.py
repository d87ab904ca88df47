"""Which Thredfi request a claimed row becomes (``send`` makes it).

:func:`plan_push` validates the host object, makes sure its business and dependencies exist
remotely (through the ``ensure`` callback the pipeline gives it, which pushes them inline) and
decides create / update / void / archive / skip / cannot. Paths are the documented ones
(docs/api.md) and are only used for previews and messages: the client builds the real URLs.

What happens after the first push, where the API has no endpoint for it:
- customers and vendors have no documented update: a later save is *skipped* (synced, with a
  "skipped" attempt row and an INFO log). Contact details change often for reasons that do not
  matter to the books, and there is nothing a person could do about it, so flagging every such
  save would bury real problems. Deleting archives them.
- payments, refunds and refund payments have no update either, but a changed amount is a real
  discrepancy in the books: a later save → NEEDS_ATTENTION ("record a correction in Thredfi or
  mark resolved"). A model can choose with ``thredfi_on_unsupported_update = "skip"|"attention"``.
- deleting anything but an invoice (void), customer or vendor (archive) → NEEDS_ATTENTION
  "cannot be synced: Thredfi has no delete for <resource>".
- a customer or vendor the host archives in place (``is_thredfi_archived()``) is archived, and
  unarchived when the host restores it. The row's ``remote_status`` remembers what we left
  Thredfi holding ("archived" / "active"), so a save that changes nothing sends nothing and a
  record never archived is never unarchived.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..attachments import DOCUMENT_TYPES
from ..client.uploads import Upload
from ..exceptions import ThredfiLocalValidationError
from ..models import SyncOperation, SyncState
from ..payloads import FIELDS

CREATE_PATHS = {
    "business": "/v1/platform/businesses/",
    "customer": "/v1/platform/businesses/{b}/customers/",
    "invoice": "/v1/platform/businesses/{b}/invoices/",
    "payment": "/v1/platform/businesses/{b}/invoices/payments/",
    "refund": "/v1/platform/businesses/{b}/invoices/refunds/",
    "refund_payment": "/v1/platform/businesses/{b}/invoices/refunds/{parent}/payments/",
    "vendor": "/v1/platform/businesses/{b}/vendors/",
    "bill": "/v1/platform/businesses/{b}/bills/",
    "bill_payment": "/v1/platform/businesses/{b}/bills/payments/",
    "payout": "/v1/platform/businesses/{b}/payouts/",
    "customer_credit": "/v1/platform/businesses/{b}/customer-credits/",
    "vendor_credit": "/v1/platform/businesses/{b}/vendor-credits/",
    "write_off": "/v1/platform/businesses/{b}/invoices/{parent}/write-offs/",
    "vendor_refund": "/v1/platform/businesses/{b}/vendor-refunds/",
}
#: resource -> (HTTP method, client method name) for an update after the first push.
UPDATES = {
    "business": ("PATCH", "update"),
    "invoice": ("PUT", "update"),
    "bill": ("PUT", "update"),
    "bill_payment": ("PATCH", "update"),
    # Payouts have no update path: a create repeated with the same external_id upserts.
    "payout": ("POST", "upsert"),
}
#: resource -> (path suffix, client method name) for a delete.
DELETES = {
    "invoice": ("void/", "void"),
    "customer": ("archive/", "archive"),
    "vendor": ("archive/", "archive"),
    # A deleted (cancelled) host bill payment reverses the remote one.
    "bill_payment": ("delete/", "cancel"),
}
#: The actions that remove a record remotely.
REMOVALS = ("void", "archive", "cancel")
#: Resources a host may archive and restore in place (``ThredfiArchivableMixin``).
ARCHIVABLE = ("customer", "vendor")
#: ``remote_status`` of an archivable record: what our last push left it as, or UNSURE after an
#: archive or unarchive whose answer was lost (the next push sends what the host wants).
ARCHIVED, ACTIVE, UNSURE = "archived", "active", "unknown"
#: Default reaction to a save after the first push of a resource without an update endpoint.
UNSUPPORTED_UPDATE_DEFAULT = {"customer": "skip", "vendor": "skip"}
#: The client attribute of each resource on a business-scoped client.
CLIENT_ATTR = {
    "customer": "customers",
    "invoice": "invoices",
    "payment": "payments",
    "refund": "refunds",
    "vendor": "vendors",
    "bill": "bills",
    "bill_payment": "bill_payments",
    "payout": "payouts",
    "customer_credit": "customer_credits",
    "vendor_credit": "vendor_credits",
    "write_off": "write_offs",
    "vendor_refund": "vendor_refunds",
}
PARENT_RESOURCE = {"refund_payment": "refund", "write_off": "invoice"}


@dataclass
class RemoteCall:
    """One planned request. ``action``: create, update, void, archive, skip or cannot."""

    resource: str
    action: str
    method: str = ""
    path: str = ""
    payload: dict[str, Any] | None = None
    remote_id: str | None = None
    business_id: str | None = None
    parent_id: str | None = None
    idempotency_key: str | None = None
    external_id: str = ""
    #: Look the record up first: an earlier attempt failed, and may have done the work
    #: without our hearing the answer. A create looks it up by external_id (and adopts it);
    #: an update carrying a document leaves it out if the record already holds it.
    look_up_first: bool = False
    #: Documented fields the host object maps but left empty: an adopted record that still
    #: holds one of them is out of date.
    cleared: list[str] = field(default_factory=list)
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: Archivable resources: whether the host has the record archived; a create, archive or
    #: unarchive leaves it so. None for the other resources.
    archived: bool | None = None
    #: The digest of the document the host object holds now ("" none), recorded on the row
    #: once Thredfi accepts the push; None: not a resource with documents.
    document_digest: str | None = None

    def describe(self) -> dict[str, Any]:
        """What a preview / dry run shows."""
        return {
            "action": self.action,
            "method": self.method,
            "path": self.path,
            "payload": self.payload,
            "idempotency_key": self.idempotency_key,
            "message": self.message,
        }


def _path(resource: str, business_id: str | None, parent_id: str | None = None) -> str:
    return CREATE_PATHS[resource].format(
        b=business_id or "{business_id}", parent=parent_id or "{parent_id}"
    )


def plan_upsert(
    instance: Any,
    remote_id: str | None,
    business_id: str | None,
    parent_id: str | None = None,
    remote_status: str = "",
) -> RemoteCall:
    """The request that pushes the current state of ``instance``. ``remote_status``: the row's
    (what an archivable record was left as in Thredfi)."""
    resource = instance.thredfi_resource
    base = _path(resource, business_id, parent_id)
    call = RemoteCall(
        resource,
        "create",
        business_id=business_id,
        parent_id=parent_id,
        external_id=instance.get_thredfi_external_id(),
        remote_id=remote_id,
        archived=instance.is_thredfi_archived() if resource in ARCHIVABLE else None,
    )
    if not remote_id:
        call.method, call.path, call.payload = "POST", base, instance.get_thredfi_payload()
        call.cleared = [
            name
            for name in FIELDS.get(resource, ())
            if name not in call.payload and _has_source(instance, name)
        ]
        if resource == "payment":
            # Never regenerated on retry: the external_id is stable per object.
            call.idempotency_key = call.external_id
        if call.archived:
            call.message = "Archived in your app: archived in Thredfi once created."
        return call
    change = archive_action(call.archived, remote_status)
    if change:
        call.action, call.method, call.path = change, "POST", f"{base}{remote_id}/{change}/"
        return call
    if resource in UPDATES:
        call.action = "update"
        call.method = UPDATES[resource][0]
        # An upsert (payouts) posts to the collection again; an update to the record.
        call.path = base if UPDATES[resource][1] == "upsert" else f"{base}{remote_id}/"
        call.payload = instance.get_thredfi_update_payload()
        return call
    policy = getattr(instance, "thredfi_on_unsupported_update", None)
    policy = policy or UNSUPPORTED_UPDATE_DEFAULT.get(resource, "attention")
    call.action = "skip" if policy == "skip" else "cannot"
    call.message = (
        f"Thredfi has no update endpoint for {resource.replace('_', ' ')}s; the change after "
        "the first push was not sent."
    )
    if call.action == "cannot":
        call.message += " Record a correction in Thredfi (or mark this resolved)."
    return call


def archive_action(archived: bool | None, remote_status: str) -> str | None:
    """The request ("archive", "unarchive") when the host's wish (``archived``; None: not
    archivable) differs from what the row says Thredfi holds; None when they agree."""
    if archived is None:
        return None
    if archived and remote_status != ARCHIVED:
        return "archive"
    if not archived and remote_status in (ARCHIVED, UNSURE):
        return "unarchive"
    return None


def status_after(call: RemoteCall) -> str | None:
    """The ``remote_status`` an archivable record has once ``call`` succeeded (None: as it
    was)."""
    if call.archived is None or call.action not in ("create", "archive", "unarchive"):
        return None
    return ARCHIVED if call.archived else ACTIVE


def plan_delete(
    resource: str,
    remote_id: str | None,
    business_id: str | None,
    external_id: str,
    remote_status: str = "",
) -> RemoteCall:
    """The request that removes (voids/archives) a deleted host object remotely."""
    call = RemoteCall(
        resource, "skip", remote_id=remote_id, business_id=business_id, external_id=external_id
    )
    if not remote_id:
        call.message = "Deleted before it reached Thredfi; nothing to remove."
        return call
    if remote_status == ARCHIVED and resource in ARCHIVABLE:
        call.message = "Deleted after it was archived in Thredfi; nothing more to do."
        return call
    if resource not in DELETES:
        call.action = "cannot"
        call.message = (
            f"Cannot be synced: Thredfi has no delete for {resource.replace('_', ' ')}s. "
            "Remove or reverse it in Thredfi, then mark this resolved."
        )
        return call
    suffix, client_method = DELETES[resource]
    call.action = client_method
    call.archived = True if resource in ARCHIVABLE else None
    call.method = "POST"
    call.path = f"{_path(resource, business_id)}{remote_id}/{suffix}"
    return call


# --------------------------------------------------------------------------------------------
# Planning a claimed row
# --------------------------------------------------------------------------------------------


class Blocked(Exception):
    """The row cannot be pushed until ``dependency`` exists remotely."""

    def __init__(self, dependency: SyncState | None, message: str):
        self.dependency = dependency
        super().__init__(message)


def _has_source(instance: Any, name: str) -> bool:
    """Does ``instance`` map the remote field ``name`` (a hook, the field map, a default)?"""
    return hasattr(instance, f"get_thredfi_{name}") or instance._thredfi_source(name) is not None


def remote_id_of(obj: Any) -> str | None:
    """The Thredfi id of a host object, as a string, or None."""
    return str(obj.thredfi_id) if obj is not None and obj.thredfi_id else None


def parent_of(instance: Any) -> Any:
    """The object whose remote id goes into the path (a refund payment's refund)."""
    parent = PARENT_RESOURCE.get(instance.thredfi_resource)
    if parent is None:
        return None
    fk = instance._thredfi_fk_to(parent)
    return getattr(instance, fk.name) if fk is not None else None


def plan_push(state: SyncState, instance: Any, ensure: Callable[[Any], str]) -> RemoteCall:
    """The request that brings the remote record in line with the row. ``instance`` is the host
    object (None: deleted or hidden); ``ensure(obj)`` returns the remote id of a business or
    dependency, pushing it first when it has none, or raises :class:`Blocked`. Raises
    ThredfiLocalValidationError for what the host must fix first."""
    if state.operation != SyncOperation.UPSERT or instance is None:
        return _plan_removal(state)
    instance.validate_for_thredfi()
    business_id = None
    if instance.thredfi_resource != "business":
        business_id = ensure(instance.get_thredfi_business())
    for dependency in instance.get_thredfi_dependencies():
        ensure(dependency)
    # The row is the source of truth for the remote id: a host that saved a stale copy of the
    # object (thredfi_id None in memory) has wiped its column; the outcome writes it back.
    remote_id = str(state.remote_id) if state.remote_id else remote_id_of(instance)
    parent_id = remote_id_of(parent_of(instance))
    call = plan_upsert(instance, remote_id, business_id, parent_id, state.remote_status)
    call.look_up_first = call.action == "create" and may_exist_remotely(state)
    settle_document(call, state)
    return call


def settle_document(call: RemoteCall, state: SyncState | None) -> None:
    """Note the digest of the document the payload carries; an update leaves out a file
    Thredfi was already sent (a PDF is re-sent only when it changed). Thredfi appends every
    document it is sent, so an update that follows a failed attempt (which may have attached
    the file unheard) looks the record up first."""
    if call.resource not in DOCUMENT_TYPES or call.payload is None:
        return
    upload = document_upload(call.payload)
    if upload is None:
        call.document_digest = ""
        return
    call.document_digest = upload.digest
    if call.action != "update" or state is None:
        return
    if state.document_digest == upload.digest:
        del call.payload["document"]
    else:
        # Any error since the last success: a lost answer stays in doubt whatever came next.
        call.look_up_first = state.last_error_kind != ""


def document_upload(payload: dict[str, Any] | None) -> Upload | None:
    """The file of ``payload``'s ``document``, or None."""
    document = (payload or {}).get("document")
    upload = document.get("file") if isinstance(document, dict) else None
    return upload if isinstance(upload, Upload) else None


def may_exist_remotely(state: SyncState) -> bool:
    """Could an earlier push of this row have created its record without our hearing of it?
    Any earlier attempt (its history) or a push that never ended (its lease expired) may
    have; only a row tried for the first time is certainly new. Later errors (a validation
    error, a block) do not clear the doubt: the history does not forget."""
    if state.remote_id:
        return False
    return bool(getattr(state, "attempts_recorded", 0)) or state.last_error_kind != ""


def _plan_removal(state: SyncState) -> RemoteCall:
    business = state.business
    business_id = str(business.remote_id) if business and business.remote_id else None
    remote_id = str(state.remote_id) if state.remote_id else None
    call = plan_delete(
        state.resource, remote_id, business_id, state.external_id, state.remote_status
    )
    if call.action == "skip" and not remote_id and may_exist_remotely(state) and business_id:
        # An earlier create may have gone through: find the record by external_id and
        # remove it (or report that it cannot be removed) instead of leaving it live.
        call.action = DELETES[state.resource][1] if state.resource in DELETES else "cannot"
        call.archived = True if state.resource in ARCHIVABLE else None
        call.look_up_first = True
        call.message = ""
    if call.action in REMOVALS and not business_id:
        call.action = "cannot"
        call.message = "The business of this deleted object is unknown; cannot remove it."
    return call


def preview(instance: Any) -> dict[str, Any]:
    """What the next push of ``instance`` would send (method, path, payload), without sending
    or changing anything. Includes ``errors`` (local validation) when it would not be sent."""
    state = SyncState.objects.for_object(instance)
    business = instance.get_thredfi_business()
    business_id = remote_id_of(business) if instance.thredfi_resource != "business" else None
    try:
        instance.validate_for_thredfi()
        errors: dict[str, Any] = {}
    except ThredfiLocalValidationError as err:
        errors = err.field_errors
    try:
        parent_id = remote_id_of(parent_of(instance))
        remote_status = state.remote_status if state else ""
        call = plan_upsert(instance, remote_id_of(instance), business_id, parent_id, remote_status)
        settle_document(call, state)
    except ThredfiLocalValidationError as err:  # a body that cannot be built says why
        call = RemoteCall(instance.thredfi_resource, "cannot", message=str(err))
        return {**call.describe(), "errors": err.field_errors or {"": [str(err)]}}
    return {**call.describe(), "errors": errors}
