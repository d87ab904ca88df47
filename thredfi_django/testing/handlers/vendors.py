"""Vendors (§3.5, §3.9.6): create (idempotent on external_id), list, get, archive, unarchive.

The list hides archived vendors unless ``include_archived=true`` (documented). The archive path
is not in the stored docs; it mirrors customers: archiving an archived vendor is a no-op 200,
unarchiving an active one a 400 (the customer page's "archived only" rule; the vendor page
lists a 400 too).
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors, field_error
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer

FIELDS = (
    "individual_name", "company_name", "email", "mobile_phone", "office_phone",
    "address_string", "memo", "country", "vat_number",
)  # fmt: skip
STRINGS = {
    "external_id": 255, "individual_name": 255, "company_name": 255, "email": 254,
    "mobile_phone": 50, "office_phone": 50, "address_string": 1000, "memo": 5000, "country": 2,
    "vat_number": 20,
}  # fmt: skip


@renderer("vendors")
def render_vendor(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    data["display_name"] = record.get("company_name") or record.get("individual_name") or ""
    return data


@route("POST", "/businesses/{business_id}/vendors/")
def create_vendor(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    for name, limit in STRINGS.items():
        v.string(data, name, errors, max_length=limit)
    v.email(data, "email", errors)
    if not data.get("individual_name") and not data.get("company_name"):
        errors.add("individual_name", "individual_name is required unless company_name is set.")
    errors.raise_if_any()
    existing = existing_for_external_id(call, "vendors", call.business_id, "vendor")
    if existing is not None:
        return 200, render_vendor(call.store, existing)
    record = {name: data.get(name) for name in FIELDS}
    record.update(
        type="VendorData",
        id=store.new_id(),
        business_id=call.business_id,
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        status="ACTIVE",
        is_archived=False,
        transaction_tags=data.get("transaction_tags") or [],
        documents=[],
    )
    store.insert("vendors", record, call.business_id)
    return 201, render_vendor(store, record)


@route("GET", "/businesses/{business_id}/vendors/")
def list_vendors(call: Call):
    query = call.query
    with_archived = v.boolean(query.get("include_archived")) or False

    def keep(record: dict[str, Any]) -> bool:
        if record["is_archived"] and not with_archived:
            return False
        if not matches_exact(query, record, "external_id"):
            return False
        contains = (query.get("external_id_contains") or "").lower()
        if contains and contains not in str(record.get("external_id") or "").lower():
            return False
        names = (record.get("company_name"), record.get("individual_name"))
        if query.get("name") and query["name"] not in names:
            return False
        part = (query.get("name_contains") or "").lower()
        return not part or any(part in (n or "").lower() for n in names)

    records = filtered(call.store.all("vendors", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "vendors", r))


@route("GET", "/businesses/{business_id}/vendors/{vendor_id}/")
def get_vendor(call: Call):
    return 200, render(call, "vendors", get_or_404(call, "vendors", "vendor_id", "vendor"))


def _set_archived(call: Call, archived: bool):
    record = get_or_404(call, "vendors", "vendor_id", "vendor")
    if not archived and not record["is_archived"]:
        raise field_error("is_archived", "Only archived vendors can be unarchived.")
    if record["is_archived"] != archived:
        record["is_archived"] = archived
        record["status"] = "ARCHIVED" if archived else "ACTIVE"
        call.store.touch(record)
    return 200, render(call, "vendors", record)


@route("POST", "/businesses/{business_id}/vendors/{vendor_id}/archive/")
def archive_vendor(call: Call):
    return _set_archived(call, True)


@route("POST", "/businesses/{business_id}/vendors/{vendor_id}/unarchive/")
def unarchive_vendor(call: Call):
    return _set_archived(call, False)
