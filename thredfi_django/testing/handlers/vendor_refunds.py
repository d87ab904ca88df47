"""Vendor refunds (§3.6): money coming back from a vendor, allocated to bills. Create, list,
get, PATCH, DELETE; every route takes only a business token (the reference's "B!").

Create: ``vendor_id``, ``total_refunded_amount_cents`` (≥ 1) and ``currency`` are required;
``refund_type`` is one of the listed values, or any string (the list ends in "…"; kept lenient on
purpose); ``allocations[{allocation_type: "bill", amount_cents, bill_id, bill_payment_id}]`` must
name this business's bills and add up to at most the total; ``payments[]`` are stored as sent.
A repeated external_id answers 200 with the existing refund (documented). PATCH changes only
``description``, ``memo``, ``reason``, ``metadata`` and ``expected_completion_date``.
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer, resolve_party

PATCHABLE = ("description", "memo", "reason", "metadata", "expected_completion_date")
KEPT = ("reference_number", "refund_type", "description", "memo", "reason")


@renderer("vendor_refunds")
def render_vendor_refund(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    vendor = store.tables["vendors"].get(record["vendor_id"]) or {}
    allocated = sum(a["amount_cents"] for a in record["allocations"])
    data.update(
        vendor_name=vendor.get("company_name") or vendor.get("individual_name"),
        total_refunded_amount=record["total_refunded_amount_cents"],
        allocated_amount=allocated,
        unallocated_amount=record["total_refunded_amount_cents"] - allocated,
    )
    return data


def _check_body(data: dict, errors: FieldErrors) -> None:
    v.required(data, ("vendor_id", "total_refunded_amount_cents", "currency"), errors)
    total = v.integer(data, "total_refunded_amount_cents", errors, minimum=1)
    v.choice(data, "currency", v.CURRENCIES, errors)
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.date_value(data, "refund_date", errors)
    v.list_of_objects(data, "payments", errors)
    allocated = 0
    for n, allocation in enumerate(v.list_of_objects(data, "allocations", errors)):
        label = f"allocations[{n}]"
        if allocation.get("allocation_type", "bill") != "bill":
            errors.add(f"{label}.allocation_type", '"bill" is the only allocation type.')
        if not allocation.get("bill_id"):
            errors.add(f"{label}.bill_id", "This field is required.")
        if allocation.get("amount_cents") is None:
            errors.add(f"{label}.amount_cents", "This field is required.")
        allocated += v.integer(allocation, "amount_cents", errors, 1, f"{label}.amount_cents") or 0
    if total is not None and allocated > total:
        errors.add("allocations", f"Allocations ({allocated}) exceed the refund ({total}).")


@route("POST", "/businesses/{business_id}/vendor-refunds/", auth="business_token")
def create_vendor_refund(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    _check_body(data, errors)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "vendor_refunds", call.business_id, "vendor refund")
    if existing is not None:
        return 200, render_vendor_refund(store, existing)
    vendor = resolve_party(call, data, errors, "vendor")
    allocations = []
    for n, allocation in enumerate(data.get("allocations") or []):
        if store.get("bills", str(allocation["bill_id"]), call.business_id) is None:
            errors.add(f"allocations[{n}].bill_id", f"Bill {allocation['bill_id']} does not "
                       "exist in this business.")  # fmt: skip
        payment_id = allocation.get("bill_payment_id")
        if payment_id and store.get("bill_payments", str(payment_id), call.business_id) is None:
            errors.add(f"allocations[{n}].bill_payment_id", "No such bill payment here.")
        allocations.append({"id": store.new_id(), "allocation_type": "bill",
                            "bill_id": str(allocation["bill_id"]),
                            "bill_payment_id": payment_id,
                            "amount_cents": allocation["amount_cents"],
                            "description": allocation.get("description")})  # fmt: skip
    errors.raise_if_any()
    record = {name: data.get(name) for name in KEPT}
    record.update(
        id=store.new_id(),
        business_id=call.business_id,
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        vendor_id=vendor["id"],
        total_refunded_amount_cents=data["total_refunded_amount_cents"],
        currency=data["currency"],
        refund_date=data.get("refund_date") or store.today(),
        metadata=data.get("metadata") or {},
        expected_completion_date=None,
        allocations=allocations,
        vendor_refund_payments=data.get("payments") or [],
    )
    store.insert("vendor_refunds", record, call.business_id)
    return 201, render_vendor_refund(store, record)


@route("GET", "/businesses/{business_id}/vendor-refunds/", auth="business_token")
def list_vendor_refunds(call: Call):
    def keep(record: dict[str, Any]) -> bool:
        return matches_exact(call.query, record, "external_id", "vendor_id")

    records = filtered(call.store.all("vendor_refunds", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "vendor_refunds", r))


@route("GET", "/businesses/{business_id}/vendor-refunds/{refund_id}/", auth="business_token")
def get_vendor_refund(call: Call):
    record = get_or_404(call, "vendor_refunds", "refund_id", "vendor refund")
    return 200, render(call, "vendor_refunds", record)


@route("PATCH", "/businesses/{business_id}/vendor-refunds/{refund_id}/", auth="business_token")
def update_vendor_refund(call: Call):
    record = get_or_404(call, "vendor_refunds", "refund_id", "vendor refund")
    data, errors = call.body(), FieldErrors()
    for name in data:
        if name not in (*PATCHABLE, "document"):
            errors.add(name, f"Cannot be changed; a vendor refund's PATCH takes "
                       f"{', '.join(PATCHABLE)}.")  # fmt: skip
    v.date_value(data, "expected_completion_date", errors)
    errors.raise_if_any()
    for name in PATCHABLE:
        if name in data:
            record[name] = data[name]
    call.store.touch(record)
    return 200, render_vendor_refund(call.store, record)


@route("DELETE", "/businesses/{business_id}/vendor-refunds/{refund_id}/", auth="business_token")
def delete_vendor_refund(call: Call):
    record = get_or_404(call, "vendor_refunds", "refund_id", "vendor refund")
    call.store.remove("vendor_refunds", record["id"])
    return 204, None
