"""Customers (§3.2, §3.9.2): create (idempotent on external_id), list, get, archive, unarchive."""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors, field_error
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer

FIELDS = (
    "external_id", "reference_number", "individual_name", "company_name", "email",
    "mobile_phone", "office_phone", "address_line1", "address_line2", "city", "state_county",
    "postal_code", "country", "vat_number", "tax_exempt", "transaction_tags", "notes",
    "metadata", "payment_terms_days", "credit_limit_cents",
)  # fmt: skip
STRINGS = {
    "external_id": 255, "reference_number": 255, "individual_name": 255, "company_name": 255,
    "email": 254, "mobile_phone": 50, "office_phone": 50, "address_line1": 255,
    "address_line2": 255, "city": 255, "state_county": 255, "postal_code": 20, "country": 2,
    "vat_number": 20, "notes": 5000,
}  # fmt: skip


@renderer("customers")
def render_customer(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    address = [record.get(k) for k in ("address_line1", "address_line2", "city", "postal_code")]
    data["address_string"] = data["full_address"] = ", ".join(a for a in address if a)
    data["display_name"] = (
        record.get("company_name") or record.get("individual_name") or record.get("email") or ""
    )
    data["outstanding_balance"] = record["_outstanding"]
    data["credit_limit"] = record.get("credit_limit_cents")
    return data


def customer_summary(store: Store, customer: dict[str, Any]) -> dict[str, Any]:
    """The short embedded form payments use: ``{id, name, email, company_name}``."""
    name = customer.get("company_name") or customer.get("individual_name") or ""
    return {
        "id": customer["id"],
        "name": name,
        "email": customer.get("email"),
        "company_name": customer.get("company_name"),
    }


@route("POST", "/businesses/{business_id}/customers/")
def create_customer(call: Call):
    data = call.body()
    errors = FieldErrors()
    for name, limit in STRINGS.items():
        v.string(data, name, errors, max_length=limit)
    v.email(data, "email", errors)
    v.integer(data, "payment_terms_days", errors, minimum=0)
    v.integer(data, "credit_limit_cents", errors, minimum=1)
    if "tax_exempt" in data and not isinstance(data["tax_exempt"], bool):
        errors.add("tax_exempt", "Must be a valid boolean.")
    if not any(data.get(k) for k in ("individual_name", "company_name", "email")):
        errors.add("individual_name", "Provide individual_name, company_name or email.")
    errors.raise_if_any()
    existing = existing_for_external_id(call, "customers", call.business_id, "customer")
    if existing is not None:
        return 200, render_customer(call.store, existing)
    store = call.store
    record = {name: data.get(name) for name in FIELDS}
    record.update(
        type="Customer",
        id=store.new_id(),
        business_id=call.business_id,
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        tax_exempt=bool(data.get("tax_exempt", False)),
        status=data.get("status") or "active",
        transaction_tags=data.get("transaction_tags") or [],
        metadata=data.get("metadata") or {},
        is_active=True,
        is_archived=False,
        archived_at=None,
        documents=[],
        # Sum of its invoices' outstanding balances, kept up to date by invoices.refresh().
        _outstanding=0,
    )
    store.insert("customers", record, call.business_id)
    return 201, render_customer(store, record)


@route("GET", "/businesses/{business_id}/customers/")
def list_customers(call: Call):
    """Archived customers are hidden unless ``include_archived`` (or ``is_archived``) is true."""
    query = call.query
    with_archived = v.boolean(query.get("include_archived")) or False
    only_archived = v.boolean(query.get("is_archived"))

    def keep(record: dict[str, Any]) -> bool:
        if only_archived is not None:
            if record["is_archived"] != only_archived:
                return False
        elif record["is_archived"] and not with_archived:
            return False
        if not matches_exact(query, record, "external_id"):
            return False
        wanted = query.get("customer_external_id")
        return not wanted or record.get("external_id") == wanted

    records = filtered(call.store.all("customers", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "customers", r))


@route("GET", "/businesses/{business_id}/customers/{customer_id}/")
def get_customer(call: Call):
    return 200, render(call, "customers", get_or_404(call, "customers", "customer_id", "customer"))


@route("POST", "/businesses/{business_id}/customers/{customer_id}/archive/")
def archive_customer(call: Call):
    """Archiving an archived customer is a no-op 200. The body (if any) is ignored."""
    record = get_or_404(call, "customers", "customer_id", "customer")
    if not record["is_archived"]:
        record.update(is_archived=True, is_active=False, status="archived")
        record["archived_at"] = call.store.now()
        call.store.touch(record)
    return 200, render(call, "customers", record)


@route("POST", "/businesses/{business_id}/customers/{customer_id}/unarchive/")
def unarchive_customer(call: Call):
    record = get_or_404(call, "customers", "customer_id", "customer")
    if not record["is_archived"]:
        raise field_error("is_archived", "Only archived customers can be unarchived.")
    record.update(is_archived=False, is_active=True, status="active", archived_at=None)
    call.store.touch(record)
    return 200, render(call, "customers", record)
