"""Which Thredfi request each (resource, operation) becomes, and making it through the client.

``plan()`` decides (create / update / void / archive / cannot) from the sync state and the host
object; ``execute()`` sends it. Paths are the documented ones (thredfi-api.md §3) and are only
used for previews and messages: the client builds the real URLs.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
}
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
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

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
) -> RemoteCall:
    """The request that pushes the current state of ``instance``."""
    resource = instance.thredfi_resource
    base = _path(resource, business_id, parent_id)
    call = RemoteCall(
        resource,
        "create",
        business_id=business_id,
        parent_id=parent_id,
        external_id=instance.get_thredfi_external_id(),
        remote_id=remote_id,
    )
    if not remote_id:
        call.method, call.path, call.payload = "POST", base, instance.get_thredfi_payload()
        if resource == "payment":
            # Never regenerated on retry: the external_id is stable per object.
            call.idempotency_key = call.external_id
        return call
    if resource in UPDATES:
        call.action = "update"
        call.method = UPDATES[resource][0]
        call.path = f"{base}{remote_id}/"
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


def plan_delete(
    resource: str, remote_id: str | None, business_id: str | None, external_id: str
) -> RemoteCall:
    """The request that removes (voids/archives) a deleted host object remotely."""
    call = RemoteCall(
        resource, "skip", remote_id=remote_id, business_id=business_id, external_id=external_id
    )
    if not remote_id:
        call.message = "Deleted before it reached Thredfi; nothing to remove."
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
    call.method = "POST"
    call.path = f"{_path(resource, business_id)}{remote_id}/{suffix}"
    return call


# --------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------


def _endpoint(client: Any, call: RemoteCall) -> Any:
    if call.resource == "business":
        return client.businesses
    scoped = client.business(call.business_id)
    if call.resource == "refund_payment":
        return scoped.refund_payments(call.parent_id)
    return getattr(scoped, CLIENT_ATTR[call.resource])


def unwrap(response: Any) -> dict[str, Any]:
    """The record in a response (payment create wraps it: ``{"payment": {...}}``)."""
    if isinstance(response, dict) and "id" not in response and len(response) == 1:
        (inner,) = response.values()
        if isinstance(inner, dict):
            return inner
    return response if isinstance(response, dict) else {}


@dataclass
class Outcome:
    remote: dict[str, Any]
    created: bool
    adopted: bool = False
    requests: int = 0


def execute(client: Any, call: RemoteCall) -> Outcome:
    """Send ``call``. A create answered "already exists" (200, or 409 then a lookup by
    external_id) adopts the existing record and, where an update exists, pushes the current
    state onto it. Raises the client's typed errors."""
    from .exceptions import ThredfiConflictError, ThredfiError

    endpoint = _endpoint(client, call)
    if call.action == "create":
        kwargs = {"idempotency_key": call.idempotency_key} if call.idempotency_key else {}
        try:
            response = endpoint.create(call.payload, **kwargs)
        except ThredfiConflictError:
            finder = getattr(endpoint, "find_by_external_id", None)
            existing = finder(call.external_id) if finder else None
            if not existing:
                raise
            outcome = Outcome(unwrap(existing), created=False, adopted=True, requests=2)
        else:
            existing = getattr(response, "http_status", 201) == 200
            outcome = Outcome(unwrap(response), created=not existing, adopted=existing, requests=1)
        if outcome.adopted and call.resource in UPDATES and outcome.remote.get("id"):
            # The record was created by an earlier attempt whose answer was lost; the host
            # object may have changed since, so bring the remote copy up to date.
            from .payloads import NOT_UPDATABLE

            refused = NOT_UPDATABLE.get(call.resource, ())
            update_payload = {k: v for k, v in (call.payload or {}).items() if k not in refused}
            try:
                getattr(endpoint, UPDATES[call.resource][1])(outcome.remote["id"], update_payload)
            except ThredfiError as err:
                # The record exists: whatever happens next, the retry must be an update of it,
                # not another create answered "already exists" (two requests per attempt).
                err.adopted_remote_id = outcome.remote["id"]
                raise
            outcome.requests += 1
        return outcome
    if call.action == "update":
        response = getattr(endpoint, UPDATES[call.resource][1])(call.remote_id, call.payload)
        remote = unwrap(response)
        return Outcome(remote or {"id": call.remote_id}, created=False, requests=1)
    if call.action in ("void", "archive"):
        response = getattr(endpoint, call.action)(call.remote_id)
        remote = unwrap(response)
        return Outcome(remote or {"id": call.remote_id}, created=False, requests=1)
    raise ValueError(f"Nothing to send for action {call.action!r}")
