"""Helpers shared by the resource handlers: lookups that 404 and idempotent creates."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import error, not_found

if TYPE_CHECKING:
    from ..routes import Call

#: resource -> render(store, record) -> public dict; filled by each handler module.
RENDERERS: dict[str, Callable[[Any, dict], dict]] = {}


def renderer(resource: str):
    def register(func):
        RENDERERS[resource] = func
        return func

    return register


#: Resources whose create has no documented Idempotency-Key; in ``duplicate_mode ==
#: "duplicate"`` a repeated external_id on them makes a second record.
UNGUARDED = ("refunds", "refund_payments", "bill_payments", "vendors", "bills")


def existing_for_external_id(
    call: Call, resource: str, scope: str, what: str
) -> dict[str, Any] | None:
    """The record a repeated ``external_id`` create refers to, if any.

    Called once the body itself is valid, and before the checks that depend on other records:
    a retry after a lost response must find its record even when the first attempt changed
    what those would now say (e.g. the invoice it paid is paid). Kept lenient on purpose: a
    repeat with a *different* body answers the existing record too (the idempotency guide
    promises the existing record; a changed body is undocumented, digest §10 q7).
    In ``duplicate_mode == "409"`` a repeat is a 409 ``duplicate_external_id`` instead (the
    error guide's reading); the existing id is in ``detail``.
    """
    external_id = call.body().get("external_id")
    if isinstance(external_id, (dict, list)):
        return None
    if call.fake.duplicate_mode == "duplicate" and resource in UNGUARDED:
        return None
    existing = call.store.by_external_id(resource, scope, external_id)
    if existing is not None and call.fake.duplicate_mode == "409":
        raise error(
            409,
            "duplicate_external_id",
            f"A {what} with external_id {str(external_id)!r} already exists.",
            {"external_id": str(external_id), "id": existing["id"]},
        )
    return existing


def get_or_404(call: Call, resource: str, param: str, what: str) -> dict[str, Any]:
    record_id = call.params[param]
    record = call.store.get(resource, record_id, call.business_id)
    if record is None:
        raise not_found(what, record_id)
    return record


def render(call: Call, resource: str, record: dict[str, Any]) -> dict[str, Any]:
    return RENDERERS[resource](call.store, record)


def resolve_party(
    call: Call, data: dict, errors: Any, party: str, *, required: bool = True
) -> dict[str, Any] | None:
    """The customer or vendor (``party``) named by ``<party>_id`` or ``<party>_external_id``;
    it must already exist in this business (the documented ordering rule)."""
    store = call.store
    id_field, external_field = f"{party}_id", f"{party}_external_id"
    if data.get(id_field) not in (None, ""):
        record = store.get(f"{party}s", str(data[id_field]), call.business_id)
        if record is None:
            errors.add(
                id_field,
                f"{party.capitalize()} {data[id_field]} does not exist in this business. "
                f"Create the {party} first.",
            )
        return record
    if data.get(external_field) not in (None, ""):
        record = store.by_external_id(f"{party}s", call.business_id, data[external_field])
        if record is None:
            errors.add(
                external_field,
                f"No {party} with external_id {data[external_field]!r} in this business. "
                f"Create the {party} first.",
            )
        return record
    if required:
        errors.add(id_field, f"Provide {id_field} or {external_field}.")
    return None


def party_summary(party: dict[str, Any]) -> dict[str, Any]:
    """The customer or vendor embedded in a document: ``{id, external_id, display_name}``
    (all None/empty when the party is gone)."""
    return {
        "id": party.get("id"),
        "external_id": party.get("external_id"),
        "display_name": party.get("company_name") or party.get("individual_name") or "",
    }
